#!/usr/bin/env bash
# Convert a float export (AIR, or ONNX) into an Ascend310 offline model (.om) with ATC, inserting the static AIPP
# that normalises uint8 RGB pixels on the AI Core: the OM then takes uint8 NHWC [B, 32, 32, 3] images as decoded
# from a file (the files `preprocess.py --input raw` writes), and nothing else normalises them.
# usage: bash cpp_infer/convert_om.sh MODEL.air|MODEL.onnx [OUTPUT]     (OUTPUT without .om; default beside MODEL)
#   MODEL's .json sidecar (written by export) gives the input's name and shape; MODEL's <stem>.aipp.cfg (written by
#   export beside every float export) is the AIPP config; when it is missing it is written from the sidecar
#   (python -m wrn.cli aipp SIDECAR).
# env: SOC_VERSION (default Ascend310), ATC (default atc, from the CANN toolkit: source its set_env.sh first),
#      AIPP_CONFIG (another AIPP config), PYTHON (default python3).
# The atc arguments, per the CANN ATC documentation ("ATC Instructions" > "Command-Line Options"):
#   --model, --output, --soc_version: https://www.hiascend.com/document/detail/en/canncommercial/800/devaids/atc/atctool_0040.html
#   --framework (1: MindSpore .air, 5: ONNX; for MindSpore --input_format can only be NCHW):
#       https://www.hiascend.com/document/detail/en/canncommercial/800/devaids/atc/atlasatcparam_16_0014.html
#   --insert_op_conf (AIPP; "the input data type is UINT8" with it):
#       https://www.hiascend.com/document/detail/zh/canncommercial/80RC1/devaids/auxiliarydevtool/atlasatc_16_0078.html
#   --input_format, --input_shape "name:n,c,h,w" (the model before AIPP: NCHW float):
#       https://www.hiascend.com/document/detail/zh/canncommercial/latest/devaids/atctool/atlasatcparam_16_0015.html
# The input's name for --input_shape is the sidecar's input_name: ONNX Runtime's for an ONNX export; for an AIR the
# name MindSpore gives the exported cell's construct parameter (x: a MINDIR of the same cell reads "...:x", and the
# ModelZoo's AIR conversions pass --input_shape="x:..."), which cannot be read back from an AIR here.
# ATC runs only where the CANN toolkit is installed; this script is tested here with a stand-in that records its
# arguments (tests/test_raw_export.py), never with ATC itself.
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: bash $0 MODEL.air|MODEL.onnx [OUTPUT]" >&2
    exit 2
fi
model="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
atc="${ATC:-atc}"
[ -f "$model" ] || { echo "error: model $model does not exist" >&2; exit 2; }
case "$model" in
    *.air) framework=1 ;;
    *.onnx) framework=5 ;;
    *) echo "error: model $model: expected an .air (MindSpore, --framework=1) or .onnx (--framework=5) export" >&2
       exit 2 ;;
esac
stem="${model%.*}"
output="${2:-$stem}"
sidecar="$model.json"
[ -f "$sidecar" ] || { echo "error: sidecar $sidecar does not exist: convert an export of local/export.py, whose" \
    "sidecar gives the input's name, shape and normalisation" >&2; exit 2; }
# The package reads the sidecar (a damaged one is one error line and stops here).
fields="$(PYTHONPATH="$here/..${PYTHONPATH:+:$PYTHONPATH}" "$python" -m wrn.cli sidecar "$sidecar" input_dtype \
    input_name input_shape)"
{ read -r input_dtype; read -r input_name; read -r input_shape; } <<< "$fields"
input_name="${input_name:-x}"  # sidecars before input_name: MindSpore's name for the exported cell's input
if [ "$input_dtype" != "float32" ]; then
    echo "error: $model takes $input_dtype pixels and normalises them in its graph (export --input raw); ATC takes" \
         "FP32/FP16 inputs and UINT8 only through AIPP: convert the float export (export without --input raw)," \
         "whose AIPP config does the normalisation" >&2
    exit 2
fi
aipp="${AIPP_CONFIG:-$stem.aipp.cfg}"
if [ ! -f "$aipp" ]; then
    PYTHONPATH="$here/..${PYTHONPATH:+:$PYTHONPATH}" "$python" -m wrn.cli aipp "$sidecar" --output "$aipp" >/dev/null
    echo "wrote $aipp from $sidecar"
fi
command -v "$atc" >/dev/null 2>&1 || { echo "error: $atc not found: ATC comes with the Ascend CANN toolkit" \
    "(source <toolkit>/set_env.sh, or set ATC=/path/to/atc); the AIPP config is $aipp" >&2; exit 2; }
set -x
"$atc" --model="$model" --framework="$framework" --output="$output" --soc_version="${SOC_VERSION:-Ascend310}" \
    --insert_op_conf="$aipp" --input_format=NCHW --input_shape="$input_name:$input_shape" --log=error
{ set +x; } 2>/dev/null
echo "converted $model -> $output.om (input: uint8 NHWC RGB pixels; AIPP normalises them; $aipp)"
