"""The Ascend310 app's file formats, a CPU runner that writes them too (.mindir or .onnx, `runners`), and the
evaluation of an exported file.

preprocess:  eval split -> img_data/wrn_NNNNN.bin (float32 NCHW, normalised; for a raw export, `input_kind` "raw",
             uint8 NHWC pixels as decoded; one batch per file; the last batch zero-padded to the full batch) +
             label/wrn_NNNNN.bin (int32, only the real images' labels).
inference:   result_Files/wrn_NNNNN_0.bin (float32 logits [B, classes]) + time_Result/test_perform_static.txt; an
             input file whose size is not the model's input (type and shape) is an error.
postprocess: acc.log with top-1, top-5 and the image count; a missing or wrongly sized result is an error.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from wrn.deploy.rawinput import NORMALISED, RAW, check_input_kind, normalised
from wrn.errors import WrnError
from wrn.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text, prove_writable

IMAGE_DIR, LABEL_DIR, RESULT_DIR, TIME_DIR = "img_data", "label", "result_Files", "time_Result"
TIME_FILE = "test_perform_static.txt"
IMAGE_ELEMENTS = 3 * 32 * 32


class InferError(WrnError):
    """Inference files are missing, malformed or inconsistent."""


def preprocess(data_url: str, output: Path, *, mean: list[float], std: list[float], batch_size: int = 1,
               dataset: str = "cifar10", label: str = "fine", input_kind: str = NORMALISED) -> dict:
    """The eval split of data_url as normalised float32 NCHW batches (`mean`/`std` per RGB channel in [0, 1]), or,
    for a raw export (`input_kind` "raw"), as the uint8 NHWC pixels themselves."""
    from wrn.cifar import find_layout, read_records

    input_kind = check_input_kind(input_kind)
    layout = find_layout(data_url, dataset, label)
    images, labels = read_records([layout.eval_file], layout.format, layout.label)
    tensors = model_inputs(images, mean, std, input_kind)
    count = 0
    for index, start in enumerate(range(0, len(labels), batch_size)):
        chunk = tensors[start:start + batch_size]
        real, batch = len(chunk), _padded(chunk, batch_size)
        name = f"wrn_{index:05d}.bin"
        atomic_write_bytes(output / IMAGE_DIR / name, np.ascontiguousarray(batch).tobytes())
        atomic_write_bytes(output / LABEL_DIR / name, labels[start:start + real].astype(np.int32).tobytes())
        count += 1
    return {"images": int(len(labels)), "files": count, "batch_size": batch_size, "output": str(output),
            "input_kind": input_kind, "input_dtype": str(tensors.dtype)}


def model_inputs(images: np.ndarray, mean: list[float], std: list[float], input_kind: str) -> np.ndarray:
    """uint8 NHWC images as a model of `input_kind` takes them: normalised float32 NCHW, or unchanged (raw)."""
    if input_kind == RAW:
        return np.ascontiguousarray(images, np.uint8)
    return normalised(images, mean, std)


def input_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.bin"))
    if not files:
        raise InferError(f"{folder}: no .bin input files")
    return files


def run_model(model: Path, input_dir: Path, output: Path) -> dict:
    """Run an exported .mindir or .onnx on CPU over every input file; result and timing files as the C++ app writes
    them."""
    from wrn.deploy.runners import open_model

    check_output_folder(output)
    runner = open_model(model)
    shape, dtype = runner.input_shape, np.dtype(runner.input_dtype)
    latencies = []
    files = input_files(input_dir)
    for path in files:
        check_input_file(path, runner)
        batch = np.fromfile(path, dtype=dtype).reshape(shape)
        start = time.perf_counter()
        logits = runner(batch)
        latencies.append((time.perf_counter() - start) * 1000)
        atomic_write_bytes(output / RESULT_DIR / f"{path.stem}_0.bin", logits.astype(np.float32).tobytes())
    stats = latency_stats(latencies)
    atomic_write_text(output / TIME_DIR / TIME_FILE, format_latency(stats, shape[0]))
    return {**stats, "files": len(files), "batch_size": int(shape[0]), "engine": runner.engine,
            "input_dtype": runner.input_dtype, "output": str(output)}


def check_output_folder(output: Path) -> None:
    """Before the work: --output must be a folder (or not exist yet) that this user can write."""
    if output.exists() and not output.is_dir():
        raise InferError(f"--output {output} is a file: give a folder (result_Files/ and time_Result/ go there)")
    try:
        prove_writable(output)
    except OSError as exc:
        raise InferError(f"--output {output}: not a writable folder ({exc.strerror or exc})") from None


def check_classes(model: Path, classes: int, labels: np.ndarray, dataset: str, label: str) -> None:
    """A model's output must fit the data: at most the data set's classes, and more than its largest label."""
    from wrn.cifar import dataset_classes

    available = dataset_classes(dataset, label)
    if labels.size and classes <= int(labels.max()) or available and classes > available:
        raise InferError(f"model {model} gives {classes} class scores, but the data ({dataset}, {label} labels) has "
                         f"{available} classes (labels up to {int(labels.max()) if labels.size else '-'}): is it "
                         "another data set's model? Keep the export's .json sidecar beside it, or give its --config")


def check_input_file(path: Path, runner) -> None:
    """The file must hold exactly one batch of the model's input; a float file for a raw model (4 bytes a value
    instead of 1) and the other way round are named as such."""
    size, expected = path.stat().st_size, runner.input_bytes
    if size == expected:
        return
    values = int(np.prod(runner.input_shape))
    hint = ""
    if runner.raw_input and size == values * 4:
        hint = ("; it is the size of a float32 batch: preprocess wrote normalised files, but this model takes raw "
                "pixels (preprocess with --sidecar of this model, or --input raw)")
    elif not runner.raw_input and size == values:
        hint = ("; it is the size of a uint8 batch: preprocess wrote raw pixels, but this model takes normalised "
                "float32 (preprocess with --sidecar of this model, or --input normalised)")
    raise InferError(f"{path}: {size} bytes, expected {expected} ({runner.describe_input()}){hint}")


def evaluate_model(model: Path, data_url: str, *, mean: list[float], std: list[float], dataset: str = "cifar10",
                   label: str = "fine", output: Path | None = None) -> dict:
    """Top-1/top-5 of an exported .mindir or .onnx on data_url's eval split (the images normalised as `mean`/`std`,
    or as uint8 pixels for a model that normalises in its graph, in batches of the model's fixed batch size, the
    last one zero-padded); also written to `output` when given, which is checked before the work, as
    `evaluate_checkpoint` does."""
    from wrn.cifar import find_layout, read_records
    from wrn.core.metrics import EvalCounts, count_correct
    from wrn.deploy.runners import open_model
    from wrn.fileio import check_writable

    if output:
        check_writable(output)
    runner = open_model(model)
    layout = find_layout(data_url, dataset, label)
    images, labels = read_records([layout.eval_file], layout.format, layout.label)
    tensors = model_inputs(images, mean, std, RAW if runner.raw_input else NORMALISED)
    counts, size, start = EvalCounts(), runner.batch_size, time.perf_counter()
    for first in range(0, len(labels), size):
        batch = _padded(tensors[first:first + size], size)
        real = min(size, len(labels) - first)
        logits = runner(batch)
        if first == 0:
            check_classes(model, int(logits.shape[-1]), labels, dataset, label)
        counts = counts.add(count_correct(logits[:real], labels[first:first + real]))
    result = {**counts.as_dict(), "seconds": round(time.perf_counter() - start, 3), "model": str(model),
              "engine": runner.engine, "input_dtype": runner.input_dtype, "data_url": str(data_url)}
    if output:
        atomic_write_json(output, result)
    return result


def _padded(batch: np.ndarray, size: int) -> np.ndarray:
    if len(batch) == size:
        return batch
    return np.concatenate([batch, np.zeros((size - len(batch), *batch.shape[1:]), batch.dtype)])


def latency_stats(latencies_ms: list[float]) -> dict:
    # The first batch includes graph compilation; it is reported apart, not averaged in.
    steady = latencies_ms[1:] or latencies_ms
    return {"mean_ms": float(np.mean(steady)), "p50_ms": float(np.percentile(steady, 50)),
            "p99_ms": float(np.percentile(steady, 99)), "first_ms": float(latencies_ms[0]), "batches": len(latencies_ms)}


def format_latency(stats: dict, batch_size: int) -> str:
    return (f"NN inference cost average time: {stats['mean_ms']:.3f} ms of infer_count {stats['batches']}\n"
            f"batch_size: {batch_size}\nmean_ms: {stats['mean_ms']:.3f}\np50_ms: {stats['p50_ms']:.3f}\n"
            f"p99_ms: {stats['p99_ms']:.3f}\nfirst_ms: {stats['first_ms']:.3f}\n"
            f"mean_ms_per_image: {stats['mean_ms'] / batch_size:.4f}\n")


def postprocess(result_dir: Path, label_dir: Path, output: Path, num_classes: int = 10) -> dict:
    """Top-1/top-5 over every labelled image; fails on a missing or wrongly sized result file."""
    from wrn.core.metrics import EvalCounts, count_correct

    counts = EvalCounts()
    for label_file in input_files(label_dir):
        labels = np.fromfile(label_file, dtype=np.int32)
        result = result_dir / f"{label_file.stem}_0.bin"
        if not result.is_file():
            raise InferError(f"result {result} is missing (for {label_file.name})")
        size = result.stat().st_size
        if size % (num_classes * 4) or size // (num_classes * 4) < len(labels):
            raise InferError(f"result {result}: {size} bytes, expected float32 logits [B >= {len(labels)}, "
                             f"{num_classes}] (a multiple of {num_classes * 4} bytes)")
        logits = np.fromfile(result, dtype=np.float32).reshape(-1, num_classes)[:len(labels)]
        counts = counts.add(count_correct(logits, labels))
    summary = {"top1": counts.top1, "top5": counts.top5, "images": counts.images}
    atomic_write_text(output, f"top1: {counts.top1:.6f}\ntop5: {counts.top5:.6f}\nimages: {counts.images}\n"
                              f"{json.dumps(summary, sort_keys=True)}\n")
    return summary
