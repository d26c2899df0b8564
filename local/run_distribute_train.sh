#!/usr/bin/env bash
# Data-parallel training with MindSpore's own launcher: N worker processes on this machine.
# usage: bash local/run_distribute_train.sh N [ARGS...]   (ARGS as for local/train.py)
# env:   MASTER_PORT (default 8118), LOG_DIR (default ./msrun_log), PYTHON
set -euo pipefail
if [ $# -lt 1 ] || ! [[ "$1" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: bash $0 N [--config=NAME --data_url=DIR --train_url=DIR --key=value ...]" >&2
    echo "  N: number of worker processes (devices) on this machine" >&2
    exit 2
fi
workers="$1"
shift
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
[ -x "$python" ] || python="$(command -v python3)"
# msrun starts each worker as `python SCRIPT`: make that the same interpreter.
export PATH="$(dirname "$python"):$PATH"
log_dir="${LOG_DIR:-$PWD/msrun_log}"
mkdir -p "$log_dir"
# One id for this launch, shared by all workers: they coordinate staging of remote data through it.
export WRN_LAUNCH_ID="msrun-$$-$(date +%s)"
export GLOG_v="${GLOG_v:-3}"
echo "msrun: $workers workers, logs in $log_dir/worker_*.log (scheduler: $log_dir/scheduler.log)"
# msrun's entry point, through this Python (so the venv's MindSpore is the one launched)
exec "$python" -c 'import sys; from mindspore.parallel.cluster.run import main; sys.argv[0] = "msrun"; sys.exit(main())' \
    --worker_num="$workers" --local_worker_num="$workers" \
    --master_port="${MASTER_PORT:-8118}" --log_dir="$log_dir" --join=True \
    "$root/local/train.py" "$@"
