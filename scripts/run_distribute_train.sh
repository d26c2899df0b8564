#!/usr/bin/env bash
# ModelZoo WideResNet, Ascend: one process per card of the rank table. Runs into ./runs/<LABEL>.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
if [ $# -lt 4 ] || [ $# -gt 6 ]; then
    usage_exit "bash run_distribute_train.sh [RANK_TABLE_FILE] [DATASET_PATH] [CONFIG_PATH] [LABEL] [RUN_EVAL] [EVAL_DATASET_PATH]" \
        "bash local/run_distribute_train_ascend.sh RANK_TABLE_FILE N --config=CONFIG_PATH --data_url=DATASET_PATH --train_url=runs/LABEL"
fi
table="$(abs "$1")"
[ -f "$table" ] || { echo "error: rank table file $1 does not exist" >&2; exit 1; }
# This server's cards: the devices the rank table lists for it (all of them on one server).
devices="$(PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m wrn.cli ranktable devices "$table")"
extra="$(eval_args "${5:-False}" "${6:-}")"
run="$(run_dir "$4")"
# shellcheck disable=SC2086
exec bash "$root/local/run_distribute_train_ascend.sh" "$table" "$devices" --config="$(config_arg "$3")" \
    --data_url="$(abs "$2")" --train_url="$run" --resume=auto $extra
