#!/usr/bin/env bash
# Build the Ascend310 inference app. The MindSpore inference install comes from MINDSPORE_PATH, else from the
# installed Python package; without its C++ API headers (include/api/model.h) this fails with a clear message.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -z "${MINDSPORE_PATH:-}" ]; then
    MINDSPORE_PATH="$("${PYTHON:-python3}" -c 'import mindspore, os; print(os.path.dirname(mindspore.__file__))' 2>/dev/null || true)"
fi
if [ -z "$MINDSPORE_PATH" ] || [ ! -f "$MINDSPORE_PATH/include/api/model.h" ]; then
    echo "error: MindSpore C++ inference API not found: no include/api/model.h under '${MINDSPORE_PATH:-<unset>}'." >&2
    echo "       Install the MindSpore inference package of the Ascend310 container and set MINDSPORE_PATH to it" >&2
    echo "       (the PyPI wheel carries no C++ inference API)." >&2
    exit 1
fi
build="$here/build"
mkdir -p "$build"
cmake -S "$here" -B "$build" -DMINDSPORE_PATH="$MINDSPORE_PATH" >/dev/null
cmake --build "$build" -j"$(nproc)"
if [ ! -x "$build/main" ]; then
    echo "error: the inference app was not built (see the cmake output in $build)" >&2
    exit 1
fi
echo "built $build/main"
