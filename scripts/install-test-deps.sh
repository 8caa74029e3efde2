#!/usr/bin/env bash
# Installs the real peers the test suite talks to (Debian packages and PyPI), only what is missing.
# Safe to run repeatedly. Needs root (or sudo) for apt on a fresh machine.
# --packaging: the tools packaging/test-package.sh needs instead (dpkg-dev, lintian, man-db, systemd, systemd-nspawn,
# debootstrap).
set -euo pipefail

# apt-get install of the packages named, if any.
install_apt() {
    (($#)) || return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "install-test-deps: apt-get install $*"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

if [ "${1:-}" = "--packaging" ]; then
    need_apt=()
    [ -x /usr/bin/dpkg-shlibdeps ] || need_apt+=(dpkg-dev)
    [ -x /usr/bin/lintian ] || need_apt+=(lintian)
    [ -x /usr/bin/man ] || need_apt+=(man-db)
    [ -x /usr/bin/systemd-analyze ] || need_apt+=(systemd)
    [ -x /usr/bin/git ] || need_apt+=(git)
    [ -x /usr/bin/systemd-nspawn ] || need_apt+=(systemd-container)
    [ -x /usr/sbin/debootstrap ] || need_apt+=(debootstrap)
    command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
    install_apt "${need_apt[@]}"
    echo "install-test-deps: $(lintian --version), $(dpkg-shlibdeps --version | head -1), systemd $(systemd-analyze --version | head -1 | awk '{print $2}')"
    exit 0
fi

APT_PACKAGES=(dcmtk openssl curl jq haproxy nginx-light libnginx-mod-stream python3-pip chromium chromium-driver keepalived iproute2 nftables rsyslog rsyslog-gnutls libxml2-utils time strace util-linux systemd)
PIP_PACKAGES=(pynetdicom==3.0.4 pydicom hl7 prometheus_client selenium noiseprotocol)

need_apt=()
command -v /usr/bin/echoscu >/dev/null 2>&1 || need_apt+=(dcmtk)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v jq >/dev/null 2>&1 || need_apt+=(jq)
# The ATNA audit export tests: a real rsyslog with the GnuTLS driver, and xmllint for schema validation.
[ -x /usr/sbin/rsyslogd ] || need_apt+=(rsyslog)
ls /usr/lib/*/rsyslog/lmnsd_gtls.so >/dev/null 2>&1 || need_apt+=(rsyslog-gnutls)
[ -x /usr/bin/xmllint ] || need_apt+=(libxml2-utils)
# The admin page's browser test: Debian's Chromium and its WebDriver.
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
# The HA failover tests: keepalived in network namespaces the test creates, and nft for the handover rules
# (Samples/keepalived/pacsgate-handover.nft).
[ -x /usr/sbin/keepalived ] || need_apt+=(keepalived)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
[ -x /usr/sbin/nft ] || need_apt+=(nftables)
# The hardening tests: a child's peak RSS (/usr/bin/time), how secret files are created (strace), a gateway with a
# lowered descriptor limit (prlimit) and a just-booted clock (unshare --time).
[ -x /usr/bin/time ] || need_apt+=(time)
[ -x /usr/bin/strace ] || need_apt+=(strace)
command -v prlimit >/dev/null 2>&1 || need_apt+=(util-linux)
# The PROXY protocol tests: headers written by a real HAProxy (send-proxy, send-proxy-v2, check-send-proxy).
[ -x /usr/sbin/haproxy ] || need_apt+=(haproxy)
# send_proxy towards a real nginx stream server (listen … proxy_protocol).
[ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || need_apt+=(libnginx-mod-stream)
# The service tests: systemd-analyze verify / security of packaging/pacsgate.service.
[ -x /usr/bin/systemd-analyze ] || need_apt+=(systemd)
install_apt "${need_apt[@]}"

PYTHON=${PYTHON:-python3}
missing_pip=()
"$PYTHON" -c "import pynetdicom, sys; sys.exit(0 if pynetdicom.__version__ == '3.0.4' else 1)" 2>/dev/null || missing_pip+=("pynetdicom==3.0.4")
"$PYTHON" -c "import pydicom" 2>/dev/null || missing_pip+=(pydicom)
"$PYTHON" -c "import hl7" 2>/dev/null || missing_pip+=(hl7)
"$PYTHON" -c "import prometheus_client" 2>/dev/null || missing_pip+=(prometheus_client)
"$PYTHON" -c "import selenium" 2>/dev/null || missing_pip+=(selenium)
# The HA handshake's interoperability test: an independent Noise implementation.
"$PYTHON" -c "import noise.connection" 2>/dev/null || missing_pip+=(noiseprotocol)
if ((${#missing_pip[@]})); then
    echo "install-test-deps: pip install ${missing_pip[*]}"
    "$PYTHON" -m pip install -q "${missing_pip[@]}"
fi
echo "install-test-deps: dcmtk $(/usr/bin/echoscu --version 2>/dev/null | head -1 | awk '{print $NF}' || true), $(openssl version), pynetdicom $("$PYTHON" -c 'import pynetdicom; print(pynetdicom.__version__)')"
