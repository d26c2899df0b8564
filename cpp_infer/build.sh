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
    echo "       Set MINDSPORE_PATH to a MindSpore inference install: the Ascend310 container's MindSpore, the" >&2
    echo "       unpacked mindspore 2.0.0 or mindspore-ascend 1.x wheel, or the mindspore-lite 2.0.0 wheel's" >&2
    echo "       mindspore_lite/ folder (x86 CPU; see make test-cpp). The mindspore 2.8.0 wheel has no C++ API." >&2
    exit 1
fi
build="${BUILD_DIR:-$here/build}"
mkdir -p "$build"
cmake -S "$here" -B "$build" -DMINDSPORE_PATH="$MINDSPORE_PATH" >/dev/null
cmake --build "$build" -j"$(nproc)"
if [ ! -x "$build/main" ]; then
    echo "error: the inference app was not built (see the cmake output in $build)" >&2
    exit 1
fi
echo "built $build/main"
