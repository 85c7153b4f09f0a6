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
  if [ "$(id -u)" -eq 0 ]; then
    exec unshare --net -- env HUIZHEN_IN_NETNS=1 bash "$HUIZHEN_ROOT/scripts/bench.sh" "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    exec sudo -n --preserve-env unshare --net -- env HUIZHEN_IN_NETNS=1 PATH="$PATH" bash "$HUIZHEN_ROOT/scripts/bench.sh" "$@"
  else
    die "the benchmarks run in a loopback-only network namespace, which needs root (or passwordless sudo)"
  fi
fi

ip link set lo up
say "running the benchmarks (loopback-only network namespace)"
exec node_modules/.bin/node --expose-gc bench/run.ts "$@"
