# Shared helpers for Huizhen's setup scripts (sourced, not run).
# shellcheck shell=bash

HUIZHEN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HUIZHEN_CACHE_DIR=${HUIZHEN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/huizhen}

say() { printf '\033[1;34m[huizhen]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[huizhen] error:\033[0m %s\n' "$*" >&2; exit 1; }

# Project-local Node 24 (from npm's `node` package) once installed.
project_node() {
  if [ -x "$HUIZHEN_ROOT/node_modules/.bin/node" ]; then
    echo "$HUIZHEN_ROOT/node_modules/.bin/node"
  else
    command -v node || die "no node on PATH; install Debian's nodejs and npm first"
  fi
}

# Installs the Debian packages in "$@" that are missing. Needs root (or
# sudo) and apt-get; otherwise says exactly what to install and stops.
apt_ensure() {
  local missing=() pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0

  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo)
    else
      die "missing Debian packages: ${missing[*]}
  Install them as root:  apt-get install -y --no-install-recommends ${missing[*]}"
    fi
  fi
  command -v apt-get >/dev/null 2>&1 || die "missing packages (${missing[*]}) and apt-get is not available on this machine"

  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Refresh the index only when it is older than a day or an install fails.
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
    "${sudo[@]}" apt-get update -qq || die "apt-get update failed"
  fi
  if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    "${sudo[@]}" apt-get update -qq || die "apt-get update failed"
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || die "apt-get install ${missing[*]} failed"
  fi
}

# sha256 of the given files' contents (in order), first 16 hex digits.
hash_files() {
  cat "$@" | sha256sum | cut -c1-16
}

# Runs `bash <script> <args…>` again inside a new, loopback-only network
# namespace (root, or passwordless sudo), with HUIZHEN_IN_NETNS=1: nothing it
# runs can send a packet beyond 127.0.0.0/8. Does not return.
reexec_in_loopback_netns() {
  local script=$1
  shift
  if [ "$(id -u)" -eq 0 ]; then
    exec unshare --net -- env HUIZHEN_IN_NETNS=1 bash "$script" "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    exec sudo -n --preserve-env unshare --net -- env HUIZHEN_IN_NETNS=1 PATH="$PATH" bash "$script" "$@"
  else
    die "this runs in a loopback-only network namespace, which needs root (or passwordless sudo)"
  fi
}
