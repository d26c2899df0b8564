#!/usr/bin/env bash
# Data-parallel training on Ascend the classic way: one process per card, driven by a rank table (HCCL).
# usage: bash local/run_distribute_train_ascend.sh RANK_TABLE_FILE N [ARGS...]   (ARGS as for local/train.py)
# env:   RANK_START (first rank id on this server, default 0), RUN_ROOT (default ./train_parallel), PYTHON
set -euo pipefail
if [ $# -lt 2 ] || ! [[ "$2" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: bash $0 RANK_TABLE_FILE N [--config=NAME --data_url=DIR --train_url=DIR --key=value ...]" >&2
    echo "  N: number of Ascend cards on this server (devices 0..N-1)" >&2
    exit 2
fi
if [ ! -f "$1" ]; then
    echo "error: rank table file $1 does not exist" >&2
    exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
[ -x "$python" ] || python="$(command -v python3)"
export RANK_TABLE_FILE="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
export RANK_SIZE="${RANK_SIZE:-$2}"
export WRN_LAUNCH_ID="ranktable-$$-$(date +%s)"
export GLOG_v="${GLOG_v:-3}"
cards="$2"
shift 2
run_root="${RUN_ROOT:-$PWD/train_parallel}"
pids=()
for ((i = 0; i < cards; i++)); do
    dir="$run_root/device$i"
    mkdir -p "$dir"
    (cd "$dir" && DEVICE_ID="$i" RANK_ID="$(( ${RANK_START:-0} + i ))" \
        exec "$python" "$root/local/train.py" "$@" > "$dir/train.log" 2>&1) &
    pids+=("$!")
    echo "device $i (rank $(( ${RANK_START:-0} + i ))): pid ${pids[-1]}, log $dir/train.log"
done
failed=0
for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
        echo "device $i failed: see $run_root/device$i/train.log" >&2
        failed=1
    fi
done
exit "$failed"
