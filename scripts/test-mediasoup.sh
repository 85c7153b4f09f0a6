#!/usr/bin/env bash
# npm run test:mediasoup: a peer check of our offline worker build. Runs
# mediasoup's own compiled test suite (node/lib/test/*.js, shipped in the npm
# package) with jest against the worker we built. Not part of `npm test`.
#
# The suite needs jest, pick-port and werift-sctp (mediasoup's dev
# dependencies, installed once into the cache) and a self-signed DTLS
# certificate in its test data folder (the tarball omits it).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$HUIZHEN_ROOT"

node=$(project_node)
pkg=node_modules/mediasoup
[ -f "$pkg/worker/out/Release/mediasoup-worker" ] || die "the worker is not installed: run bash scripts/setup.sh"
version=$("$node" -p "require('./$pkg/package.json').version")

deps="$HUIZHEN_CACHE_DIR/mediasoup-test-deps/$version"
if [ ! -x "$deps/node_modules/.bin/jest" ]; then
  say "installing mediasoup's test tools (jest, pick-port, werift-sctp) into $deps"
  mkdir -p "$deps"
  versions=$("$node" -e "
    const d = require('./$pkg/package.json').devDependencies;
    console.log(['jest', 'pick-port', 'werift-sctp'].map((n) => n + '@' + d[n]).join(' '));")
  # shellcheck disable=SC2086
  (cd "$deps" && echo '{"private":true}' > package.json && npm install --no-audit --no-fund --loglevel=error $versions)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/huizhen-mediasoup-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
# A private copy: the suite writes its DTLS certificate into test/data.
cp -r "$pkg" "$work/mediasoup"
mkdir -p "$work/mediasoup/node/lib/test/data"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mediasoup-test" \
  -keyout "$work/mediasoup/node/lib/test/data/dtls-key.pem" \
  -out "$work/mediasoup/node/lib/test/data/dtls-cert.pem" 2>/dev/null

say "running mediasoup $version's own test suite against the offline-built worker"
run=(env NODE_PATH="$HUIZHEN_ROOT/node_modules:$deps/node_modules"
  "$node" "$deps/node_modules/jest/bin/jest.js"
  --rootDir "$work/mediasoup/node/lib" --testMatch '**/test/test-*.js'
  --testTimeout 60000 --maxWorkers 2 "$@")
if [ "$(id -u)" -eq 0 ]; then
  # Like npm test: a loopback-only network namespace, so nothing leaves 127.0.0.0/8.
  unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh "${run[@]}"
else
  "${run[@]}"
fi
