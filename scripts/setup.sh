#!/usr/bin/env bash
# Sets up Huizhen on a fresh Debian 12 machine that reaches only the npm
# registry and Debian's apt. Idempotent: a second run changes nothing and
# takes seconds.
#
#   bash scripts/setup.sh          server: Debian packages, Node 24 and npm
#                                  dependencies, mediasoup worker, browser client
#   bash scripts/setup.sh --test   the same plus what the test suite needs
#                                  (Chromium, PostgreSQL, docker-compose for
#                                  compose validation)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$HUIZHEN_ROOT"

with_test=0
for arg in "$@"; do
  case "$arg" in
    --test) with_test=1 ;;
    *) die "unknown option $arg (use --test)" ;;
  esac
done

command -v npm >/dev/null 2>&1 || die "npm is missing: install Node.js with npm (any version ≥ 18; Huizhen brings its own Node 24)"

# 1. Debian packages. The worker build packages are installed only when the
#    worker has to be built (build-worker.sh); these are needed at run time.
RUNTIME_PACKAGES=(ca-certificates ffmpeg libuv1 libssl3 libsrtp2-1 libabsl20220623)
TEST_PACKAGES=(chromium fonts-wqy-microhei postgresql iproute2 util-linux docker-compose redis-server nginx)
packages=("${RUNTIME_PACKAGES[@]}")
[ "$with_test" = 1 ] && packages+=("${TEST_PACKAGES[@]}")
apt_ensure "${packages[@]}"

# 2. npm dependencies, Node 24 among them (npm's `node` package). The
#    mediasoup postinstall would download a worker from GitHub; pointing
#    MEDIASOUP_WORKER_BIN at our build makes it skip that (and package.json's
#    allowScripts denies it on npm ≥ 11 anyway).
worker_bin=$(bash scripts/mediasoup/build-worker.sh --print-path)
stamp=node_modules/.huizhen-install-stamp
want=$(hash_files package-lock.json package.json)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing npm dependencies (npm ci)"
  MEDIASOUP_WORKER_BIN="$worker_bin" npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
else
  say "npm dependencies up to date"
fi
node_version=$("$(project_node)" --version)
case "$node_version" in
  v24.*) ;;
  *) die "node_modules/.bin/node is $node_version, expected Node 24 (npm's node package)" ;;
esac

# 3. The mediasoup worker, built once per machine and cached outside the repo.
bash scripts/mediasoup/build-worker.sh
installed=node_modules/mediasoup/worker/out/Release/mediasoup-worker
if ! cmp -s "$worker_bin" "$installed" 2>/dev/null; then
  mkdir -p "$(dirname "$installed")"
  cp "$worker_bin" "$installed.tmp.$$"
  mv -f "$installed.tmp.$$" "$installed"
  say "mediasoup worker installed into node_modules"
fi

# 4. The browser client, rebuilt only when its sources or dependencies changed.
client_stamp=client/dist/.huizhen-build-stamp
# Names and contents of every input, so renames and additions count too.
client_hash=$( { find client -path client/dist -prune -o -type f -print0; find server/protocol -type f -print0; \
  printf '%s\0' package-lock.json tsconfig.json; } | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
if [ ! -f "$client_stamp" ] || [ "$(cat "$client_stamp")" != "$client_hash" ]; then
  say "building the browser client"
  npm run -s build:client
  echo "$client_hash" > "$client_stamp"
else
  say "browser client up to date"
fi

say "setup complete ($node_version, mediasoup $(sed -n 's/^ *"mediasoup": *"\([0-9.]*\)".*/\1/p' package.json | head -n 1))"
