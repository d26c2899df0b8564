"""INT8 ONNX models for CPU serving: an exported FP32 ONNX model statically quantized by ONNX Runtime's own tooling
(`onnxruntime.quantization.quantize_static`), calibrated on training images of the run's data set, and kept only
when its top-1 on the eval split is within `tolerance_points` of the FP32 model's on the same images.

Settings, after ONNX Runtime's "Choosing parameters for CPU inference" (docstring of `quantize_static`, and
onnxruntime.ai/docs/performance/model-optimizations/quantization.html): QDQ format, uint8 activations, int8 weights
quantized per output channel, no range reduction (this CPU class has VNNI: no saturation of the 8-bit products),
MinMax calibration. The model is written at opset 13 and IR version 7 with no draft-opset domain, so the serving
image's onnxruntime 1.14.1 (Python 3.7) loads it (tests/serve runs it there). Needs the `onnx` package (`pip install -e '.[onnx]'`); training never
imports this module.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wrn.errors import WrnError
from wrn.fileio import sha256_of
from wrn.pbcompat import prefer_mindspore_protobuf
from wrn.serving.sidecar import Sidecar, path_of

log = logging.getLogger("wrn")

QUANTIZE_CHOICES = ("int8",)
QUANT_FORMATS = ("QDQ", "QOperator")
# What the serving tier's onnxruntime 1.14 reads: ONNX 1.13, i.e. IR version 8 and opsets up to 18
# (onnxruntime.ai/docs/reference/compatibility.html, "ONNX opset support").
SERVING_IR_VERSION, SERVING_MAX_OPSET = 8, 18
# Per-channel DequantizeLinear (its `axis`) needs opset 13, whose IR version is 7.
QUANT_OPSET, QUANT_IR_VERSION = 13, 7
# What runs in 8 bits: convolutions, the classifier, the residual sums, ReLU and the pooling mean between them.
QUANTIZED_OPS = ("Conv", "Gemm", "MatMul", "Add", "Relu", "ReduceMean", "GlobalAveragePool")


class QuantizeError(WrnError):
    """An INT8 model cannot be made, or loses more accuracy than allowed."""


@dataclass(frozen=True)
class QuantizeOptions:
    """How the INT8 model is made and checked (the export command's --int8_* options)."""

    calibration_images: int = 300
    tolerance_points: float = 0.5  # largest accepted top-1 drop vs FP32, in percentage points
    quant_format: str = "QDQ"
    per_channel: bool = True

    def checked(self) -> "QuantizeOptions":
        if self.calibration_images < 1:
            raise QuantizeError(f"int8 calibration_images {self.calibration_images}: expected an integer >= 1")
        if not math.isfinite(self.tolerance_points):
            raise QuantizeError(f"int8 tolerance {self.tolerance_points}: expected a number of top-1 points")
        if self.quant_format not in QUANT_FORMATS:
            raise QuantizeError(f"int8 format {self.quant_format!r}: expected one of {', '.join(QUANT_FORMATS)}")
        return self


@dataclass(frozen=True)
class QuantizeRequest:
    """`export --quantize int8 --data_url DIR`: what to make, from which data, how."""

    data_url: str
    quantize: str = "int8"
    options: QuantizeOptions = QuantizeOptions()

    def check(self, file_format: str) -> None:
        """Called before anything heavy is loaded: what the request needs is there, or one line says what is not."""
        if self.quantize not in QUANTIZE_CHOICES:
            raise QuantizeError(f"quantize {self.quantize!r}: expected one of {', '.join(QUANTIZE_CHOICES)}")
        if file_format.upper() != "ONNX":
            raise QuantizeError(f"quantize {self.quantize} makes an ONNX Runtime model: give --file_format ONNX "
                                f"(not {file_format})")
        if not str(self.data_url or "").strip():
            raise QuantizeError(f"quantize {self.quantize} calibrates on training images and checks top-1 on the "
                                "eval split: give --data_url (the run's data folder)")
        self.options.checked()
        prefer_mindspore_protobuf()
        try:
            import onnx  # noqa: F401
            import onnxruntime.quantization  # noqa: F401
        except ImportError as exc:
            raise QuantizeError(f"quantize {self.quantize} needs onnx and onnxruntime ({exc.name} is missing): "
                                "pip install -e '.[onnx]'") from None

    def write(self, run, fp32: Path, sidecar: Sidecar, local_rank: int, staging) -> dict:
        """The INT8 model of the FP32 export `fp32` beside it in `run`, the data staged in first when remote."""
        from wrn.platform.staging import stage_in

        return write_int8(run, fp32, sidecar, stage_in(self.data_url, local_rank, staging), self.options)


def calibration_images(train_files, fmt, label: str, count: int) -> np.ndarray:
    """`count` training images (uint8 NHWC), the same ones for every export: a seeded sample over all train files,
    so every class and every file is represented."""
    from wrn.cifar import read_records

    images, _ = read_records(list(train_files), fmt, label)
    if len(images) < count:
        log.info("int8 calibration: the training split has %d images, fewer than the %d asked for; using all",
                 len(images), count)
        return images
    chosen = np.sort(np.random.default_rng(20160523).choice(len(images), size=count, replace=False))
    return images[chosen]


def _reader(name: str, batches: list[np.ndarray]):
    from onnxruntime.quantization import CalibrationDataReader

    class Batches(CalibrationDataReader):
        """The calibration batches in the model's fixed input shape, one `get_next` each."""

        def __init__(self) -> None:
            self._left = iter(batches)

        def get_next(self):
            batch = next(self._left, None)
            return None if batch is None else {name: batch}

        def rewind(self) -> None:
            self._left = iter(batches)

    return Batches()


def model_batches(tensors: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Whole batches of the model's fixed batch size (a last partial batch is dropped: calibration needs no
    padding zeros, which would widen the input's range)."""
    whole = max(1, len(tensors) // batch_size) * batch_size
    tensors = tensors[:whole] if len(tensors) >= batch_size else np.resize(tensors, (batch_size, *tensors.shape[1:]))
    return [np.ascontiguousarray(tensors[i:i + batch_size]) for i in range(0, len(tensors), batch_size)]


def quantize_onnx(fp32: Path, out: Path, batches: list[np.ndarray], options: QuantizeOptions) -> dict:
    """Write the INT8 model of `fp32` to `out`, calibrated on `batches`; returns the settings used.

    MindSpore writes opset 11 (IR 4); per-channel weights need DequantizeLinear's `axis` (opset 13), so the model is
    converted to opset 13 first, then prepared as `quant_pre_process` does (shape inference, ONNX Runtime's basic
    graph optimisations: constant folding, Conv+BatchNorm fusion). BatchNormalization nodes that follow a residual
    sum (WRN's pre-activation) have no convolution to fold into and stay float: quantizing their per-channel scale
    along the weights' axis is not defined."""
    prefer_mindspore_protobuf()
    import onnx
    import onnxruntime
    from onnx import version_converter
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source = onnx.load(str(fp32))
    name = source.graph.input[0].name
    prepared = out.with_name(out.name + ".prepared.onnx")
    try:
        converted = version_converter.convert_version(source, QUANT_OPSET) if _opset(source) < QUANT_OPSET else source
        converted.ir_version = max(source.ir_version, QUANT_IR_VERSION)
        quant_pre_process(converted, str(prepared))
        quantize_static(str(prepared), str(out), _reader(name, batches),
                        quant_format=QuantFormat[options.quant_format], per_channel=options.per_channel,
                        reduce_range=False, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, op_types_to_quantize=QUANTIZED_OPS)
    finally:
        prepared.unlink(missing_ok=True)
    model = onnx.load(str(out))
    opset = _opset(model)
    if opset > SERVING_MAX_OPSET:
        raise QuantizeError(f"the quantized model has opset {opset}: the serving image's onnxruntime 1.14 reads "
                            f"opsets up to {SERVING_MAX_OPSET}")
    _serving_compatible(model, source.ir_version)
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    return {"dtype": "int8", "format": options.quant_format, "per_channel": options.per_channel,
            "activations": "uint8 (asymmetric)", "weights": "int8 (symmetric)", "calibration": "MinMax",
            "quantized_ops": list(QUANTIZED_OPS), "opset": opset, "ir_version": model.ir_version,
            "onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__}


def _serving_compatible(model, source_ir_version: int) -> None:
    """What the serving image's onnxruntime 1.14 refuses, removed: ONNX Runtime's graph optimiser (run by
    `quant_pre_process`) stamps every domain it knows on the model, some at opsets 1.14 calls "under development"
    (ai.onnx.ml 5), although no node uses them; and a newer onnx writes its own IR version, while this graph needs
    nothing IR 8 lacks."""
    used = {node.domain for node in model.graph.node} | {""}
    kept = [o for o in model.opset_import if o.domain in used or (o.domain == "ai.onnx" and "" in used)]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    if model.ir_version > SERVING_IR_VERSION:
        model.ir_version = max(QUANT_IR_VERSION, source_ir_version)


def _opset(model) -> int:
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)


def evaluate(path: Path, data: dict, data_dir: Path) -> dict:
    """Top-1/top-5 of a model file on the eval split, exactly as `local/eval.py --model` computes it."""
    from wrn.deploy.infer import evaluate_model

    return evaluate_model(path, str(data_dir), **data)


def write_int8(run, fp32: Path, sidecar: Sidecar, data_dir: Path, options: QuantizeOptions) -> dict:
    """Quantize the FP32 export `fp32` (its `sidecar` as written) into `<stem>_int8.onnx` beside it in `run` (the
    run directory: each file written whole), with its own sidecar: the FP32 one's fields plus `quantization` (the
    settings, both models' top-1/top-5 on the eval split of `data_dir`, the drop in points). A drop above the
    tolerance refuses the model: nothing is written. Returns the INT8 sidecar."""
    from wrn.cifar import find_layout
    from wrn.deploy.infer import model_inputs

    options = options.checked()
    data = sidecar.data()
    layout = find_layout(data_dir, data["dataset"], data["label"])
    images = calibration_images(layout.train_files, layout.format, layout.label, options.calibration_images)
    tensors = model_inputs(images, data["mean"], data["std"], sidecar.input_kind)
    batches = model_batches(tensors, sidecar.batch_size)
    reference = evaluate(fp32, data, data_dir)
    record: dict = {}

    def produce(temp: Path) -> None:
        settings = quantize_onnx(fp32, temp, batches, options)
        result = evaluate(temp, data, data_dir)
        drop = round((reference["top1"] - result["top1"]) * 100, 4)
        if drop > options.tolerance_points:
            raise QuantizeError(f"int8 model refused: top-1 {result['top1']:.4f} vs FP32 {reference['top1']:.4f} on "
                                f"{result['images']} eval images of {data_dir}, a drop of {drop:g} points (> "
                                f"{options.tolerance_points:g} allowed); nothing written (calibrate on more images "
                                "with --int8_calibration_images, or serve the FP32 model)")
        record.update({**settings, "calibration_images": int(sum(len(b) for b in batches)),
                       "top1_fp32": reference["top1"], "top1_int8": result["top1"], "top5_fp32": reference["top5"],
                       "top5_int8": result["top5"], "eval_images": result["images"], "top1_drop_points": drop,
                       "tolerance_points": options.tolerance_points, "fp32_model": fp32.name})

    final = run.write(fp32.with_name(fp32.stem + "_int8.onnx"), produce, suffix=".onnx")
    # The AIPP config and the difference vs the checkpoint describe the FP32 file; the accuracies describe this one.
    int8_sidecar = sidecar.replace(aipp_config=None, max_abs_difference_vs_checkpoint=None, file=final.name,
                                   sha256=sha256_of(final), quantization=record)
    written = run.write_text(path_of(final), int8_sidecar.to_json())
    log.info("int8 model %s: top-1 %.4f vs FP32 %.4f on %d eval images (drop %g points)", final.name,
             record["top1_int8"], record["top1_fp32"], record["eval_images"], record["top1_drop_points"])
    return {**int8_sidecar.to_dict(), "path": run.location(final.name), "sidecar": run.location(written.name)}
