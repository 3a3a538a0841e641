#!/usr/bin/env bash
# Runs every test: the whole suite with the optimized build, then again under AddressSanitizer +
# UndefinedBehaviorSanitizer, then the container image's runtime stage (scripts/rootfs-check.sh, one
# check). Installs what is missing first. Ends with one line "N passed, N failed" (test cases over both
# runs, plus that check) and exits non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
bash scripts/setup-node.sh || exit 1
# The gateway tests start real MCP peers (Node) from here.
PEERS_ENV=(--test_env=VMCP_PEERS_DIR="$PWD/tests/peers")

total_passed=0
total_failed=0
status=0

run_suite() {
  local label="$1"
  shift
  echo "== $label: bazel test //... $*" >&2
  bash scripts/bazel.sh test //... "$@" >&2
  local rc=$?
  # rc 3 = some tests failed, 4 = no tests; anything else non-zero = the build itself failed.
  if [[ $rc -ne 0 && $rc -ne 3 ]]; then
    echo "== $label: bazel failed (exit $rc)" >&2
    status=1
    total_failed=$((total_failed + 1))
    return
  fi
  [[ $rc -eq 0 ]] || status=1
  local counts
  counts=$(python3 scripts/count_tests.py "$(readlink -f bazel-testlogs)" "$label" | tail -n 1)
  total_passed=$((total_passed + ${counts% *}))
  total_failed=$((total_failed + ${counts#* }))
}

run_suite "optimized" "${PEERS_ENV[@]}"
run_suite "asan+ubsan" --config=asan "${PEERS_ENV[@]}"

# The load-test harness's smoke run (scripts/bench.sh --smoke): one check, failed by any error count or
# startup failure, never by speed.
echo "== bench: scripts/bench.sh --smoke" >&2
if bash scripts/bench.sh --smoke >&2; then
  total_passed=$((total_passed + 1))
else
  status=1
  total_failed=$((total_failed + 1))
fi

# The container image's runtime stage, proven without Docker: one check, counted once.
echo "== rootfs: scripts/rootfs-check.sh" >&2
if bash scripts/rootfs-check.sh >&2; then
  total_passed=$((total_passed + 1))
else
  status=1
  total_failed=$((total_failed + 1))
fi

[[ $total_failed -eq 0 ]] || status=1
echo "${total_passed} passed, ${total_failed} failed"
exit $status
