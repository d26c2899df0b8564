"""Inference images/s on CPU: the exported ONNX through ONNX Runtime (the runner `local/infer.py --model X.onnx`
uses), its INT8 model (`export --quantize int8`), the exported MINDIR through MindSpore's GraphCell, the checkpoint
network in MindSpore, and the same WRN in PyTorch (eval mode, no_grad), at batch 1 and 32; each engine in its own
process, alternating, medians of rounds. The load average is printed beside each row (a shared machine).

The networks are randomly initialised and the INT8 model is calibrated on generated CIFAR-format images: speed does
not depend on the weights' values, and the accuracy check is `export --quantize`'s own (its tolerance is lifted
here: a random network has no accuracy to keep).

usage: python bench/infer.py [--models wrn16_4,wrn28_10] [--batches 1,32] [--seconds 5] [--rounds 2]
       [--engines onnxruntime,onnxruntime_int8,mindspore,pytorch] [--int8_format QDQ|QOperator] [--int8_per_tensor]
       [--threads N]
       (last line: JSON; PyTorch, ONNX Runtime and onnx optional: pip install -e '.[bench]')
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GLOG_v", "3")

ENGINES = ("onnxruntime", "onnxruntime_int8", "mindspore", "pytorch")


def throughput(run, batch: int, seconds: float) -> float:
    run()
    run()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run()
        count += batch
    return count / (time.perf_counter() - start)


def calibration_data(folder: Path, images: int = 320) -> Path:
    """A CIFAR-10 folder of random images (train/ + eval/): what INT8 calibration and its check read."""
    from wrn.cifar import write_records

    rng = np.random.default_rng(0)
    for name, count in (("train/data_batch_1.bin", images), *((f"train/data_batch_{i}.bin", 1) for i in range(2, 6)),
                        ("eval/test_batch.bin", 64)):
        write_records(folder / name, rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8),
                      rng.integers(0, 10, count).astype(np.int32))
    return folder


def exported(recipe: str, batch: int, work: Path, int8_format: str, int8: bool, per_channel: bool = True) -> dict:
    """A randomly initialised network of `recipe` exported as MINDIR and ONNX (each checked by export itself), and
    the ONNX one quantized to INT8."""
    from wrn.config import load_config
    from wrn.deploy.export import export
    from wrn.deploy.quantize import QuantizeOptions, QuantizeRequest
    from wrn.output import checkpoint as ckpt
    from wrn.builder.build import build_network, setup_runtime

    cfg = load_config(recipe)
    setup_runtime(cfg)
    ckpt.save(work / "random.ckpt", build_network(cfg))
    files = {"MINDIR": export(cfg, str(work / "random.ckpt"), "MINDIR", batch, str(work))["path"]}
    request = QuantizeRequest(str(calibration_data(work / "data")), options=QuantizeOptions(
        calibration_images=256, tolerance_points=100.0, quant_format=int8_format, per_channel=per_channel)) \
        if int8 else None
    result = export(cfg, str(work / "random.ckpt"), "ONNX", batch, str(work), int8=request)
    files["ONNX"] = result["path"]
    if int8:
        files["ONNX_INT8"] = result["int8"]["path"]
    return files


def mindspore_side(recipe: str, batch: int, seconds: float, files: dict) -> dict:
    import mindspore as ms

    from wrn.config import load_config
    from wrn.deploy.runners import open_model
    from wrn.builder.build import load_network, setup_runtime

    cfg = load_config(recipe)
    topology = setup_runtime(cfg)
    x = np.random.default_rng(0).normal(size=(batch, 3, 32, 32)).astype(np.float32)
    graph = open_model(Path(files["MINDIR"]))
    net = load_network(cfg, str(Path(files["MINDIR"]).parent / "random.ckpt"), topology)
    tensor = ms.Tensor(x)
    return {"mindir": throughput(lambda: graph(x), batch, seconds),
            "checkpoint_net": throughput(lambda: net(tensor).asnumpy(), batch, seconds)}


THREADS = int(os.environ.get("WRN_BENCH_THREADS", "0"))  # 0: each engine's default (the cores)


def onnx_model(path: Path):
    """The runner's session (its own options), with THREADS intra-op threads when set."""
    from wrn.deploy.runners import onnx_session, open_model

    if not THREADS:
        return open_model(path)
    session = onnx_session(path, THREADS)
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})[0]


def onnxruntime_side(recipe: str, batch: int, seconds: float, files: dict) -> dict:
    model = onnx_model(Path(files["ONNX"]))
    x = np.random.default_rng(0).normal(size=(batch, 3, 32, 32)).astype(np.float32)
    return {"onnxruntime": throughput(lambda: model(x), batch, seconds)}


def onnxruntime_int8_side(recipe: str, batch: int, seconds: float, files: dict) -> dict:
    model = onnx_model(Path(files["ONNX_INT8"]))  # the same runner and session options as the FP32 model
    x = np.random.default_rng(0).normal(size=(batch, 3, 32, 32)).astype(np.float32)
    return {"onnxruntime_int8": throughput(lambda: model(x), batch, seconds)}


def pytorch_side(recipe: str, batch: int, seconds: float, files: dict) -> dict:
    import torch

    from bench.torch_wrn import WideResNet
    from wrn.config import load_config

    cfg = load_config(recipe)
    if THREADS:
        torch.set_num_threads(THREADS)
    model = WideResNet(cfg.depth, cfg.widen_factor).eval()
    x = torch.randn(batch, 3, 32, 32)
    with torch.no_grad():
        return {"pytorch": throughput(lambda: model(x), batch, seconds)}


def child(engine: str, model: str, batch: int, seconds: float, files: dict, args) -> dict | None:
    done = subprocess.run([sys.executable, __file__, "--child", engine, "--model", model, "--batch", str(batch),
                           "--seconds", str(seconds), "--files", json.dumps(files), "--engines", args.engines,
                           "--int8_format", args.int8_format] + (["--int8_per_tensor"] if args.int8_per_tensor else []),
                          capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        print(f"{engine} failed: {done.stderr[-500:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="wrn16_4")
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of every engine")
    parser.add_argument("--child", default="")
    parser.add_argument("--model", default="")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--files", default="{}")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--int8_format", default="QDQ", choices=("QDQ", "QOperator"))
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads of ONNX Runtime and PyTorch (default: "
                                                                   "each engine's own, the cores)")
    parser.add_argument("--int8_per_tensor", action="store_true", help="one scale per weight tensor (default: per "
                                                                       "output channel, as export --quantize)")
    args = parser.parse_args()
    engines = args.engines.split(",")
    if args.threads:
        os.environ["WRN_BENCH_THREADS"] = str(args.threads)  # read by the children
    if args.child:
        files = json.loads(args.files)
        if args.child == "export":
            print(json.dumps(exported(args.model, args.batch, Path(files["work"]), args.int8_format,
                                      "onnxruntime_int8" in engines, not args.int8_per_tensor)))
            return 0
        side = {"mindspore": mindspore_side, "onnxruntime": onnxruntime_side, "pytorch": pytorch_side,
                "onnxruntime_int8": onnxruntime_int8_side}[args.child]
        print(json.dumps(side(args.model, args.batch, args.seconds, files)))
        return 0
    figures = {}
    for model in args.models.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            with tempfile.TemporaryDirectory(prefix="wrn-bench-infer-") as work:
                files = child("export", model, batch, 0, {"work": work}, args)
                if files is None:
                    return 1
                samples: dict[str, list[float]] = {}
                load = [os.getloadavg()[0]]
                for _ in range(args.rounds):
                    for engine in engines:
                        for name, value in (child(engine, model, batch, args.seconds, files, args) or {}).items():
                            samples.setdefault(name, []).append(value)
                load.append(os.getloadavg()[0])
            row = {f"{name}_images_per_s": round(statistics.median(values), 1) for name, values in samples.items()}
            for name in ("onnxruntime", "onnxruntime_int8", "mindir"):
                if f"{name}_images_per_s" in row and "pytorch_images_per_s" in row:
                    row[f"{name}_vs_pytorch"] = round(row[f"{name}_images_per_s"] / row["pytorch_images_per_s"], 3)
            if "onnxruntime_int8_images_per_s" in row and "onnxruntime_images_per_s" in row:
                row["onnxruntime_int8_vs_fp32"] = round(row["onnxruntime_int8_images_per_s"] /
                                                        row["onnxruntime_images_per_s"], 3)
            row["load_average"] = [round(v, 2) for v in load]  # 1-minute load before and after the row's rounds
            figures[f"{model}_b{batch}"] = row
            print(f"{model} batch {batch}: {json.dumps(row)}", flush=True)
    print(json.dumps({"benchmark": "infer", "rounds": args.rounds, "int8_format": args.int8_format,
                      "int8_per_channel": not args.int8_per_tensor, "threads": args.threads or "default",
                      "cores": os.cpu_count(), "results": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
