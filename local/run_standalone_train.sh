#!/usr/bin/env bash
# One training process on this machine's device.
# usage: bash local/run_standalone_train.sh CONFIG DATA_URL TRAIN_URL [--key=value ...]
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: bash $0 CONFIG DATA_URL TRAIN_URL [--key=value ...]" >&2
    echo "  e.g. bash $0 wrn16_4 /data/cifar10 runs/wrn16_4 --epochs=30" >&2
    exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
[ -x "$python" ] || python=python3
config="$1" data_url="$2" train_url="$3"
shift 3
mkdir -p "$train_url"
echo "training $config: log in $train_url/train.log"
exec "$python" "$root/local/train.py" --config="$config" --data_url="$data_url" --train_url="$train_url" "$@"
