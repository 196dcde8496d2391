# hotspare — one command per job on a fresh Debian machine (as root):
#   make demo   bring up a 3-server lab in network namespaces, fail the primary, show the takeover
#   make test   unit, simulation, driver and lab tests
# Everything they need is installed here: Debian packages once, then npm ci.

SHELL := /bin/bash
DEBS := ipmitool openipmi iputils-ping iputils-arping socat iproute2 procps gcc libc6-dev fence-agents openssl snmpd snmp \
  dpkg-dev mmdebstrap systemd-container
MOCHA := node_modules/.bin/mocha
TSC := node_modules/.bin/tsc

.PHONY: all build setup deps-debian deps-npm test test-unit test-lab check lint format demo simulate clean package image-demo

all: build

setup: deps-debian deps-npm

# Debian packages the drivers and the lab run: installed only when missing, after one update.
deps-debian:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# npm packages, exactly as locked (raw-socket builds its addon here).
deps-npm: node_modules/.installed
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# dist/test is compiled afresh: a test moved to another folder must not run from its old place.
build: deps-npm dist/bin/hotspare-arp dist/bin/hotspare-enforcer dist/bin/hotspare-timer.node dist/bin/hotspare-prober.node dist/bin/hotspare-unixdgram.node dist/bin/hotspare-netlink.node
	rm -rf dist/test
	$(TSC) -p tsconfig.json

# RFC 5227 probing and gratuitous ARP through a packet socket (hal/nic/hotspare-arp.c).
dist/bin/hotspare-arp: hal/nic/hotspare-arp.c
	@mkdir -p dist/bin
	gcc -O2 -Wall -Wextra -Werror -o $@ $<

# The lease enforcer: drops the primary address at the lease's deadline from a timerfd, at
# SCHED_FIFO with its memory locked, with a watcher thread per CPU (hal/lease/hotspare-enforcer.c).
dist/bin/hotspare-enforcer: hal/lease/hotspare-enforcer.c hal/base/rtnl-address.h
	@mkdir -p dist/bin
	gcc -O2 -Wall -Wextra -Werror -pthread -o $@ $<

# The monitor's probe cadence in a native thread (hal/prober/prober.c), an N-API addon like
# the timer below. Optional the same way: without it `probe.engine: auto` uses the event loop.
dist/bin/hotspare-prober.node: hal/prober/prober.c hal/base/napi-helpers.h
	@mkdir -p dist/bin
	@if [ -f "$(NODE_INCLUDE)/node_api.h" ]; then \
	  echo "gcc -O2 -Wall -Wextra -Werror -shared -fPIC -pthread -I$(NODE_INCLUDE) -o $@ $<"; gcc -O2 -Wall -Wextra -Werror -shared -fPIC -pthread -I"$(NODE_INCLUDE)" -o $@ $<; \
	else \
	  echo "warning: no Node headers in '$(NODE_INCLUDE)': $@ not built, the monitor will probe from the event loop"; \
	fi

# One unix datagram from Node (hal/systemd/unix-dgram.c): sd_notify and journald's native
# protocol under systemd. Optional like the others: without it the agent logs to stdout and
# tells systemd nothing (the packaged unit needs it: make package checks it was built).
dist/bin/hotspare-unixdgram.node: hal/systemd/unix-dgram.c hal/base/napi-helpers.h
	@mkdir -p dist/bin
	@if [ -f "$(NODE_INCLUDE)/node_api.h" ]; then \
	  echo "gcc -O2 -Wall -Wextra -Werror -shared -fPIC -I$(NODE_INCLUDE) -o $@ $<"; gcc -O2 -Wall -Wextra -Werror -shared -fPIC -I"$(NODE_INCLUDE)" -o $@ $<; \
	else \
	  echo "warning: no Node headers in '$(NODE_INCLUDE)': $@ not built, no systemd notifications or journal fields"; \
	fi

# An address assigned with one rtnetlink request from the agent's thread (hal/nic/netlink-address.c),
# the netlink code shared with the enforcer (hal/base/rtnl-address.h). Optional like the others:
# without it assignments go through the kept `ip -batch`, a round trip through another process.
dist/bin/hotspare-netlink.node: hal/nic/netlink-address.c hal/base/rtnl-address.h hal/base/napi-helpers.h
	@mkdir -p dist/bin
	@if [ -f "$(NODE_INCLUDE)/node_api.h" ]; then \
	  echo "gcc -O2 -Wall -Wextra -Werror -shared -fPIC -I$(NODE_INCLUDE) -o $@ $<"; gcc -O2 -Wall -Wextra -Werror -shared -fPIC -I"$(NODE_INCLUDE)" -o $@ $<; \
	else \
	  echo "warning: no Node headers in '$(NODE_INCLUDE)': $@ not built, addresses will be assigned through ip -batch"; \
	fi

# Microsecond timer for the probe clock (hal/clock/native/timer.c), an N-API addon built
# (N-API helpers shared with the prober in hal/base/napi-helpers.h)
# without node-gyp against the running node's headers. Optional: without node_api.h the
# build goes on and the agent falls back to Node timers (hal/clock/native/open.ts).
NODE_INCLUDE := $(shell n=$$(command -v node) && echo $$(dirname $$(dirname $$(readlink -f $$n)))/include/node)
dist/bin/hotspare-timer.node: hal/clock/native/timer.c hal/base/napi-helpers.h
	@mkdir -p dist/bin
	@if [ -f "$(NODE_INCLUDE)/node_api.h" ] && [ -f "$(NODE_INCLUDE)/uv.h" ]; then \
	  echo "gcc -O2 -Wall -Wextra -Werror -shared -fPIC -I$(NODE_INCLUDE) -o $@ $<"; gcc -O2 -Wall -Wextra -Werror -shared -fPIC -I"$(NODE_INCLUDE)" -o $@ $<; \
	else \
	  echo "warning: no Node headers in '$(NODE_INCLUDE)': $@ not built, the agent will use Node timers (~1 ms late)"; \
	fi

# Tests live in one folder per thing they need (README "Tests"):
#   test/unit   nothing: the role machine, the simulation, config, parsers, replication and
#               the shell against loopback (`make check` runs this folder)
#   test/host   no root, but this host's programs and addons (ipmi_sim, socat, the native
#               clock and prober, a real file system) or minutes of virtual time (the property test)
#   test/netns  root and network namespaces (the Linux drivers and their contracts)
#   test/lab    the namespace lab (ipmi_sim BMCs, snmpd, the agent as a process)
#   test/image  booted Debian images (mmdebstrap, systemd-nspawn)
#   test/fixtures  helpers shared by several folders
UNIT_TESTS := 'dist/test/unit/**/*.test.js'

# The one test command (README, .ci/run): check first (types, lint, fast tests), then the rest,
# the lab included.
test: setup build check
	$(MOCHA) --config .mocharc.json --ignore $(UNIT_TESTS) 'dist/test/**/*.test.js'

# Type check, lint and the fast tests: what every change must pass before anything slower.
check: deps-npm build lint test-unit

test-unit: build
	$(MOCHA) --config .mocharc.json $(UNIT_TESTS)

# eslint (rules and the layer boundaries in eslint.config.js) and prettier's formatting check.
lint: deps-npm
	node_modules/.bin/eslint .
	node_modules/.bin/prettier --check --log-level warn $$(git ls-files '*.ts' 2>/dev/null || find src hal scripts test -name '*.ts')

# Rewrite the TypeScript sources in the project's format.
format: deps-npm
	node_modules/.bin/prettier --write --log-level warn $$(git ls-files '*.ts')

test-lab: setup build
	$(MOCHA) --config .mocharc.json 'dist/test/lab/**/*.test.js'

demo: setup build
	node dist/scripts/demo.js

# The .deb and tarball for boot images (packaging/build-package.sh; README "Install on a boot
# image"). BUNDLE_NODE=no: depend on the image's nodejs (>= 20) instead of bringing one.
package: setup build
	BUNDLE_NODE=$(BUNDLE_NODE) packaging/build-package.sh

BUNDLE_NODE ?= yes

# The booted-image lab's whole story: three Debian 12 images booted with systemd-nspawn as
# the lab's servers (scripts/image-lab/; the root filesystem is cached in /var/cache/hotspare-image).
image-demo: package
	node dist/scripts/image-lab/demo.js

simulate: build
	node dist/src/cli/main.js simulate --nodes 3 --kill-primary-at 3 --seconds 6

clean:
	rm -rf dist

# Benchmarks (not part of `make test`): failover next to keepalived, our fence next to
# fence_ipmilan, the probe core's timing, false alarms under load. Results: bench-results/.
# Parameters for quick checks: BENCH_RUNS, BENCH_PROBE_S, BENCH_STRESS_S, ... (scripts/bench/params.ts).
BENCH_DEBS := keepalived fence-agents stress-ng

.PHONY: bench deps-bench soak

# Debian packages only the benchmark needs: installed only when missing.
deps-bench:
	@missing=""; for p in $(BENCH_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

bench: setup build deps-bench
	gcc -O2 -Wall -Wextra -Werror -pthread -o dist/bin/bench-impair-hub scripts/bench/impair-hub.c
	gcc -O2 -Wall -Wextra -Werror -o dist/bin/bench-timer scripts/bench/timer-native.c
	gcc -O2 -Wall -Wextra -Werror -pthread -o dist/bin/bench-stall-witness scripts/bench/stall-witness.c
	BENCH_COMMAND="make bench" node dist/scripts/bench.js

# The fault campaign (issue 13; not part of `make test`, which runs two minutes of it with a
# fixed seed in test/lab/soak.test.ts): 1,000 faults from a seed against the lab's real agents, BMCs and
# switch, checked from ground truth; report under bench-results/soak-<date>-<gate>/.
# SOAK_SEED (replays a run), SOAK_GATE (confirmed | isolated | lease), SOAK_FAULTS,
# SOAK_MINUTES, SOAK_GAP_MS, SOAK_OUT (scripts/soak/main.ts).
soak: setup build
	node dist/scripts/soak/main.js
