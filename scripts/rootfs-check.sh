#!/usr/bin/env bash
# Proves the Dockerfile's runtime stage without Docker. Builds a Debian minbase root filesystem
# (debootstrap) with exactly docker/runtime-packages.txt, installs the binary where the Dockerfile does,
# with the same non-root user, then runs the image's ENTRYPOINT + CMD inside it (chroot, as that user):
# `vmcp serve` must answer /health and an MCP initialize, and exit 0 on SIGTERM within its grace period.
# Ends with one line "rootfs-check: PASS ..." or "rootfs-check: FAIL: ..." (exit 1). Run as root; installs
# what it needs (debootstrap, curl) when missing.
#
# The root filesystem is cached, keyed by the suite, the package list and the user: a cold run spends a
# few minutes in debootstrap, a cached one seconds. The cache lives outside the repository (like the
# Bazel disk cache, scripts/bazel.sh), since `bazel test //...` walks every folder of the workspace.
#   VMCP_ROOTFS_CACHE    cache folder (default: ${XDG_CACHE_HOME:-$HOME/.cache}/vmcp-rootfs)
#   VMCP_ROOTFS_MIRROR   Debian mirror (default: the one apt uses here for the suite)
#   VMCP_BINARY          the binary to check (default: `bazel build //:vmcp`, the default config)
set -euo pipefail
cd "$(dirname "$0")/.."

START=$EPOCHREALTIME
GRACE=10              # what `vmcp serve` gives calls in flight on SIGTERM (cli/commands.cc)
IMAGE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin   # Docker's default PATH

work=$(mktemp -d)
pid=""
partial=""
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  if [[ -n $partial && -e $partial ]]; then remove_tree "$partial"; fi   # an interrupted debootstrap
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "rootfs-check: FAIL: $*"
  exit 1
}
note() { echo "rootfs-check: $*" >&2; }
ms_since() { echo $(((${EPOCHREALTIME/[.,]/} - ${1/[.,]/}) / 1000)); }

# ---- what the Dockerfile says (read from it, so that this check follows it) ----------------------
[[ $(id -u) -eq 0 ]] || fail "needs root (debootstrap, chroot)"
[[ -r Dockerfile && -r docker/runtime-packages.txt ]] || fail "Dockerfile or docker/runtime-packages.txt missing"
# The runtime stage is the last FROM: debian:<suite>-slim.
suite=$(sed -n 's/^FROM debian:\([a-z]*\)-slim[[:space:]]*$/\1/p' Dockerfile | tail -n 1)
[[ -n $suite && $(grep -c '^FROM ' Dockerfile) -ge 2 && $(grep '^FROM ' Dockerfile | tail -n 1) == "FROM debian:$suite-slim" ]] ||
  fail "Dockerfile: the runtime stage is not the last FROM debian:<suite>-slim"
grep -q '^COPY docker/runtime-packages.txt ' Dockerfile ||
  fail "Dockerfile: the runtime stage does not install docker/runtime-packages.txt"
grep -q '^COPY --from=build [^ ]* /usr/local/bin/vmcp$' Dockerfile ||
  fail "Dockerfile: the binary is not copied to /usr/local/bin/vmcp"
uid=$(sed -n 's/^USER \([0-9][0-9]*\):\([0-9][0-9]*\)$/\1/p' Dockerfile)
gid=$(sed -n 's/^USER \([0-9][0-9]*\):\([0-9][0-9]*\)$/\2/p' Dockerfile)
[[ -n $uid && $uid -ne 0 && $uid == "$gid" ]] || fail "Dockerfile: no numeric non-root USER uid:gid"
grep -q -- "--uid $uid " Dockerfile || fail "Dockerfile: USER $uid:$gid is not the user it creates"
grep -q '^ENTRYPOINT \["vmcp"\]$' Dockerfile || fail 'Dockerfile: ENTRYPOINT is not ["vmcp"]'
# CMD ["serve","--config=...",...]: a JSON array of plain strings.
mapfile -t CMD_ARGS < <(sed -n 's/^CMD \[\(.*\)\]$/\1/p' Dockerfile | tr ',' '\n' | sed 's/^[[:space:]]*"//; s/"[[:space:]]*$//')
[[ ${#CMD_ARGS[@]} -gt 0 && ${CMD_ARGS[0]} == serve ]] || fail "Dockerfile: CMD is not a vmcp serve command"
config_path=""
for a in "${CMD_ARGS[@]}"; do [[ $a == --config=* ]] && config_path=${a#--config=}; done
[[ $config_path == /* ]] || fail "Dockerfile: CMD has no absolute --config=PATH"

# The package list: names, and the ones marked "data:" (not shared libraries of the binary).
mapfile -t PACKAGES < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' docker/runtime-packages.txt)
mapfile -t DATA_PACKAGES < <(sed -n 's/^[[:space:]]*\([^#[:space:]]*\)[[:space:]]*#[[:space:]]*data:.*/\1/p' docker/runtime-packages.txt)
[[ ${#PACKAGES[@]} -gt 0 ]] || fail "docker/runtime-packages.txt lists no package"

# ---- what this check needs on the machine (the project's rule: every install step in its scripts) -
needed=(debootstrap debian-archive-keyring curl)
missing=()
for p in "${needed[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  note "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } >&2 ||
    fail "could not install ${missing[*]}"
fi

# ---- the binary, and whether the package list is exactly what it links ---------------------------
if [[ -n ${VMCP_BINARY:-} ]]; then
  binary=$VMCP_BINARY
else
  # The default (optimized) configuration, whatever the last Bazel command built (bazel-bin moves).
  bash scripts/bazel.sh build //:vmcp >&2 || fail "bazel build //:vmcp failed"
  binary="$(bash scripts/bazel.sh info bazel-bin 2>/dev/null)/vmcp"
fi
[[ -x $binary ]] || fail "no binary at $binary"

# Every library the binary loads, by Debian package (as the host resolves it), against the list. One
# dpkg -S for all of them (it is slow per call); each path as ldd shows it and resolved (merged /usr).
mapfile -t libs < <(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
lib_paths=()
for lib in "${libs[@]}"; do lib_paths+=("$lib" "$(readlink -f "$lib")"); done
linked=$( (dpkg -S "${lib_paths[@]}" 2>/dev/null || true) | sed -n 's/^\([^/]*\): \/.*/\1/p' | tr ',' '\n' |
  sed 's/:.*//; s/[[:space:]]//g' | sort -u)
listed=$(printf '%s\n' "${PACKAGES[@]}" | grep -vxF -f <(printf '%s\n' "${DATA_PACKAGES[@]}" "") | sort -u)
if [[ $linked != "$listed" ]]; then
  ldd "$binary" >&2
  fail "docker/runtime-packages.txt is not what the binary links: linked [${linked//$'\n'/ }], listed [${listed//$'\n'/ }]"
fi

# ---- the root filesystem, cached ----------------------------------------------------------------
cache=${VMCP_ROOTFS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vmcp-rootfs}
mkdir -p "$cache"
cache=$(readlink -f "$cache")
exec 9>"$cache/.lock"
flock -w 1800 9 || fail "another rootfs-check holds $cache/.lock"
arch=$(dpkg --print-architecture)
key=$(printf 'recipe 1\nsuite %s\narch %s\nuser %s:%s\npackages %s\n' "$suite" "$arch" "$uid" "$gid" "${PACKAGES[*]}" |
  sha256sum | cut -c1-16)
root="$cache/$suite-minbase-$key"

# Deletes a tree this script made, never crossing into a file system mounted under it (unmounted first).
remove_tree() {
  local dir=$1 m
  [[ -e $dir ]] || return 0
  awk -v d="$dir" '$2 == d || index($2, d "/") == 1 {print $2}' /proc/self/mounts | sort -r |
    while read -r m; do umount -l "$m" || true; done
  rm -rf --one-file-system "$dir"
}

if [[ ! -d $root ]]; then
  # shellcheck disable=SC2016  # $(REPO_URI) is apt's format field, not a shell expansion
  mirror=${VMCP_ROOTFS_MIRROR:-$(apt-get indextargets --no-release-info --format '$(REPO_URI)' \
    "Release: $suite" 'Identifier: Packages' 2>/dev/null | head -n 1)}
  mirror=${mirror:-http://deb.debian.org/debian/}
  # Only one root filesystem is kept: the others were for an older list.
  for old in "$cache"/*-minbase-*; do
    if [[ -e $old ]]; then remove_tree "$old"; fi
  done
  partial="$root.partial"
  note "building the $suite minbase root filesystem with ${PACKAGES[*]} from $mirror (a few minutes)"
  t0=$EPOCHREALTIME
  if ! timeout 1200 debootstrap --variant=minbase --include="$(IFS=,; echo "${PACKAGES[*]}")" \
    "$suite" "$partial" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 25 "$work/debootstrap.log" >&2
    [[ -f $partial/debootstrap/debootstrap.log ]] && tail -n 25 "$partial/debootstrap/debootstrap.log" >&2
    remove_tree "$partial"
    fail "debootstrap of $suite with ${PACKAGES[*]} failed (log above)"
  fi
  # The runtime stage's user, as the Dockerfile creates it.
  if ! { chroot "$partial" groupadd --system --gid "$gid" vmcp &&
    chroot "$partial" useradd --system --uid "$uid" --gid "$gid" --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin vmcp; } >&2; then
    remove_tree "$partial"
    fail "could not create the user $uid:$gid in the root filesystem"
  fi
  rm -rf "$partial"/var/lib/apt/lists/* "$partial"/var/cache/apt/archives/*.deb
  mv "$partial" "$root"
  partial=""
  note "root filesystem built in $(($(ms_since "$t0") / 1000)) s"
else
  note "reusing the cached root filesystem $root"
fi

# ---- the image's files: the binary as the Dockerfile installs it, the operator's mounts ----------
install -D -m 0755 -o root -g root "$binary" "$root/usr/local/bin/vmcp"
[[ -s $root/etc/ssl/certs/ca-certificates.crt ]] || fail "no system roots (/etc/ssl/certs/ca-certificates.crt) in the root filesystem"
# A direct backend with its CA bundle where the operator mounts it; unreachable on purpose (a closed
# local port, best_effort), so the check needs nothing outside this machine.
install -D -m 0644 "$root/etc/ssl/certs/ca-certificates.crt" "$root/etc/toolhive/ca-bundles/remote/ca.crt"
mkdir -p "$root$(dirname "$config_path")"
cat >"$root$config_path" <<'EOF'
# Written by scripts/rootfs-check.sh.
name: rootfs-check
groupRef: rootfs-check
backends:
    - name: remote
      type: entry
      url: https://127.0.0.1:9/mcp
      transport: streamable-http
      caBundlePath: /etc/toolhive/ca-bundles/remote/ca.crt
incomingAuth:
    type: anonymous
outgoingAuth:
    source: inline
    default:
        type: unauthenticated
aggregation:
    conflictResolution: prefix
    conflictResolutionConfig:
        prefixFormat: '{workload}_'
operational:
    failureHandling:
        partialFailureMode: best_effort
EOF
chmod 0644 "$root$config_path"

# A command prefix that runs in the root filesystem the way the container runs its process: the
# image's user, PATH and working directory (/), nothing of this shell's environment. env and chroot
# exec, so a background job's pid is the process itself. No /proc is mounted: vmcp does not need it.
IN_IMAGE=(env -i PATH="$IMAGE_PATH" HOME=/nonexistent "$(command -v chroot)" --userspec="$uid:$gid" --groups="$gid" "$root")
show_ldd() {
  echo "rootfs-check: ldd /usr/local/bin/vmcp inside the root filesystem:" >&2
  chroot "$root" /usr/bin/ldd /usr/local/bin/vmcp >&2 || true
}

if chroot "$root" /usr/bin/ldd /usr/local/bin/vmcp 2>&1 | grep -q 'not found'; then
  show_ldd
  fail "shared libraries missing in the runtime root filesystem"
fi
if ! "${IN_IMAGE[@]}" vmcp validate --config="$config_path" >"$work/validate.log" 2>&1 9>&-; then
  cat "$work/validate.log" >&2
  show_ldd
  fail "vmcp validate failed inside the root filesystem"
fi

# ---- vmcp serve: the image's CMD, on a free port (4483 may be taken on this machine) -------------
args=()
for a in "${CMD_ARGS[@]}"; do
  [[ $a == --port=* ]] && a=--port=0
  args+=("$a")
done
alive() {  # a child that has exited stays a zombie until waited for: look at its state
  local s
  s=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null) && [[ $s != Z ]]
}
show_logs() {
  echo "--- vmcp stdout" >&2; cat "$work/out.log" >&2
  echo "--- vmcp stderr" >&2; cat "$work/err.log" >&2
}

"${IN_IMAGE[@]}" vmcp "${args[@]}" >"$work/out.log" 2>"$work/err.log" 9>&- &
pid=$!
port=""
for ((i = 0; i < 100; i++)); do   # readiness: up to 10 s
  if ! alive "$pid"; then
    show_logs
    show_ldd
    fail "vmcp serve exited before answering /health"
  fi
  [[ -n $port ]] || port=$(sed -n 's|^vmcp: serving ".*" at http://[^ ]*:\([0-9][0-9]*\)/mcp$|\1|p' "$work/out.log")
  if [[ -n $port ]] && curl -fsS --max-time 2 "http://127.0.0.1:$port/health" >"$work/health" 2>/dev/null; then
    break
  fi
  sleep 0.1
done
if [[ -z $port ]] || ! grep -q '"ok"' "$work/health" 2>/dev/null; then
  show_logs
  fail "no healthy answer from /health within 10 s"
fi
note "serving on port $port; /health: $(cat "$work/health")"

# The process is vmcp itself, as the image's user, not root.
run_uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
[[ $(cat "/proc/$pid/comm") == vmcp ]] || fail "the serving process is $(cat "/proc/$pid/comm"), not vmcp"
[[ $run_uid == "$uid" ]] || fail "vmcp serve runs as uid $run_uid, not $uid"

# One MCP request through the whole serving path.
curl -fsS --max-time 5 -X POST "http://127.0.0.1:$port/mcp" -H 'Content-Type: application/json' \
  -H 'Accept: application/json, text/event-stream' \
  -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"rootfs-check","version":"1"}}}' \
  >"$work/initialize" 2>&1 || { cat "$work/initialize" >&2; show_logs; fail "MCP initialize failed"; }
grep -q '"serverInfo":{"name":"rootfs-check"' "$work/initialize" ||
  { cat "$work/initialize" >&2; show_logs; fail "MCP initialize answered without the server's name"; }

# SIGTERM: exit 0 within the grace period (a watchdog kills it at grace + 5 s).
t0=$EPOCHREALTIME
kill -TERM "$pid"
(
  trap 'kill "$nap" 2>/dev/null; exit 0' TERM
  sleep $((GRACE + 5)) &
  nap=$!
  wait "$nap" && kill -KILL "$pid" 2>/dev/null
) &
watchdog=$!
rc=0
wait "$pid" || rc=$?
pid=""
kill "$watchdog" 2>/dev/null || true
wait "$watchdog" 2>/dev/null || true
stop_ms=$(ms_since "$t0")
if [[ $rc -ne 0 ]]; then
  show_logs
  fail "vmcp serve exited $rc on SIGTERM (after ${stop_ms} ms), not 0"
fi
((stop_ms <= GRACE * 1000)) || { show_logs; fail "vmcp serve took ${stop_ms} ms to stop, over the ${GRACE} s grace"; }
grep -q '"signal":"SIGTERM"' "$work/err.log" || { show_logs; fail "vmcp serve did not log the SIGTERM"; }

echo "rootfs-check: PASS ($suite minbase + ${#PACKAGES[@]} runtime packages; vmcp as uid $uid answered /health and initialize, exited 0 on SIGTERM in ${stop_ms} ms; $(ms_since "$START") ms in all)"
