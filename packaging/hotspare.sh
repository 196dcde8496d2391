#!/bin/sh
# /usr/bin/hotspare: the agent's CLI on the Node runtime the package brought
# (/usr/lib/hotspare/node), or on the one named by HOTSPARE_NODE, or, in a package built
# without a runtime, on the system's node (>= 20, the package depends on it).
node=${HOTSPARE_NODE:-/usr/lib/hotspare/node/bin/node}
[ -x "$node" ] || node=node
exec "$node" /usr/lib/hotspare/app/dist/src/cli/main.js "$@"
