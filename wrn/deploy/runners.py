"""Exported models on CPU: a `.mindir` through MindSpore's GraphCell, an `.onnx` through ONNX Runtime (optional:
`pip install -e '.[onnx]'`). Both take and give numpy: float32 NCHW batches in, float32 logits out."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from wrn.errors import WrnError

SUFFIXES = (".mindir", ".onnx")


class RunnerError(WrnError):
    """An exported model cannot be opened or run."""


class Runner:
    """One exported model, ready to run batches of its fixed input shape."""

    def __init__(self, path: Path, input_shape: tuple[int, ...], run: Callable[[np.ndarray], np.ndarray],
                 engine: str) -> None:
        self.path, self.input_shape, self._run, self.engine = path, input_shape, run, engine

    @property
    def batch_size(self) -> int:
        return int(self.input_shape[0])

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self._run(np.ascontiguousarray(batch, np.float32))


def open_model(path: Path) -> Runner:
    """The runner for `path` by its suffix; a missing file or another suffix is one clear error."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise RunnerError(f"model {path}: expected a .mindir or .onnx file (an export of local/export.py)")
    if not path.is_file():
        raise RunnerError(f"model {path} does not exist")
    return _onnx(path) if path.suffix.lower() == ".onnx" else _mindir(path)


def sidecar_of(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _mindir(path: Path) -> Runner:
    import mindspore as ms
    import mindspore.nn as nn

    from wrn.platform.runtime import set_device

    ms.set_context(mode=ms.GRAPH_MODE)
    set_device("CPU")
    graph = nn.GraphCell(ms.load(str(path)))
    sidecar = sidecar_of(path)
    shape = tuple(json.loads(sidecar.read_text())["input_shape"]) if sidecar.is_file() else (1, 3, 32, 32)
    return Runner(path, shape, lambda batch: graph(ms.Tensor(batch)).asnumpy(), f"MindSpore {ms.__version__}")


def onnx_session(path: Path, threads: int | None = None):
    """An ONNX Runtime CPU session tuned for this model: every graph optimisation (constant folding, fusions, the
    NCHWc layout of the CPU convolution kernels), intra-op threads = the cores, one inter-op thread (the graph is a
    chain), the memory arena and memory pattern on (fixed input shapes)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise RunnerError(f"model {path}: ONNX models need onnxruntime: pip install -e '.[onnx]'") from None
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = True
    options.enable_mem_pattern = True
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types (Fail, InvalidGraph, ...)
        raise RunnerError(f"model {path}: onnxruntime cannot load it: {str(exc).splitlines()[0]}") from None


def _onnx(path: Path) -> Runner:
    import onnxruntime as ort

    session = onnx_session(path)
    (model_input,) = session.get_inputs()
    shape = tuple(model_input.shape)
    if not all(isinstance(d, int) for d in shape):
        raise RunnerError(f"model {path}: input {model_input.name} has shape {list(shape)}, expected a fixed shape "
                          "(local/export.py writes one per --batch_size)")
    name = model_input.name
    return Runner(path, shape, lambda batch: session.run(None, {name: batch})[0], f"ONNX Runtime {ort.__version__}")
