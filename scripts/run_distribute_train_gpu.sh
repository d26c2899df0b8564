#!/usr/bin/env bash
# ModelZoo WideResNet, GPU: DEVICE_NUM (default 8) data-parallel processes through msrun. Runs into ./runs/<LABEL>.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
if [ $# -lt 3 ] || [ $# -gt 5 ]; then
    usage_exit "bash run_distribute_train_gpu.sh [DATASET_PATH] [CONFIG_PATH] [EXPERIMENT_LABEL]" \
        "bash local/run_distribute_train.sh DEVICE_NUM --config=CONFIG_PATH --data_url=DATASET_PATH --train_url=runs/EXPERIMENT_LABEL"
fi
extra="$(eval_args "${4:-False}" "${5:-}")"
run="$(run_dir "$3")"
# shellcheck disable=SC2086
exec bash "$root/local/run_distribute_train.sh" "${DEVICE_NUM:-8}" --config="$(config_arg "$2")" \
    --data_url="$(abs "$1")" --train_url="$run" --resume=auto $extra
