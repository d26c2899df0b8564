#!/usr/bin/env bash
# ModelZoo WideResNet: evaluate a checkpoint. MODELART=True: DATA_URL and CKPT_URL are obs:// URLs (staged through
# MoXing inside ModelArts, the OBS SDK elsewhere); False: local paths. Optional 4th argument: the config (default:
# the one the checkpoint carries, so a checkpoint of any recipe or config file evaluates as trained).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
if [ $# -lt 3 ] || [ $# -gt 4 ]; then
    usage_exit "bash run_eval.sh [DATA_URL] [CKPT_URL] [MODELART]" \
        "python local/eval.py --data_url DATA_URL --checkpoint CKPT_URL [--config CONFIG_PATH]"
fi
case "$(echo "$3" | tr '[:upper:]' '[:lower:]')" in
    true|1|yes)
        for url in "$1" "$2"; do
            case "$url" in obs://*|s3://*) ;; *) echo "error: MODELART=True needs obs:// URLs, got '$url'" >&2; exit 1 ;; esac
        done ;;
    false|0|no) ;;
    *) echo "error: MODELART must be True or False, got '$3'" >&2; exit 1 ;;
esac
config=()
[ $# -lt 4 ] || config=(--config="$(config_arg "$4")")
result="$("$PYTHON" "$root/local/eval.py" ${config[@]+"${config[@]}"} --data_url="$(abs "$1")" --checkpoint="$(abs "$2")")"
echo "$result"
"$PYTHON" -c 'import json, sys; print("result: {%r: %r}" % ("top_1_accuracy", json.loads(sys.argv[1])["top1"]))' \
    "$(echo "$result" | tail -n 1)"
