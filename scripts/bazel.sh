#!/usr/bin/env bash
# Runs Bazel with the project's shared action cache, so that repeated runs on one machine (CI's fresh
# clones included) reuse what was already compiled.
set -euo pipefail
cache="${XDG_CACHE_HOME:-$HOME/.cache}/vmcp-bazel-disk-cache"
mkdir -p "$cache"
cmd="$1"
shift
exec bazel "$cmd" --disk_cache="$cache" "$@"
