#!/usr/bin/env bash
# Builds the Debian package of pacsgate from this checkout and prints the package's path as its last line.
#
#   bash packaging/build-deb.sh [OUTPUT_DIR]        (default OUTPUT_DIR: .build-deb/)
#
# A release build with the Swift runtime linked statically (--static-swift-stdlib), so the package depends only on
# Debian's own libraries (computed by dpkg-shlibdeps); the man page generated from the command-line definitions
# (the generate-manual tool of swift-argument-parser's plugin); the unit, the sample configuration as a conffile, the
# keepalived helper scripts. Needs swift, dpkg-dev (dpkg-shlibdeps) and gzip. docs/operations.md says what goes where.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
output=${1:-$root/.build-deb}
mkdir -p "$output"
output=$(cd "$output" && pwd)

say() { echo "build-deb: $*" >&2; }

version=$(sed -n 's/^ *public static let version = "\(.*\)"$/\1/p' Sources/PacsgateVersion/PacsgateVersion.swift)
[ -n "$version" ] || { say "cannot read the version from Sources/PacsgateVersion/PacsgateVersion.swift"; exit 1; }
debian_version="$version-1"
architecture=$(dpkg --print-architecture)
# Reproducible dates: the commit's time when this is a git checkout.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
commit=${PACSGATE_COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
maintainer=${PACSGATE_MAINTAINER:-pacsgate maintainers <pacsgate@example.org>}

# 1. The release build, Swift runtime and Foundation linked in.
say "release build ($version, commit $commit)"
swift build -c release --static-swift-stdlib --product pacsgate >&2
binary=$(swift build -c release --static-swift-stdlib --show-bin-path)/pacsgate

# 2. The man page, from the same command-line definitions: the tool of swift-argument-parser's generate-manual
#    plugin, run on the binary just built (it reads `pacsgate --experimental-dump-help`). Not through
#    `swift package generate-manual`: the plugin makes its own release build with other settings, and that recompiled
#    every module here (measured), doubling the longest step. mdoc has no empty lines: the paragraph breaks of the
#    commands' discussions become .Pp.
stage=$(mktemp -d "$output/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
package="$stage/pacsgate_${debian_version}_$architecture"
install -d "$package/usr/bin"
install -m 0755 "$binary" "$package/usr/bin/pacsgate"
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$package/usr/bin/pacsgate"

say "man page"
swift build --product generate-manual >&2
generate_manual=$(swift build --show-bin-path)/generate-manual
mkdir "$stage/manual"
"$generate_manual" "$binary" --date "$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)" --authors "pacsgate maintainers" \
    --output-directory "$stage/manual" >&2
install -d "$package/usr/share/man/man1"
sed 's/^$/.Pp/' "$stage/manual/pacsgate.1" | gzip -9n > "$package/usr/share/man/man1/pacsgate.1.gz"

# 3. The unit, the helper scripts the keepalived samples name, the configuration, the documentation.
install -D -m 0644 packaging/pacsgate.service "$package/lib/systemd/system/pacsgate.service"
install -D -m 0755 Samples/keepalived/check-pacsgate.sh "$package/usr/lib/pacsgate/check-pacsgate.sh"
install -D -m 0755 Samples/keepalived/notify-pacsgate.sh "$package/usr/lib/pacsgate/notify-pacsgate.sh"
install -D -m 0755 Samples/keepalived/pacsgate-handover-net.sh "$package/usr/lib/pacsgate/pacsgate-handover-net.sh"
install -D -m 0644 Samples/keepalived/pacsgate-handover.nft "$package/usr/lib/pacsgate/pacsgate-handover.nft"
install -D -m 0644 Samples/mach7.yaml "$package/etc/pacsgate/pacsgate.yaml"
doc="$package/usr/share/doc/pacsgate"
install -d "$doc/examples/keepalived"
install -m 0644 packaging/copyright "$doc/copyright"
install -D -m 0644 packaging/debian/lintian-overrides "$package/usr/share/lintian/overrides/pacsgate"
for file in README.md docs/operations.md docs/configuration.md; do
    gzip -9n < "$file" > "$doc/$(basename "$file").gz"
done
install -m 0644 Samples/local.yaml Samples/mach7.yaml packaging/transparent.conf "$doc/examples/"
install -m 0644 Samples/keepalived/*.conf "$doc/examples/keepalived/"
changelog_date=$(date -R -u -d "@$SOURCE_DATE_EPOCH")
gzip -9n > "$doc/changelog.Debian.gz" <<EOF
pacsgate ($debian_version) unstable; urgency=medium

  * Built from commit $commit.

 -- $maintainer  $changelog_date
EOF

# 4. Control files: dependencies from the binary's shared libraries (Debian's own only, as it is linked).
install -d "$package/DEBIAN"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$package/DEBIAN/"
(cd "$package" && find etc -type f | sed 's|^|/|') > "$package/DEBIAN/conffiles"
shlibs=$(
    cd "$stage"
    mkdir -p debian
    printf 'Source: pacsgate\n\nPackage: pacsgate\nArchitecture: any\n' > debian/control
    dpkg-shlibdeps -O "${package#"$stage/"}/usr/bin/pacsgate" | sed -n 's/^shlibs:Depends=//p'
)
[ -n "$shlibs" ] || { say "dpkg-shlibdeps found no libraries"; exit 1; }
installed_size=$(du -sk --exclude=DEBIAN "$package" | cut -f1)
sed -e "s/@VERSION@/$debian_version/" -e "s/@ARCHITECTURE@/$architecture/" -e "s/@MAINTAINER@/$maintainer/" \
    -e "s/@INSTALLED_SIZE@/$installed_size/" -e "s/@SHLIBS@/$shlibs/" packaging/debian/control > "$package/DEBIAN/control"
(cd "$package" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort | xargs md5sum) \
    > "$package/DEBIAN/md5sums"
chmod 0644 "$package/DEBIAN/control" "$package/DEBIAN/conffiles" "$package/DEBIAN/md5sums"
find "$package" -exec touch --no-dereference -d "@$SOURCE_DATE_EPOCH" {} +

deb="$output/pacsgate_${debian_version}_$architecture.deb"
dpkg-deb --root-owner-group -Zxz --build "$package" "$deb" >&2
echo "$deb"
