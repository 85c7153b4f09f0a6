#!/usr/bin/env bash
# npm run bench: the benchmarks (bench/run.ts) inside a loopback-only network
# namespace, like the tests: nothing leaves 127.0.0.0/8, and Chromium's
# WebRTC uses loopback candidates. Extra arguments go to bench/run.ts.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$HUIZHEN_ROOT"

if [ "${HUIZHEN_IN_NETNS:-0}" != 1 ]; then
  [ -x node_modules/.bin/node ] || die "dependencies are missing: run bash scripts/setup.sh --test"
  [ -f client/dist/index.html ] || die "the browser client is not built: run bash scripts/setup.sh --test"
  command -v gcc >/dev/null 2>&1 || apt_ensure gcc libc6-dev
  reexec_in_loopback_netns "$HUIZHEN_ROOT/scripts/bench.sh" "$@"
fi

ip link set lo up
say "running the benchmarks (loopback-only network namespace)"
exec node_modules/.bin/node --expose-gc bench/run.ts "$@"
