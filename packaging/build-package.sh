#!/bin/bash
# make package: dist/hotspare_<version>_amd64.deb and the same tree as a tarball.
# Self-contained: the compiled agent (dist/src, dist/hal), its addons and hotspare-arp
# (dist/bin), production npm modules only, and the Node runtime that built it
# (NODE_RUNTIME, default the node on PATH) under /usr/lib/hotspare/node, unless
# BUNDLE_NODE=no (then the package depends on Debian's nodejs >= 20 instead).
# Needs: a `make build`, dpkg-deb, npm (prune only: no network). DEB_COMPRESSION=gzip builds
# in seconds instead of minutes (xz, the default, makes the .deb a third smaller).
set -euo pipefail
cd "$(dirname "$0")/.."

BUNDLE_NODE=${BUNDLE_NODE:-yes}
NODE_RUNTIME=${NODE_RUNTIME:-$(readlink -f "$(command -v node)")}
base=$(node -p 'require("./package.json").version')
# Ordered along a branch (the commit count), named by its commit; a dirty tree says so.
if git rev-parse --git-dir >/dev/null 2>&1; then
  suffix="+$(git rev-list --count HEAD).g$(git rev-parse --short=8 HEAD)"
  git diff --quiet HEAD -- src hal boards packaging package.json 2>/dev/null || suffix="${suffix}.dirty"
else
  suffix=""
fi
version=${VERSION:-$base$suffix}
arch=amd64
name="hotspare_${version}_${arch}"

for addon in hotspare-arp hotspare-enforcer hotspare-timer.node hotspare-prober.node hotspare-unixdgram.node hotspare-netlink.node; do
  [ -f "dist/bin/$addon" ] || { echo "make package: dist/bin/$addon is missing (Node headers or gcc missing at make build?)" >&2; exit 1; }
done
runtime_version=$("$NODE_RUNTIME" --version)
major=${runtime_version#v}; major=${major%%.*}
if [ "$BUNDLE_NODE" = yes ] && [ "$major" -lt 20 ]; then
  echo "make package: $NODE_RUNTIME is Node $runtime_version; the agent needs >= 20 (NODE_RUNTIME=...)" >&2
  exit 1
fi

stage=$(mktemp -d /tmp/hotspare-package.XXXXXX)
trap 'rm -rf "$stage"' EXIT
root="$stage/root"
app="$root/usr/lib/hotspare/app"
mkdir -p "$app/dist" "$root/usr/bin" "$root/usr/share/hotspare/boards" "$root/usr/share/doc/hotspare/examples" \
  "$root/lib/systemd/system" "$root/etc/hotspare"

# The agent: compiled modules and native pieces, never the tests, scripts or sources.
cp -a dist/src dist/hal dist/bin "$app/dist/"
find "$app/dist" -name '*.d.ts' -delete -o -name '*.map' -delete
echo "$version" > "$app/dist/VERSION"
cp package.json package-lock.json "$app/"
cp -a node_modules "$app/"
(cd "$app" && npm prune --omit=dev --no-audit --no-fund --loglevel=error >/dev/null)
rm -f "$app/node_modules/.installed" "$app/node_modules/.package-lock.json"
# Only this machine's kind of prebuilt serialport binding; no build leftovers.
find "$app/node_modules/@serialport/bindings-cpp/prebuilds" -mindepth 1 -maxdepth 1 ! -name linux-x64 -exec rm -rf {} +
rm -rf "$app/node_modules/raw-socket/build/Release/obj.target" "$app/node_modules/raw-socket/build/Release/.deps"
find "$app/node_modules" -depth -type d -empty -delete
# Boards: in /usr/share/hotspare/boards (board: NAME finds them), the app's own copy a link.
cp boards/*.yaml "$root/usr/share/hotspare/boards/"
ln -s /usr/share/hotspare/boards "$app/boards"
install -m 0755 packaging/hotspare.sh "$root/usr/bin/hotspare"
install -m 0644 packaging/hotspare.service "$root/lib/systemd/system/hotspare.service"
install -m 0644 packaging/hotspare-witness.service "$root/lib/systemd/system/hotspare-witness.service"
install -m 0644 README.md "$root/usr/share/doc/hotspare/README.md"
install -m 0644 examples/hotspare.yaml packaging/hotspare.yaml.example "$root/usr/share/doc/hotspare/examples/"
chmod 0700 "$root/etc/hotspare"
if [ "$BUNDLE_NODE" = yes ]; then
  mkdir -p "$root/usr/lib/hotspare/node/bin"
  install -m 0755 "$NODE_RUNTIME" "$root/usr/lib/hotspare/node/bin/node"
  strip --strip-unneeded "$root/usr/lib/hotspare/node/bin/node" 2>/dev/null || true
  for license in "$(dirname "$NODE_RUNTIME")/../share/doc/nodejs/LICENSE" /usr/share/doc/nodejs/copyright; do
    if [ -f "$license" ]; then install -m 0644 "$license" "$root/usr/lib/hotspare/node/LICENSE"; break; fi
  done
  echo "$runtime_version" > "$root/usr/lib/hotspare/node/VERSION"
  node_depends="libc6 (>= 2.28), libstdc++6 (>= 9), libgcc-s1"
else
  node_depends="nodejs (>= 20)"
fi

# The same tree for images without dpkg.
tar --owner=0 --group=0 --numeric-owner -C "$root" -czf "dist/$name.tar.gz" .

installed_kb=$(du -sk --apparent-size "$root" | cut -f1)
mkdir -p "$root/DEBIAN"
cat > "$root/DEBIAN/control" <<CONTROL
Package: hotspare
Version: $version
Architecture: $arch
Maintainer: hotspare maintainers <hotspare@localhost>
Installed-Size: $installed_kb
Depends: $node_depends, iproute2, ipmitool
Recommends: systemd
Suggests: fence-agents
Section: admin
Priority: optional
Description: failover agent for bare-metal servers
 One server is the primary and holds the service address, one the monitor, which
 probes it and fences it through its BMC before taking over; the rest are spares.
 This package brings its own Node runtime ($runtime_version) under /usr/lib/hotspare
 (BUNDLE_NODE=$BUNDLE_NODE) and a systemd unit; configure /etc/hotspare/hotspare.yaml.
CONTROL
install -m 0755 packaging/postinst packaging/prerm packaging/postrm "$root/DEBIAN/"
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$root" "dist/$name.deb" >/dev/null
deb_kb=$(( $(stat -c %s "dist/$name.deb") / 1024 ))
tar_kb=$(( $(stat -c %s "dist/$name.tar.gz") / 1024 ))
echo "dist/$name.deb: ${deb_kb} KiB (installed ${installed_kb} KiB, Node $runtime_version bundled: $BUNDLE_NODE)"
echo "dist/$name.tar.gz: ${tar_kb} KiB"
ln -sf "$name.deb" dist/hotspare_latest.deb
