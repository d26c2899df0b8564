# Shared by the ModelZoo-compatible scripts in this folder (sourced, not run).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHON="${PYTHON:-$root/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"

# usage_exit MODELZOO_USAGE OWN_FORM: the ModelZoo script's usage line, then what it runs here; exit 1 as they do.
usage_exit() {
    echo "Usage: $1" >&2
    echo "  (here: $2)" >&2
    exit 1
}

# abs PATH: a local path made absolute against the caller's folder; obs:// and s3:// URLs unchanged.
abs() {
    case "$1" in
        obs://*|s3://*|/*) echo "$1" ;;
        *) echo "$PWD/$1" ;;
    esac
}

# config_arg CONFIG_PATH: a recipe name stays a name, a file becomes an absolute path.
config_arg() {
    if [ -e "$1" ]; then abs "$1"; else echo "$1"; fi
}

# eval_args RUN_EVAL [EVAL_DATASET_PATH]: RUN_EVAL=True evaluates after every epoch (on EVAL_DATASET_PATH's
# test_batch.bin when given); False only after the last epoch, so best.ckpt still exists.
eval_args() {
    case "$(echo "${1:-False}" | tr '[:upper:]' '[:lower:]')" in
        true|1|yes)
            echo "--eval_start_epoch=1 --eval_interval=1${2:+ --eval_data_url=$(abs "$2")}" ;;
        false|0|no)
            echo "--eval_start_epoch=1000000" ;;
        *)
            echo "error: RUN_EVAL must be True or False, got '$1'" >&2
            return 1 ;;
    esac
}

# run_dir LABEL: ./runs/LABEL, the run folder the ModelZoo scripts train into. A label is one folder name: an empty
# one, ".", ".." or one with a "/" would put the run outside ./runs (or into ./runs itself).
run_dir() {
    case "$1" in
        ""|.|..|*/*)
            echo "error: LABEL '$1' must be one folder name below ./runs (no '/', not '.' or '..')" >&2
            return 1 ;;
    esac
    echo "$PWD/runs/$1"
}
