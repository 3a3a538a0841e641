#!/usr/bin/env bash
# Installs everything the build and the tests need on a fresh Debian 12 machine (run as root), and does
# nothing when it is all there already. Sourced or run by scripts/demo.sh and scripts/test.sh.
set -euo pipefail

APT_PACKAGES=(
  bazel-bootstrap bazel-rules-java          # Bazel 4.2.3 + the JDK rules it registers
  g++ libc6-dev                             # the C++20 toolchain (GCC 12)
  libboost1.81-dev                          # Asio / Beast 1.81
  libssl-dev nlohmann-json3-dev libabsl-dev libyaml-cpp-dev
  libsimdjson-dev                           # the request path's JSON parser
  libtcmalloc-minimal4                      # the vmcp binary's allocator (gperftools)
  libgtest-dev libgmock-dev libbenchmark-dev
  python3-minimal                           # the test summary
  openssl ca-certificates                   # test certificates, system roots
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing packages and not root; run as root or install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
