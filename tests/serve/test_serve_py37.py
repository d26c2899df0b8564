"""A model package served on Python 3.7 with only its declared dependencies: the inference images' Python.

`make test-serve` builds .venv-serve from wrn/serving/requirements.txt (what config.json declares). A tiny model is
trained and packaged here (the main venv, as the other tiers' fixtures), then `python -m wrn.cli serve` runs on
Python 3.7 in a subprocess and a real HTTP client (http.client, multipart built by hand) sends every eval image as
a PNG file: each answer must be the class local/eval.py counts, and the served top-1 eval's top-1.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from servekit import MODEL, Client, eval_classes, eval_set, image_file, train_and_package
from tiers import ROOT, serve_python

pytestmark = pytest.mark.serve


@pytest.fixture(scope="module")
def packaged(tmp_path_factory) -> dict:
    return train_and_package(tmp_path_factory.mktemp("serve37"))


def start_server(model_dir: Path):
    """`python -m wrn.cli serve MODEL_DIR --port 0` on Python 3.7; its first line says where it listens."""
    process = subprocess.Popen([str(serve_python()), "-m", "wrn.cli", "serve", str(model_dir), "--port", "0"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    line = process.stdout.readline()
    if not line:
        process.kill()
        pytest.fail("the server did not start: " + process.stderr.read()[-3000:])
    started = json.loads(line)
    host, port = started["url"].split("//")[1].rstrip("/").split(":")
    return {"process": process, "client": Client(host, int(port)), "started": started}


def stop_server(server: dict) -> None:
    process = server["process"]
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    finally:
        process.kill()
    # the declared dependencies are exactly what this Python has: the stand-in named no mismatch
    assert "warning:" not in process.stderr.read()


@pytest.fixture(scope="module")
def server(packaged):
    running = start_server(packaged["model_dir"])
    yield running
    stop_server(running)


def test_the_tier_holds_the_declared_dependencies_only():
    done = subprocess.run([str(serve_python()), "-c", "import sys, json, pkgutil; print(json.dumps("
                           "[sys.version_info[:2], sorted(m.name for m in pkgutil.iter_modules())]))"],
                          capture_output=True, text=True, check=True, cwd="/")
    version, modules = json.loads(done.stdout)
    assert version == [3, 7]
    assert {"numpy", "PIL", "onnxruntime"} <= set(modules)
    assert not {"mindspore", "yaml", "wrn"} & set(modules)  # wrn comes from the working folder, not installed
    freeze = subprocess.run([str(serve_python()), "-m", "pip", "freeze"], capture_output=True, text=True,
                            check=True).stdout
    pins = [line for line in (ROOT / "wrn" / "serving" / "requirements.txt").read_text().splitlines()
            if line and not line.startswith("#")]
    assert set(pins) <= set(freeze.split())


def test_every_eval_image_as_png_gets_evals_class(packaged, server):
    assert server["started"]["engine"] == "ONNX Runtime 1.14.1"
    client = server["client"]
    images, labels = eval_set(packaged["data"])
    expected = eval_classes(packaged["model_file"], packaged["data"])
    names = json.loads((packaged["model_dir"] / "labels.json").read_text())
    served = []
    for index, image in enumerate(images):
        status, answer = client.upload(image_file(image), f"eval_{index:05d}.png")
        assert status == 200, answer
        served.append(names.index(answer["predicted_label"]))
    assert served == expected
    top1 = float(np.mean(np.asarray(served) == labels))
    print(f"\nserved top-1 on {len(labels)} eval images (Python 3.7, ONNX Runtime 1.14.1): {top1:.4f}; "
          f"local/eval.py: {packaged['eval']['top1']:.4f}")
    assert top1 == packaged["eval"]["top1"] and len(labels) == packaged["eval"]["images"]


def test_jpeg_grayscale_and_rgba_files_are_answered(packaged, server):
    client = server["client"]
    pixels = np.random.default_rng(5).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    rgba = Image.fromarray(np.dstack([pixels, np.full((64, 48), 128, np.uint8)]), "RGBA")
    out = io.BytesIO()
    rgba.save(out, "PNG")
    for name, content in (("photo.jpg", image_file(pixels, "JPEG")), ("gray.png", image_file(pixels, "PNG", "L")),
                          ("alpha.png", out.getvalue())):
        status, answer = client.upload(content, name)
        assert status == 200 and len(answer["scores"]) == 5, (name, answer)


def test_bad_uploads_get_4xx_json_and_the_server_lives_on(packaged, server):
    client = server["client"]
    images, _ = eval_set(packaged["data"])
    good = image_file(images[0])
    status, expected = client.upload(good)
    assert status == 200
    cases = [
        ("non-image", lambda: client.upload(b"%PDF-1.4 not an image", "doc.pdf"), 400, "invalid_image"),
        ("empty body", lambda: client.request("POST", "/", b"", {"Content-Type": "multipart/form-data; boundary=x"}),
         400, "empty_body"),
        ("missing field", lambda: client.upload(good, "a.png", field="file"), 400, "missing_field"),
        ("wrong content type", lambda: client.request("POST", "/", good, {"Content-Type": "image/png"}), 415,
         "unsupported_content_type"),
        ("20 MB upload", lambda: client.upload(os.urandom(20 * 2 ** 20), "big.png"), 413, "body_too_large"),
    ]
    for case, call, status_expected, code in cases:
        status, answer = call()
        assert (status, answer.get("error_code")) == (status_expected, code), (case, answer)
        assert answer["error_msg"], case
        assert server["process"].poll() is None, f"the server ended after {case}"
        assert client.upload(good) == (200, expected), f"not serving after {case}"
    assert client.request("GET", "/health")[0] == 200


def test_a_normalised_model_is_served_on_python_3_7_as_the_raw_default(packaged, server, tmp_path):
    """The default package holds a raw model (uint8 NHWC, normalisation in the graph); `--input normalised` a float
    one that the service normalises: through ONNX Runtime 1.14.1 both answer alike."""
    done = run_cli("-m", "wrn.cli", "package", "--config=demo", *MODEL, f"--checkpoint={packaged['checkpoint']}",
                   "--input=normalised", f"--train_url={tmp_path / 'pkg'}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert packaged["package"]["input_kind"] == "raw"
    float_server = start_server(tmp_path / "pkg" / "model")
    try:
        images, _ = eval_set(packaged["data"])
        for index, image in enumerate(images[:20]):
            status, answer = float_server["client"].upload(image_file(image), f"eval_{index}.png")
            expected = server["client"].upload(image_file(image), f"eval_{index}.png")[1]
            assert status == 200 and answer["predicted_label"] == expected["predicted_label"], index
            assert np.allclose([s for _, s in answer["scores"]], [s for _, s in expected["scores"]], atol=1e-5)
    finally:
        stop_server(float_server)


def test_an_int8_model_is_served_on_python_3_7_as_eval_counts_it(packaged, tmp_path):
    """export --quantize int8 (ONNX Runtime 1.32's tooling here) packaged and served by ONNX Runtime 1.14.1: each
    answer is the class local/eval.py --model counts with the INT8 model, up to rounding differences between the two
    runtimes' integer kernels (at most 2 of the eval images)."""
    pytest.importorskip("onnx", reason="export --quantize needs the [onnx] extra")
    done = run_cli("local/export.py", "--config=demo", *MODEL, f"--checkpoint={packaged['checkpoint']}",
                   "--file_format=ONNX", "--batch_size=1", f"--train_url={tmp_path / 'export'}", "--quantize=int8",
                   f"--data_url={packaged['data']}")
    assert done.returncode == 0, done.stderr[-3000:]
    int8 = tmp_path / "export" / "wrn10_1_b1_int8.onnx"
    assert run_cli("-m", "wrn.cli", "package", f"--checkpoint={int8}", f"--train_url={tmp_path / 'pkg'}"
                   ).returncode == 0
    expected = eval_classes(int8, packaged["data"])
    int8_server = start_server(tmp_path / "pkg" / "model")
    try:
        assert int8_server["started"]["engine"] == "ONNX Runtime 1.14.1"
        images, labels = eval_set(packaged["data"])
        answers = []
        for index, image in enumerate(images):
            status, answer = int8_server["client"].upload(image_file(image), f"eval_{index}.png")
            assert status == 200, answer
            answers.append(answer["predicted_label"])
    finally:
        stop_server(int8_server)
    names = json.loads((tmp_path / "pkg" / "model" / "labels.json").read_text())
    served = [names.index(a) for a in answers]
    assert sum(s != e for s, e in zip(served, expected)) <= 2
    sidecar = json.loads((tmp_path / "pkg" / "model" / "wrn10_1_b1_int8.onnx.json").read_text())
    served_top1 = float(np.mean(np.asarray(served) == labels))
    assert abs(served_top1 - sidecar["quantization"]["top1_int8"]) <= 2 / len(labels)
