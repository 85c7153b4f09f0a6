#!/usr/bin/env bash
# npm test: type-check, then run the whole mocha suite (unit, integration,
# Chromium end to end) inside a loopback-only network namespace, so that no
# test can send a packet beyond 127.0.0.0/8 and headless Chromium's WebRTC
# uses loopback candidates. Extra arguments go to mocha (e.g. --grep).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$HUIZHEN_ROOT"

if [ "${HUIZHEN_IN_NETNS:-0}" != 1 ]; then
  [ -x node_modules/.bin/node ] || die "dependencies are missing: run bash scripts/setup.sh --test"
  [ -f client/dist/index.html ] || die "the browser client is not built: run bash scripts/setup.sh --test"
  say "type-checking server, tests and client"
  npm run -s typecheck

  reexec_in_loopback_netns "$HUIZHEN_ROOT/scripts/test.sh" "$@"
fi

# Inside the new namespace: only lo exists, and it starts down.
ip link set lo up
say "running the test suite (loopback-only network namespace)"
exec node_modules/.bin/node node_modules/mocha/bin/mocha.js "$@"
