#!/usr/bin/env bash
# scripts/build-deb — `npm run build:deb`: a Debian package of the single executable
# (build it first with `npm run build:binary`; build:deb does both). Output:
# dist/deb/mta_<version>_<arch>.deb with
#   /usr/bin/mta                          the binary
#   /usr/lib/systemd/system/mta.service   config/mta.service with ExecStart on /usr/bin/mta
#   /etc/mta/mta.toml                     conffile, from mta.example.toml
#   /usr/share/doc/mta/                   README.md, mta.example.toml, copyright
# Maintainer scripts (packaging/deb/) create the mta user and /var/lib/mta, start nothing,
# and keep /var/lib/mta on removal. Needs only dpkg-deb (package dpkg).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

case "$(node -p process.arch)" in
  x64) arch=amd64 ;;
  arm64) arch=arm64 ;;
  *) echo "build-deb: no Debian architecture for $(node -p process.arch)" >&2; exit 1 ;;
esac
bin="dist/bin/mta-linux-$(node -p process.arch)"
[ -x "$bin" ] || { echo "build-deb: $bin is missing: run npm run build:binary first" >&2; exit 1; }
version="$(node -p "require('./package.json').version")"

stage="dist/deb/stage"
rm -rf "$stage" && mkdir -p "$stage/DEBIAN"
install -D -m 0755 "$bin" "$stage/usr/bin/mta"
install -d -m 0755 "$stage/usr/lib/systemd/system"
# The unit in the source tree is for a copied binary (/usr/local/bin/mta); the package's is in /usr/bin.
sed 's#/usr/local/bin/mta#/usr/bin/mta#g' config/mta.service > "$stage/usr/lib/systemd/system/mta.service"
chmod 0644 "$stage/usr/lib/systemd/system/mta.service"
install -D -m 0640 mta.example.toml "$stage/etc/mta/mta.toml"
install -D -m 0644 README.md "$stage/usr/share/doc/mta/README.md"
install -D -m 0644 mta.example.toml "$stage/usr/share/doc/mta/mta.example.toml"
printf 'mta\nLicense: MIT\n' > "$stage/usr/share/doc/mta/copyright"

install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$stage/DEBIAN/"
echo /etc/mta/mta.toml > "$stage/DEBIAN/conffiles"
size_kib="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: mta
Version: $version
Architecture: $arch
Maintainer: mta maintainers <root@localhost>
Depends: libc6 (>= 2.28), libstdc++6, libgcc-s1, passwd
Installed-Size: $size_kib
Section: mail
Priority: optional
Description: self-hosted mail push service
 SMTP submission, a durable SQLite spool, DKIM signing and direct-to-MX delivery
 in one executable (Node.js single executable application).
CONTROL

out="dist/deb/mta_${version}_${arch}.deb"
# gzip, not xz: a tenth of the time for a 100 MB binary, for a package a few MB larger.
dpkg-deb --root-owner-group -Zgzip --build "$stage" "$out" >/dev/null
echo "$out: $(du -h "$out" | cut -f1)"
