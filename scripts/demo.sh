#!/usr/bin/env bash
# The main job: installs what is missing, builds `vmcp`, and checks the bundled demo config with
# `vmcp validate` (the live gateway demo takes over this script once the data plane lands).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/bazel.sh build //:vmcp >&2
exec bazel-bin/vmcp validate --config=config/examples/demo.yaml
