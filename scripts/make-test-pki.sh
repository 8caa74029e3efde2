#!/usr/bin/env bash
# A test PKI for DICOM and HL7 over TLS, as docs/dicom.md and docs/hl7.md ("Secure transport") walk through it:
# a hospital CA, the gateway's certificate, a Mach7 node's, a modality's and the RIS's, and the CA's (empty) CRL,
# under the names Samples/mach7.yaml uses.
#
#   bash scripts/make-test-pki.sh [DIR [DAYS]]      # default /etc/pacsgate/tls, 30 days
#
# For a test bench only: a real site's certificates come from the hospital's CA. Keys are written unencrypted
# (mode 600). EC P-256 keys; every leaf has subjectAltName and extendedKeyUsage, which dcmtk and the gateway check.
set -euo pipefail
dir="${1:-/etc/pacsgate/tls}"
days="${2:-30}"
mkdir -p "$dir/ca/issued"
cd "$dir"
umask 077

# 1. The CA, with an `openssl ca` database so it can revoke certificates and publish a CRL.
: > ca/index.txt
echo 1000 > ca/serial
echo 1000 > ca/crlnumber
cat > ca/ca.cnf <<EOF
[ ca ]
default_ca = hospital
[ hospital ]
dir = $dir/ca
database = \$dir/index.txt
new_certs_dir = \$dir/issued
serial = \$dir/serial
crlnumber = \$dir/crlnumber
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_days = $days
default_crl_days = 7
policy = names
copy_extensions = copy
unique_subject = no
[ names ]
commonName = supplied
organizationName = optional
[ leaf ]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
EOF
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
    -subj "/CN=Hospital Test CA/O=Radiology" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.pem 2>/dev/null

# 2. A leaf: NAME, its subjectAltName, its extendedKeyUsage.
issue() {
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj "/CN=$2/O=Radiology" -addext "subjectAltName=$3" -addext "extendedKeyUsage=$4" \
        -keyout "$1.key" -out "$1.csr" 2>/dev/null
    openssl ca -batch -notext -config ca/ca.cnf -extensions leaf -in "$1.csr" -out "$1.crt" 2>/dev/null
    rm "$1.csr"
}
# The gateway: presented to modalities and RIS on its TLS services, and to the Mach7 nodes as its client certificate.
issue gateway pacsgate.hospital.example \
    "DNS:pacsgate.hospital.example,IP:192.168.110.100,IP:192.168.110.101" "serverAuth,clientAuth"
# A Mach7 node that speaks DICOM and MLLP over TLS (the gateway re-encrypts to it, server_name: mach7-node1).
issue mach7-node1 mach7-node1 "DNS:mach7-node1,IP:192.168.110.150" "serverAuth,clientAuth"
# A modality (calling AE CT_SCANNER1 is bound to this SAN) and the RIS (MLLP sender).
issue ct1 ct1.hospital.example "DNS:ct1.hospital.example" "clientAuth"
issue ris ris.hospital.example "DNS:ris.hospital.example" "clientAuth"

# 3. The CRL (revoke a certificate with: openssl ca -config ca/ca.cnf -revoke ct1.crt, then run this line again).
openssl ca -config ca/ca.cnf -gencrl -out modalities.crl 2>/dev/null

# 4. The names the site configuration uses: here one CA signs the modalities and the Mach7 nodes.
cp ca.pem modalities-ca.pem
cp ca.pem mach7-ca.pem
chmod 644 ./*.pem ./*.crt modalities.crl
echo "test PKI in $dir: gateway.crt/.key, mach7-node1.crt/.key, ct1.crt/.key, ris.crt/.key, modalities-ca.pem, mach7-ca.pem, modalities.crl"
