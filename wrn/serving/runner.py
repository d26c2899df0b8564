"""An exported model as its sidecar describes it, fed the decoded pixels of one image.

The sidecar (written by `wrn.deploy.export`) says what the model takes:
- `input_dtype` "float32", `input_layout` "NCHW": pixels / 255, then (x - mean) / std per RGB channel with the
  sidecar's `normalisation`, as training normalised them;
- `input_dtype` "uint8", `input_layout` "NHWC" (a raw model: `export --input raw`): the pixels as decoded, the
  normalisation is inside the graph.
A .onnx runs through ONNX Runtime (CPU); a .mindir through MindSpore (imported only then), for Ascend services.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np

from .errors import PackageError
from .sidecar import Sidecar, path_of

SUFFIXES = (".onnx", ".mindir")


class ModelRunner:
    """One model with a fixed batch of one image; `__call__` takes (32, 32, 3) uint8 pixels, gives float32 logits."""

    def __init__(self, path: Path, sidecar: Sidecar, run: Callable[[np.ndarray], np.ndarray], engine: str) -> None:
        self.path, self.sidecar, self._run, self.engine = path, sidecar, run, engine
        self.input_dtype, self.input_layout = sidecar.input_dtype, sidecar.input_layout
        self.input_shape = sidecar.input_shape
        if sidecar.batch_size != 1:
            raise PackageError("model %s takes batches of %d: a service needs a batch-1 export (--batch_size 1)"
                               % (path.name, sidecar.batch_size))
        self._mean = np.asarray(sidecar.normalisation.mean, np.float32).reshape(1, 3, 1, 1)
        self._std = np.asarray(sidecar.normalisation.std, np.float32).reshape(1, 3, 1, 1)

    def model_input(self, pixels: np.ndarray) -> np.ndarray:
        """(32, 32, 3) uint8 pixels -> the model's input batch of one."""
        batch = np.asarray(pixels, dtype=np.uint8)[None]
        if self.input_dtype == "uint8":
            return np.ascontiguousarray(batch)
        scaled = batch.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)
        return np.ascontiguousarray((scaled - self._mean) / self._std, dtype=np.float32)

    def logits(self, model_input: np.ndarray) -> np.ndarray:
        return np.asarray(self._run(model_input), dtype=np.float32).reshape(-1)

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        return self.logits(self.model_input(pixels))


def find_model(folder: Path) -> Path:
    """The one .onnx or .mindir in a model package folder."""
    found = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
    if len(found) != 1:
        raise PackageError("model folder %s holds %s: expected exactly one .onnx or .mindir export"
                           % (folder, ", ".join(p.name for p in found) or "no model file"))
    return found[0]


def open_runner(path: Path, threads: Optional[int] = None) -> ModelRunner:
    """The runner of an exported model file (its sidecar next to it)."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES or not path.is_file():
        raise PackageError("model %s: expected an existing .onnx or .mindir file" % path)
    sidecar = Sidecar.read(path_of(path), error=PackageError)
    if path.suffix.lower() == ".onnx":
        run, engine = _onnx(path, threads)
    else:
        run, engine = _mindir(path)
    return ModelRunner(path, sidecar, run, engine)


def _onnx(path: Path, threads: Optional[int]):
    try:
        import onnxruntime as ort
    except ImportError:
        raise PackageError("model %s needs onnxruntime (a dependency in the package's config.json)" % path.name) \
            from None
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception types (Fail, InvalidGraph, ...)
        raise PackageError("model %s: onnxruntime %s cannot load it: %s"
                           % (path.name, ort.__version__, str(exc).splitlines()[0])) from None
    name = session.get_inputs()[0].name
    # InferenceSession.run may be called from several threads at once (ONNX Runtime's documented thread safety).
    return (lambda batch: session.run(None, {name: batch})[0]), "ONNX Runtime %s" % ort.__version__


def _mindir(path: Path):
    try:
        import mindspore as ms
        import mindspore.nn as nn
    except ImportError:
        raise PackageError("model %s needs MindSpore (the Ascend inference image's engine)" % path.name) from None
    # The documented MindSpore inference example sets its device explicitly; Ascend where the image has NPUs (the
    # /dev/davinciN devices the documented TensorFlow example looks for), else the CPU.
    ascend = any(name.startswith("davinci") and name[7:].isdigit() for name in os.listdir("/dev")) \
        if os.path.isdir("/dev") else False
    ms.set_context(mode=ms.GRAPH_MODE, device_target="Ascend" if ascend else "CPU")
    try:
        graph = nn.GraphCell(ms.load(str(path)))
    except Exception as exc:
        raise PackageError("model %s: MindSpore %s cannot load it: %s (a MINDIR is read by the MindSpore version "
                           "that exported it or newer)" % (path.name, ms.__version__, str(exc).splitlines()[0])) \
            from None
    lock = threading.Lock()  # a GraphCell is not documented as safe to call from several threads at once

    def run(batch: np.ndarray) -> np.ndarray:
        with lock:
            return graph(ms.Tensor(batch)).asnumpy()

    return run, "MindSpore %s" % ms.__version__


def read_labels(folder: Path, sidecar: Sidecar) -> List[str]:
    """The class names: the package's labels.json (a JSON list, written by `wrn.cli package`), else the data set's
    names from the sidecar."""
    from .classes import class_names

    labels = Path(folder) / "labels.json"
    if labels.is_file():
        try:
            names = json.loads(labels.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise PackageError("%s is not valid JSON: %s" % (labels, exc)) from None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise PackageError("%s: expected a JSON list of class names" % labels)
        return names
    return class_names(sidecar.dataset, sidecar.label, sidecar.num_classes, sidecar.config)
