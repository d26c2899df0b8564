"""Exported models on CPU: a `.mindir` through MindSpore's GraphCell, an `.onnx` through ONNX Runtime (optional:
`pip install -e '.[onnx]'`). Both take and give numpy: batches of the model's input in (normalised float32 NCHW, or
uint8 NHWC pixels for a raw export: the ONNX session's input type says which, for a MINDIR its graph's
input, or its sidecar where MindSpore's mind_ir module is missing), float32 logits out."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from wrn.errors import WrnError
from wrn.serving.sidecar import Sidecar, path_of

SUFFIXES = (".mindir", ".onnx")


class RunnerError(WrnError):
    """An exported model cannot be opened or run."""


# The input types a runner feeds, by the names sidecars and ONNX use.
INPUT_DTYPES = {"float32": np.float32, "uint8": np.uint8}
ONNX_TYPES = {"tensor(float)": "float32", "tensor(uint8)": "uint8"}


class Runner:
    """One exported model, ready to run batches of its fixed input shape and type."""

    def __init__(self, path: Path, input_shape: tuple[int, ...], run: Callable[[np.ndarray], np.ndarray],
                 engine: str, input_dtype: str = "float32") -> None:
        self.path, self.input_shape, self._run, self.engine = path, input_shape, run, engine
        self.input_dtype = input_dtype

    @property
    def batch_size(self) -> int:
        return int(self.input_shape[0])

    @property
    def raw_input(self) -> bool:
        """True for a model that takes uint8 pixels and normalises them in its graph (export --input raw)."""
        return self.input_dtype == "uint8"

    @property
    def input_bytes(self) -> int:
        return int(np.prod(self.input_shape)) * np.dtype(INPUT_DTYPES[self.input_dtype]).itemsize

    def describe_input(self) -> str:
        if self.raw_input:
            return f"uint8 NHWC {list(self.input_shape)}: raw pixels, the model normalises them itself"
        return f"float32 NCHW {list(self.input_shape)}: normalised"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch)
        if self.raw_input and batch.dtype != np.uint8:
            raise RunnerError(f"model {self.path} takes {self.describe_input()}; got a {batch.dtype} batch (normalised "
                              "images?): feed the decoded pixels")
        if not self.raw_input and not np.issubdtype(batch.dtype, np.floating):
            raise RunnerError(f"model {self.path} takes {self.describe_input()}; got a {batch.dtype} batch (raw "
                              "pixels?): normalise them first, or export with --input raw")
        return self._run(np.ascontiguousarray(batch, INPUT_DTYPES[self.input_dtype]))


def open_model(path: Path) -> Runner:
    """The runner for `path` by its suffix; a missing file or another suffix is one clear error."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise RunnerError(f"model {path}: expected a .mindir or .onnx file (an export of local/export.py)")
    if not path.is_file():
        raise RunnerError(f"model {path} does not exist")
    return _onnx(path) if path.suffix.lower() == ".onnx" else _mindir(path)


def _mindir(path: Path) -> Runner:
    import mindspore as ms
    import mindspore.nn as nn

    from wrn.platform.runtime import set_device

    ms.set_context(mode=ms.GRAPH_MODE)
    set_device("CPU")
    if path.stat().st_size == 0:
        raise RunnerError(f"model {path} is empty (0 bytes): export it again")
    shape, dtype = _mindir_input(path)  # first: a file that is no MindIR is named here, before MindSpore logs it
    try:
        graph = nn.GraphCell(ms.load(str(path)))
    except (RuntimeError, ValueError, TypeError, OSError) as exc:  # MindSpore: "Load MindIR failed."
        raise RunnerError(f"model {path} cannot be loaded by MindSpore {ms.__version__} ({str(exc).strip()[:120]}): "
                          "damaged, not a MINDIR, or written by a newer MindSpore; export it again") from None
    return Runner(path, shape, lambda batch: graph(ms.Tensor(batch)).asnumpy(), f"MindSpore {ms.__version__}", dtype)


# TensorProto.DataType numbers of MindSpore's mind_ir.proto.
MINDIR_TYPES = {1: "float32", 2: "uint8"}


def _mindir_input(path: Path) -> tuple[tuple[int, ...], str]:
    """The MINDIR's input shape and type, read from the file's graph (MindSpore's own mind_ir protobuf module, in
    2.0 and 2.8 alike); from its sidecar where that module is missing; a float32 [1, 3, 32, 32] input where neither
    tells. A GraphCell fed the wrong type does not say so (a float batch in a raw model is cast, not refused), hence
    the check here."""
    try:
        from mindspore.train.mind_ir_pb2 import ModelProto
    except ImportError:
        ModelProto = None
    if ModelProto is not None:
        proto = ModelProto()
        try:
            proto.ParseFromString(path.read_bytes())
        except Exception as exc:  # protobuf's DecodeError
            raise RunnerError(f"model {path}: not a MindIR file ({type(exc).__name__}: {exc})") from None
        inputs = list(proto.graph.input)
        if len(inputs) != 1 or len(inputs[0].tensor) != 1:
            raise RunnerError(f"model {path}: expected one input, found {len(inputs)}")
        tensor = inputs[0].tensor[0]
        if tensor.data_type not in MINDIR_TYPES:
            raise RunnerError(f"model {path}: input type {tensor.data_type} (mind_ir.proto TensorProto.DataType): "
                              "expected FLOAT (normalised NCHW) or UINT8 (raw NHWC pixels)")
        return tuple(int(d) for d in tensor.dims), MINDIR_TYPES[tensor.data_type]
    sidecar = path_of(path)
    if sidecar.is_file():
        described = Sidecar.read(sidecar, error=RunnerError)
        return described.input_shape, described.input_dtype
    return (1, 3, 32, 32), "float32"


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
    if model_input.type not in ONNX_TYPES:
        raise RunnerError(f"model {path}: input {model_input.name} is {model_input.type}, expected float (normalised "
                          "NCHW) or uint8 (raw NHWC pixels)")
    name = model_input.name
    return Runner(path, shape, lambda batch: session.run(None, {name: batch})[0], f"ONNX Runtime {ort.__version__}",
                  ONNX_TYPES[model_input.type])
