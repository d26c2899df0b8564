#!/usr/bin/env bash
# Data-parallel training with MindSpore's own launcher (msrun): N worker processes on this node.
# usage: bash local/run_distribute_train.sh N [--dry-run] [ARGS...]   (ARGS as for local/train.py)
# env:   NODES (default 1), NODE_RANK (this node, from 0), MASTER_ADDR (the node holding the scheduler, default
#        127.0.0.1), MASTER_PORT (default 8118), LOG_DIR (default ./msrun_log), LOST_NODE_TIMEOUT (seconds, default
#        60), PYTHON. Several nodes: run this once on each node with the same NODES, MASTER_ADDR and MASTER_PORT.
set -euo pipefail
if [ $# -lt 1 ] || ! [[ "$1" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: bash $0 N [--config=NAME --data_url=DIR --train_url=DIR --key=value ...]" >&2
    echo "  N: number of worker processes (devices) on this node; NODES, NODE_RANK, MASTER_ADDR, MASTER_PORT for" >&2
    echo "  several nodes" >&2
    exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
[ -x "$python" ] || python="$(command -v python3)"
exec "$python" "$root/local/launch.py" "$@"
