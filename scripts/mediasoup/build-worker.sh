#!/usr/bin/env bash
# Builds mediasoup's C++ worker offline, from the source inside the installed
# npm package (node_modules/mediasoup/worker, integrity-checked by npm against
# package-lock.json), against Debian's libraries, with the project's patch
# (scripts/mediasoup/mediasoup-<version>.patch). No GitHub, no PyPI.
#
# The binary is cached outside the repository, keyed by mediasoup version
# and a hash of the patch and this script:
#   $HUIZHEN_CACHE_DIR/mediasoup-worker/<version>-<hash>/mediasoup-worker
# so a fresh clone on the same machine reuses it in seconds.
#
# Usage: build-worker.sh [--print-path]   (prints the cached binary's path)
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$HUIZHEN_ROOT"

BUILD_PACKAGES=(g++ python3 meson ninja-build pkg-config patch flatbuffers-compiler
  libflatbuffers-dev libssl-dev libuv1-dev libsrtp2-dev libabsl-dev)

version=$(sed -n 's/^ *"mediasoup": *"\([0-9.]*\)".*/\1/p' package.json | head -n 1)
[ -n "$version" ] || die "package.json must pin mediasoup to an exact version"
patch_file="scripts/mediasoup/mediasoup-$version.patch"
[ -f "$patch_file" ] || die "no patch for mediasoup $version ($patch_file); port the previous one"
# What determines the binary: the patch and this build recipe (changing the
# recipe string below, or the patch, builds anew; editing comments does not).
MESON_OPTIONS=(--buildtype release -Db_ndebug=true --wrap-mode=nodownload)
RECIPE="debian12; meson setup ${MESON_OPTIONS[*]}; ninja mediasoup-worker"
key="$version-$( { cat "$patch_file"; echo "$RECIPE"; } | sha256sum | cut -c1-16)"
cache_dir="$HUIZHEN_CACHE_DIR/mediasoup-worker/$key"
binary="$cache_dir/mediasoup-worker"

if [ "${1:-}" = "--print-path" ]; then
  echo "$binary"
  exit 0
fi

if [ -x "$binary" ]; then
  say "mediasoup worker $version found in cache ($cache_dir)"
  exit 0
fi

source_dir="node_modules/mediasoup/worker"
[ -f "$source_dir/meson.build" ] || die "mediasoup's worker source is missing; run npm ci first"
installed=$("$(project_node)" -p "require('./node_modules/mediasoup/package.json').version")
[ "$installed" = "$version" ] || die "installed mediasoup is $installed, package.json pins $version"

apt_ensure "${BUILD_PACKAGES[@]}"

work=$(mktemp -d "${TMPDIR:-/tmp}/huizhen-mediasoup-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
say "building mediasoup worker $version from source (about 6-10 minutes on 2 cores)"
cp -r "$source_dir" "$work/worker"
# The patch is relative to the package root (a/worker/..., b/worker/...).
patch -s -p1 -d "$work" < "$patch_file" || die "patch $patch_file does not apply to mediasoup $version"

(
  cd "$work/worker"
  # nodownload: a dependency missing from the system fails here, at once,
  # instead of meson falling back to fetching a subproject from GitHub.
  meson setup "${MESON_OPTIONS[@]}" "$work/build" >"$work/meson.log" 2>&1 \
    || { cat "$work/meson.log" >&2; exit 1; }
  ninja -C "$work/build" mediasoup-worker >"$work/ninja.log" 2>&1 \
    || { tail -n 60 "$work/ninja.log" >&2; exit 1; }
) || die "mediasoup worker build failed"

mkdir -p "$cache_dir"
# Atomic install: a concurrent or interrupted build never leaves half a binary.
cp "$work/build/mediasoup-worker" "$cache_dir/.mediasoup-worker.tmp.$$"
chmod 0755 "$cache_dir/.mediasoup-worker.tmp.$$"
mv -f "$cache_dir/.mediasoup-worker.tmp.$$" "$binary"
say "mediasoup worker cached at $binary"
