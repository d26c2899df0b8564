"""The Ascend310 app built and run against a real MindSpore C++ runtime: mindspore-lite 2.0.0 on x86 CPU.

`make test-cpp` builds .venv-lite (Python 3.7 + the mindspore-lite wheel: its include/api headers, its runtime
library and its converter). A checkpoint trained here is exported to ONNX, converted by that runtime's converter,
run by the app through run_infer_310.sh, and scored by postprocess.py: its top-1 must equal local/eval.py's. The same
holds for its raw export (`--input raw`: uint8 NHWC pixels in, the normalisation inside the graph), whose input the
app reads as uint8 from the model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY, make_cifar, run_cli
from tiers import ROOT, image_python, libpython_dir, lite_package, lite_python

pytestmark = pytest.mark.cpp

EVAL_IMAGES = 100
MODEL = [f"--{k}={TINY[k]}" for k in ("depth", "widen_factor")]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict:
    """A tiny checkpoint trained here, its eval result, and its ONNX and (MindSpore 2.8) MINDIR exports."""
    work = tmp_path_factory.mktemp("cpp")
    data = make_cifar(work / "data", train_sizes=(160,), eval_size=EVAL_IMAGES)
    trained = run_cli("local/train.py", "--config=demo", f"--data_url={data}", f"--train_url={work / 'run'}",
                      *[f"--{k}={v}" for k, v in TINY.items()])
    assert trained.returncode == 0, trained.stderr[-3000:]
    checkpoint = work / "run" / "ckpt" / "best.ckpt"
    evaluated = run_cli("local/eval.py", "--config=demo", *MODEL, f"--data_url={data}", f"--checkpoint={checkpoint}")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    files = {}
    for key, file_format, kind in (("ONNX", "ONNX", "normalised"), ("MINDIR", "MINDIR", "normalised"),
                                   ("RAW_ONNX", "ONNX", "raw")):
        done = run_cli("local/export.py", "--config=demo", *MODEL, f"--checkpoint={checkpoint}",
                       f"--file_format={file_format}", "--batch_size=1", f"--train_url={work / 'export'}",
                       f"--input={kind}")
        assert done.returncode == 0, done.stderr[-3000:]
        files[key] = Path(json.loads(done.stdout.strip().splitlines()[-1])["path"])
    return {"work": work, "data": data, "eval": json.loads(evaluated.stdout.strip().splitlines()[-1]), **files}


def app_env(work: Path) -> dict:
    runtime = lite_package(lite_python())
    return {**os.environ, "MINDSPORE_PATH": str(runtime), "BUILD_DIR": str(work / "build"),
            "PYTHON": sys.executable, "DEVICE_TYPE": "CPU", "GLOG_v": "3",
            "LD_LIBRARY_PATH": str(runtime / "lib")}


def convert(onnx: Path) -> dict:
    """An ONNX export converted by the runtime's own converter (cpp_infer/convert_onnx.py under Python 3.7)."""
    done = subprocess.run([str(lite_python()), str(ROOT / "cpp_infer" / "convert_onnx.py"), str(onnx)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    details = json.loads(done.stdout.strip().splitlines()[-1])
    assert details["converter"] == "mindspore-lite 2.0.0"
    return details


@pytest.fixture(scope="module")
def converted(exported) -> Path:
    details = convert(exported["ONNX"])
    assert details["input_shape"] == [1, 3, 32, 32]
    return Path(details["path"])


@pytest.fixture(scope="module")
def converted_raw(exported) -> Path:
    details = convert(exported["RAW_ONNX"])
    assert (details["input_shape"], details["input_dtype"]) == ([1, 32, 32, 3], "uint8")
    return Path(details["path"])


def run_app(exported: dict, model: Path, name: str) -> Path:
    """run_infer_310.sh as a user runs it (preprocess, build.sh, the app, postprocess), on CPU."""
    work = exported["work"] / name
    work.mkdir()
    done = subprocess.run(["bash", str(ROOT / "cpp_infer" / "run_infer_310.sh"), str(model),
                           str(exported["data"]), "0"], cwd=work, env=app_env(exported["work"]),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    return work


@pytest.fixture(scope="module")
def app_run(exported, converted) -> Path:
    return run_app(exported, converted, "infer")


@pytest.fixture(scope="module")
def app_run_raw(exported, converted_raw, app_run) -> Path:
    return run_app(exported, converted_raw, "infer_raw")


def test_app_on_the_real_runtime_scores_exactly_what_eval_scores(exported, app_run):
    work = app_run
    assert (exported["work"] / "build" / "main").is_file()
    accuracy = json.loads((work / "acc.log").read_text().strip().splitlines()[-1])
    assert accuracy["images"] == exported["eval"]["images"] == EVAL_IMAGES
    assert accuracy["top1"] == exported["eval"]["top1"] and accuracy["top5"] == exported["eval"]["top5"]
    timing = (work / "time_Result" / "test_perform_static.txt").read_text()
    assert f"infer_count {EVAL_IMAGES}" in timing and "mean_ms_per_image:" in timing
    print(f"\nC++ app (mindspore-lite 2.0.0, CPU), batch 1:\n{timing}")


def test_app_on_a_raw_model_reads_uint8_pixels_and_scores_exactly_what_eval_scores(exported, app_run, app_run_raw):
    work = app_run_raw
    inputs = sorted((work / "preprocess_Result" / "img_data").glob("*.bin"))
    assert len(inputs) == EVAL_IMAGES and all(p.stat().st_size == 32 * 32 * 3 for p in inputs)  # uint8 NHWC
    accuracy = json.loads((work / "acc.log").read_text().strip().splitlines()[-1])
    assert accuracy["images"] == exported["eval"]["images"] == EVAL_IMAGES
    assert accuracy["top1"] == exported["eval"]["top1"] and accuracy["top5"] == exported["eval"]["top5"]
    # The same network: the raw model's logits are the float model's, image by image.
    for result in sorted((work / "result_Files").glob("*.bin")):
        np.testing.assert_allclose(np.fromfile(result, dtype=np.float32),
                                   np.fromfile(app_run / "result_Files" / result.name, dtype=np.float32), atol=1e-4)
    print("\nC++ app (mindspore-lite 2.0.0, CPU), raw uint8 model, batch 1:\n" +
          (work / "time_Result" / "test_perform_static.txt").read_text())


def test_app_refuses_input_files_of_the_other_kind_with_one_line(exported, app_run, app_run_raw, converted,
                                                                converted_raw):
    app = exported["work"] / "build" / "main"
    float_files = app_run / "preprocess_Result" / "img_data"
    raw_files = app_run_raw / "preprocess_Result" / "img_data"
    done = subprocess.run([str(app), f"--mindir_path={converted_raw}", f"--input_dir={float_files}",
                           f"--output_dir={exported['work'] / 'mismatch'}", "--device_type=CPU"],
                          capture_output=True, text=True, timeout=120, env=app_env(exported["work"]))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: {float_files / 'wrn_00000.bin'}: 12288 bytes, expected 3072 (the model's input: uint8 NHWC "
        "[1,32,32,3], raw pixels that the model normalises itself); that is the size of a float32 batch: "
        "preprocess.py wrote normalised files, but this model takes raw uint8 pixels (preprocess.py --sidecar "
        "MODEL.json, or --input raw)")
    done = subprocess.run([str(app), f"--mindir_path={converted}", f"--input_dir={raw_files}",
                           f"--output_dir={exported['work'] / 'mismatch'}", "--device_type=CPU"],
                          capture_output=True, text=True, timeout=120, env=app_env(exported["work"]))
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "3072 bytes, expected 12288 (the model's input: float32 NCHW [1,3,32,32]" in last
    assert "size of a uint8 batch" in last
    assert not (exported["work"] / "mismatch" / "result_Files" / "wrn_00000_0.bin").exists()


def test_a_mindir_newer_than_the_runtime_is_one_error_line_not_an_abort(exported, app_run):
    app = exported["work"] / "build" / "main"
    inputs = app_run / "preprocess_Result" / "img_data"
    done = subprocess.run([str(app), f"--mindir_path={exported['MINDIR']}", f"--input_dir={inputs}",
                           f"--output_dir={exported['work'] / 'newer'}", "--device_type=CPU"],
                          capture_output=True, text=True, timeout=120, env=app_env(exported["work"]))
    assert done.returncode == 1, done.stderr[-3000:]
    assert "maximum mind ir version: 1" in done.stderr  # the runtime's own words, MindSpore 2.8 writes version 3
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: building {exported['MINDIR']} on CPU:") and "export with the runtime's" in last
    missing = subprocess.run([str(app), "--mindir_path=/nonexistent.mindir", f"--input_dir={inputs}"],
                             capture_output=True, text=True, timeout=60, env=app_env(exported["work"]))
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: MINDIR /nonexistent.mindir is not a readable file"


def test_cpu_runner_and_app_write_the_same_logits(exported, app_run):
    """local/infer.py (MindSpore 2.8 on the 2.8 MINDIR) and the app (Lite on the converted file) agree per image."""
    work = app_run
    runner = run_cli("local/infer.py", f"--mindir={exported['MINDIR']}",
                     f"--input={work / 'preprocess_Result' / 'img_data'}", f"--output={exported['work'] / 'runner'}")
    assert runner.returncode == 0, runner.stderr[-3000:]
    for result in sorted((work / "result_Files").glob("*.bin")):
        ours = np.fromfile(exported["work"] / "runner" / "result_Files" / result.name, dtype=np.float32)
        np.testing.assert_allclose(np.fromfile(result, dtype=np.float32), ours, atol=1e-4)


def test_latency_benchmark_runs_and_ends_with_json():
    done = run_cli("bench/cpp_infer.py", "--models=demo", "--batches=2", "--images=8", "--rounds=1",
                   f"--lite-python={lite_python()}", timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["benchmark"] == "cpp_infer" and figures["results"]["demo_b2"]["images"] == 8


def test_app_links_against_mindspore_2_0_libmindspore_and_reports_what_it_cannot_run(exported, app_run, tmp_path):
    """The mindspore 2.0.0 wheel (the image tier's) carries include/api and libmindspore.so, which leaves Python, GE
    and ACL symbols undefined: it links only with --allow-shlib-undefined. Its C++ API builds models on Ascend only,
    so on this CPU it must answer with one error line."""
    venv = image_python().parent.parent
    mindspore = sorted(venv.glob("lib/python3*/site-packages/mindspore"))[0]
    env = {**os.environ, "MINDSPORE_PATH": str(mindspore), "BUILD_DIR": str(tmp_path / "build")}
    built = subprocess.run(["bash", str(ROOT / "cpp_infer" / "build.sh")], capture_output=True, text=True, env=env)
    assert built.returncode == 0, built.stderr[-3000:]
    done = subprocess.run([str(tmp_path / "build" / "main"), f"--mindir_path={exported['MINDIR']}",
                           f"--input_dir={app_run / 'preprocess_Result' / 'img_data'}", "--device_type=CPU",
                           f"--output_dir={tmp_path}"], capture_output=True, text=True, timeout=120,
                          env={**env, "LD_LIBRARY_PATH": f"{mindspore / 'lib'}:{libpython_dir(image_python())}"})
    assert done.returncode == 1, done.stderr[-3000:]
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: building {exported['MINDIR']} on CPU:")

