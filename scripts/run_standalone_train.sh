#!/usr/bin/env bash
# ModelZoo WideResNet: one training process. Runs local/train.py into ./runs/<LABEL>.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
if [ $# -lt 3 ] || [ $# -gt 5 ]; then
    usage_exit "bash run_standalone_train.sh [DATASET_PATH] [CONFIG_PATH] [LABEL] [RUN_EVAL] [EVAL_DATASET_PATH]" \
        "python local/train.py --config CONFIG_PATH --data_url DATASET_PATH --train_url runs/LABEL"
fi
extra="$(eval_args "${4:-False}" "${5:-}")"
run="$(run_dir "$3")"
# shellcheck disable=SC2086  # extra holds separate --key=value words
exec "$PYTHON" "$root/local/train.py" --config="$(config_arg "$2")" --data_url="$(abs "$1")" \
    --train_url="$run" --resume=auto $extra
