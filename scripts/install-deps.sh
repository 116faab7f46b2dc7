#!/usr/bin/env bash
# Install the Debian 12 packages mapmig needs to build and test.
#
#   scripts/install-deps.sh          install what is missing (as root)
#
# Quick and idempotent: when every required package is already installed
# (checked with dpkg-query), apt-get is not run at all.  Not root and
# something missing: prints the exact apt-get line and exits 1.
# Optional packages (QEMU for interoperability tests, clang and its
# libFuzzer runtime for `make fuzz`, iproute2 for the network namespace
# tests, docutils for the man pages, Sphinx and matplotlib for `make
# docs`) are tried after the required ones; failing to install them is
# not an error.
set -euo pipefail

required=(build-essential pkg-config meson ninja-build libglib2.0-dev
          libjson-glib-dev liburing-dev libaio-dev libzstd-dev libxxhash-dev
          fio)
optional=(qemu-system-x86 clang libclang-rt-14-dev iproute2 python3-docutils
          python3-sphinx python3-matplotlib)

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing_of() {
    local p out=()
    for p in "$@"; do
        installed "$p" || out+=("$p")
    done
    echo "${out[@]:-}"
}

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-deps: dpkg-query not found; this script supports Debian/Ubuntu." >&2
    echo "install-deps: needed: ${required[*]}" >&2
    exit 1
fi

read -r -a need <<<"$(missing_of "${required[@]}")"
read -r -a want <<<"$(missing_of "${optional[@]}")"

if [ ${#need[@]} -eq 0 ] && [ ${#want[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    if [ ${#need[@]} -eq 0 ]; then
        echo "install-deps: optional packages missing (not required): ${want[*]}" >&2
        echo "install-deps: to add them: sudo apt-get install -y ${want[*]}" >&2
        exit 0
    fi
    echo "install-deps: missing packages: ${need[*]}" >&2
    echo "Run as root:" >&2
    all=("${need[@]}" "${want[@]}")
    echo "apt-get install -y ${all[*]}"
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
if [ ${#need[@]} -gt 0 ]; then
    echo "install-deps: installing ${need[*]}"
    apt-get install -y -q --no-install-recommends "${need[@]}"
fi
for p in "${want[@]}"; do
    echo "install-deps: installing optional $p"
    apt-get install -y -q --no-install-recommends "$p" ||
        echo "install-deps: optional package $p not installed (continuing)" >&2
done
exit 0
