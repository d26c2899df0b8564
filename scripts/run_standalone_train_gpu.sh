#!/usr/bin/env bash
# ModelZoo WideResNet, GPU: one training process (device_target auto picks the GPU). Runs into ./runs/<LABEL>.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
if [ $# -lt 3 ] || [ $# -gt 5 ]; then
    usage_exit "bash run_standalone_train_gpu.sh [DATASET_PATH] [CONFIG_PATH] [EXPERIMENT_LABEL] [RUN_EVAL] [EVAL_DATASET_PATH]" \
        "python local/train.py --config CONFIG_PATH --data_url DATASET_PATH --train_url runs/EXPERIMENT_LABEL"
fi
exec bash "$(dirname "${BASH_SOURCE[0]}")/run_standalone_train.sh" "$@"
