"""Latency per image of the C++ app (cpp_infer, mindspore-lite 2.0.0 on CPU) beside the Python CPU runner
(local/infer.py: the MINDIR through MindSpore 2.8.0, and the ONNX export through ONNX Runtime), on the same model,
batch size and input files; alternating rounds.

usage: python bench/cpp_infer.py [--models wrn16_4] [--batches 1,32] [--images 256] [--rounds 2]
needs `make test-cpp` first (.venv-lite: the runtime, its headers and its converter). Last line: JSON.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GLOG_v", "3")


def lite_runtime(lite_python: Path) -> Path:
    found = sorted(lite_python.parent.parent.glob("lib/python3*/site-packages/mindspore_lite"))
    if not lite_python.exists() or not found:
        sys.exit(f"error: {lite_python} with mindspore-lite not found: run `make test-cpp` first")
    return found[0]


def export_pair(recipe: str, batch: int, work: Path) -> dict:
    """A freshly initialised network of the recipe (latency does not depend on the weights), as MINDIR and ONNX."""
    from wrn.output import checkpoint as ckpt
    from wrn.builder.build import build_network, setup_runtime
    from wrn.config import load_config
    from wrn.deploy.export import export

    cfg = load_config(recipe)
    setup_runtime(cfg)
    ckpt.save(work / "random.ckpt", build_network(cfg))
    return {fmt: Path(export(cfg, str(work / "random.ckpt"), fmt, batch, str(work / "export"))["path"])
            for fmt in ("MINDIR", "ONNX")}


def write_inputs(folder: Path, images: int, batch: int) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for index in range(max(1, images // batch)):
        rng.normal(size=(batch, 3, 32, 32)).astype(np.float32).tofile(folder / f"wrn_{index:05d}.bin")


def mean_ms_per_image(time_file: Path) -> float:
    for line in time_file.read_text().splitlines():
        if line.startswith("mean_ms_per_image:"):
            return float(line.split(":")[1])
    raise ValueError(f"{time_file}: no mean_ms_per_image line")


def run(command: list, env: dict, output: Path) -> float:
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(map(str, command[:3]))} failed: {done.stderr[-1500:]}")
    return mean_ms_per_image(output / "time_Result" / "test_perform_static.txt")


def measure(recipe: str, batch: int, images: int, rounds: int, lite_python: Path, work: Path) -> dict:
    runtime = lite_runtime(lite_python)
    files = export_pair(recipe, batch, work)
    converted = subprocess.run([str(lite_python), str(ROOT / "cpp_infer" / "convert_onnx.py"), str(files["ONNX"])],
                               capture_output=True, text=True)
    if converted.returncode != 0:
        sys.exit(f"error: conversion failed: {converted.stderr[-1500:]}")
    lite_mindir = json.loads(converted.stdout.strip().splitlines()[-1])["path"]
    env = {**os.environ, "MINDSPORE_PATH": str(runtime), "BUILD_DIR": str(work / "build"),
           "LD_LIBRARY_PATH": str(runtime / "lib")}
    built = subprocess.run(["bash", str(ROOT / "cpp_infer" / "build.sh")], capture_output=True, text=True, env=env)
    if built.returncode != 0:
        sys.exit(f"error: build failed: {built.stderr[-1500:]}")
    write_inputs(work / "inputs", images, batch)
    app, runner, onnx_runner = [], [], []
    for round_ in range(rounds):
        runner.append(run([sys.executable, "local/infer.py", f"--model={files['MINDIR']}",
                           f"--input={work / 'inputs'}", f"--output={work / f'runner{round_}'}"], env,
                          work / f"runner{round_}"))
        onnx_runner.append(run([sys.executable, "local/infer.py", f"--model={files['ONNX']}",
                                f"--input={work / 'inputs'}", f"--output={work / f'onnx{round_}'}"], env,
                               work / f"onnx{round_}"))
        app.append(run([str(work / "build" / "main"), f"--mindir_path={lite_mindir}", f"--input_dir={work / 'inputs'}",
                        f"--output_dir={work / f'app{round_}'}", "--device_type=CPU"], env, work / f"app{round_}"))
    return {"cpp_app_ms_per_image": round(median(app), 3), "python_runner_ms_per_image": round(median(runner), 3),
            "onnx_runner_ms_per_image": round(median(onnx_runner), 3),
            "runner_over_app": round(median(runner) / median(app), 2),
            "onnx_runner_over_app": round(median(onnx_runner) / median(app), 2),
            "images": max(1, images // batch) * batch}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="wrn16_4")
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--lite-python", type=Path, default=ROOT / ".venv-lite" / "bin" / "python")
    args = parser.parse_args()
    figures = {}
    for model in args.models.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            with tempfile.TemporaryDirectory(prefix="wrn-bench-cpp-") as work:
                row = measure(model, batch, args.images, args.rounds, args.lite_python, Path(work))
            figures[f"{model}_b{batch}"] = row
            print(f"{model} batch {batch}: {json.dumps(row)}", flush=True)
    print(json.dumps({"benchmark": "cpp_infer", "results": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
