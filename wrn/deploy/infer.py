"""The Ascend310 app's file formats, a CPU runner that writes them too (.mindir or .onnx, `runners`), and the
evaluation of an exported file.

preprocess:  eval split -> img_data/wrn_NNNNN.bin (float32 NCHW, normalised, one batch per file; the last batch
             zero-padded to the full batch) + label/wrn_NNNNN.bin (int32, only the real images' labels).
inference:   result_Files/wrn_NNNNN_0.bin (float32 logits [B, classes]) + time_Result/test_perform_static.txt.
postprocess: acc.log with top-1, top-5 and the image count; a missing or wrongly sized result is an error.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from wrn.errors import WrnError
from wrn.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text

IMAGE_DIR, LABEL_DIR, RESULT_DIR, TIME_DIR = "img_data", "label", "result_Files", "time_Result"
TIME_FILE = "test_perform_static.txt"
IMAGE_ELEMENTS = 3 * 32 * 32


class InferError(WrnError):
    """Inference files are missing, malformed or inconsistent."""


def preprocess(data_url: str, output: Path, *, mean: list[float], std: list[float], batch_size: int = 1,
               dataset: str = "cifar10", label: str = "fine") -> dict:
    """The eval split of data_url as normalised float32 NCHW batches (`mean`/`std` per RGB channel in [0, 1])."""
    from wrn.core.data import find_layout, read_records

    layout = find_layout(data_url, dataset, label)
    images, labels = read_records([layout.eval_file], layout.format, layout.label)
    tensors = normalised(images, mean, std)
    count = 0
    for index, start in enumerate(range(0, len(labels), batch_size)):
        chunk = tensors[start:start + batch_size]
        real, batch = len(chunk), _padded(chunk, batch_size)
        name = f"wrn_{index:05d}.bin"
        atomic_write_bytes(output / IMAGE_DIR / name, np.ascontiguousarray(batch, np.float32).tobytes())
        atomic_write_bytes(output / LABEL_DIR / name, labels[start:start + real].astype(np.int32).tobytes())
        count += 1
    return {"images": int(len(labels)), "files": count, "batch_size": batch_size, "output": str(output)}


def data_of(sidecar: Path) -> dict:
    """What an export was trained on, from its JSON sidecar: mean, std, dataset and label (older sidecars: CIFAR-10)."""
    try:
        values = json.loads(sidecar.read_text())
        return {"mean": [float(v) for v in values["normalisation"]["mean"]],
                "std": [float(v) for v in values["normalisation"]["std"]],
                "dataset": str(values.get("dataset", "cifar10")), "label": str(values.get("label", "fine"))}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InferError(f"sidecar {sidecar}: no readable normalisation ({type(exc).__name__}: {exc})") from None


def input_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.bin"))
    if not files:
        raise InferError(f"{folder}: no .bin input files")
    return files


def run_model(model: Path, input_dir: Path, output: Path) -> dict:
    """Run an exported .mindir or .onnx on CPU over every input file; result and timing files as the C++ app writes
    them."""
    from wrn.deploy.runners import open_model

    runner = open_model(model)
    shape = runner.input_shape
    expected_bytes = int(np.prod(shape)) * 4
    latencies = []
    files = input_files(input_dir)
    for path in files:
        size = path.stat().st_size
        if size != expected_bytes:
            raise InferError(f"{path}: {size} bytes, expected {expected_bytes} (float32 {list(shape)})")
        batch = np.fromfile(path, dtype=np.float32).reshape(shape)
        start = time.perf_counter()
        logits = runner(batch)
        latencies.append((time.perf_counter() - start) * 1000)
        atomic_write_bytes(output / RESULT_DIR / f"{path.stem}_0.bin", logits.astype(np.float32).tobytes())
    stats = latency_stats(latencies)
    atomic_write_text(output / TIME_DIR / TIME_FILE, format_latency(stats, shape[0]))
    return {**stats, "files": len(files), "batch_size": int(shape[0]), "engine": runner.engine,
            "output": str(output)}


def evaluate_model(model: Path, data_url: str, *, mean: list[float], std: list[float], dataset: str = "cifar10",
                   label: str = "fine", output: Path | None = None) -> dict:
    """Top-1/top-5 of an exported .mindir or .onnx on data_url's eval split (the images normalised as `mean`/`std`,
    in batches of the model's fixed batch size, the last one zero-padded); also written to `output` when given,
    which is checked before the work, as `evaluate_checkpoint` does."""
    from wrn.core.data import find_layout, read_records
    from wrn.core.metrics import EvalCounts, count_correct
    from wrn.deploy.runners import open_model
    from wrn.run.evaluate import check_writable

    if output:
        check_writable(output)
    runner = open_model(model)
    layout = find_layout(data_url, dataset, label)
    images, labels = read_records([layout.eval_file], layout.format, layout.label)
    tensors = normalised(images, mean, std)
    counts, size, start = EvalCounts(), runner.batch_size, time.perf_counter()
    for first in range(0, len(labels), size):
        batch = _padded(tensors[first:first + size], size)
        real = min(size, len(labels) - first)
        counts = counts.add(count_correct(runner(batch)[:real], labels[first:first + real]))
    result = {**counts.as_dict(), "seconds": round(time.perf_counter() - start, 3), "model": str(model),
              "engine": runner.engine, "data_url": str(data_url)}
    if output:
        atomic_write_json(output, result)
    return result


def normalised(images: np.ndarray, mean: list[float], std: list[float]) -> np.ndarray:
    """uint8 NHWC images as float32 NCHW, normalised per RGB channel (`mean`/`std` in [0, 1])."""
    mean_nchw = np.asarray(mean, np.float32).reshape(1, 3, 1, 1)
    std_nchw = np.asarray(std, np.float32).reshape(1, 3, 1, 1)
    return ((images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0) - mean_nchw) / std_nchw


def _padded(batch: np.ndarray, size: int) -> np.ndarray:
    if len(batch) == size:
        return batch
    return np.concatenate([batch, np.zeros((size - len(batch), *batch.shape[1:]), np.float32)])


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
