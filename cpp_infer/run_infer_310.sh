#!/usr/bin/env bash
# preprocess -> build -> run on the Ascend310 -> postprocess. Leaves acc.log and time_Result/ in the current folder.
# usage: bash cpp_infer/run_infer_310.sh MINDIR DATA_DIR [DEVICE_ID]
#   MINDIR: an exported model (its .json sidecar gives the batch size, the normalisation and the input: normalised
#           float32 NCHW, or uint8 NHWC pixels for a raw export; without one: batch 1, wrn40_10's normalisation,
#           and INPUT_KIND)
#   DATA_DIR: CIFAR-10 or CIFAR-100 binary folder (its eval split is used; the sidecar names the data set)
# env: DEVICE_TYPE (Ascend310 | Ascend | CPU, default Ascend310), MINDSPORE_PATH (the runtime: include/api, lib/),
#      BUILD_DIR (default cpp_infer/build), PYTHON, INPUT_KIND (normalised | raw: only for a model without a sidecar;
#      a sidecar decides itself). The app reads the model input's data type and checks each file's size against it.
set -euo pipefail
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: bash $0 MINDIR DATA_DIR [DEVICE_ID]" >&2
    exit 2
fi
mindir="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
data_dir="$2"
device_id="${3:-0}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
[ -f "$mindir" ] || { echo "error: MINDIR $mindir does not exist" >&2; exit 2; }
sidecar="$mindir.json"
batch=1
classes=10
normalise=(--config wrn40_10 --input "${INPUT_KIND:-normalised}")
if [ -f "$sidecar" ]; then
    # The package reads the sidecar (a damaged one is one error line and stops here).
    fields="$(PYTHONPATH="$here/..${PYTHONPATH:+:$PYTHONPATH}" "$python" -m wrn.cli sidecar "$sidecar" batch_size \
        num_classes)"
    { read -r batch; read -r classes; } <<< "$fields"
    normalise=(--sidecar "$sidecar")  # the export's own data: mean/std, dataset and label, whatever config it used
fi
work="$PWD/preprocess_Result"
rm -rf "$work" result_Files time_Result
"$python" "$here/preprocess.py" --data_url "$data_dir" --output "$work" "${normalise[@]}" --batch_size "$batch"
bash "$here/build.sh"
# The runtime library and the libraries it loads (oneDNN, glog, ...) sit in one lib/ folder.
if [ -n "${MINDSPORE_PATH:-}" ]; then
    export LD_LIBRARY_PATH="$MINDSPORE_PATH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
"${BUILD_DIR:-$here/build}/main" --mindir_path="$mindir" --input_dir="$work/img_data" --output_dir="$PWD" \
    --device_type="${DEVICE_TYPE:-Ascend310}" --device_id="$device_id"
"$python" "$here/postprocess.py" --result_dir "$PWD/result_Files" --label_dir "$work/label" --output "$PWD/acc.log" \
    --num_classes "$classes"
cat acc.log
