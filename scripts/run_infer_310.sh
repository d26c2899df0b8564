#!/usr/bin/env bash
# ModelZoo WideResNet: inference on an Ascend310 (same argument order): cpp_infer/run_infer_310.sh.
set -euo pipefail
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "Usage: bash run_infer_310.sh [MINDIR_PATH] [DATA_PATH] [DEVICE_ID]" >&2
    echo "  (here: bash cpp_infer/run_infer_310.sh MINDIR_PATH DATA_PATH [DEVICE_ID])" >&2
    exit 1
fi
exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/cpp_infer/run_infer_310.sh" "$@"
