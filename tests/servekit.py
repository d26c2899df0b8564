"""What the serving tests share: one tiny model trained here and packaged, eval images as files, and a plain HTTP
client (http.client, multipart bodies built by hand) for the model server."""

from __future__ import annotations

import http.client
import io
import json
import uuid
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from conftest import TINY, last_json, last_json_in_process, make_cifar, run_cli

EVAL_IMAGES = 100
MODEL = [f"--{k}={TINY[k]}" for k in ("depth", "widen_factor")]


def train_and_package(work: Path) -> dict:
    """A tiny checkpoint trained here, eval's result on it, and its CPU model package (`wrn.cli package`)."""
    data = make_cifar(work / "data", train_sizes=(160,), eval_size=EVAL_IMAGES)
    trained = run_cli("local/train.py", "--config=demo", f"--data_url={data}", f"--train_url={work / 'run'}",
                      *[f"--{k}={v}" for k, v in TINY.items()])
    assert trained.returncode == 0, trained.stderr[-3000:]
    return package_run(work, data, work / "run" / "ckpt" / "best.ckpt",
                       last_json(trained.stdout))


def package_run(work: Path, data: Path, checkpoint: Path, summary: dict) -> dict:
    """eval's result on a trained checkpoint (its entry function, in this process) and the checkpoint's CPU model
    package in work/pkg (`python -m wrn.cli package` itself)."""
    from wrn.cli import eval_main

    evaluated = last_json_in_process(eval_main, "--config=demo", *MODEL, f"--data_url={data}",
                                     f"--checkpoint={checkpoint}")
    packaged = run_cli("-m", "wrn.cli", "package", "--config=demo", *MODEL, f"--checkpoint={checkpoint}",
                       f"--train_url={work / 'pkg'}")
    assert packaged.returncode == 0, packaged.stderr[-3000:]
    package = last_json(packaged.stdout)
    return {"work": work, "data": data, "checkpoint": checkpoint, "model_dir": work / "pkg" / "model",
            "model_file": work / "pkg" / "model" / package["model_file"],
            "eval": evaluated, "summary": summary, "package": package}


def eval_set(data: Path) -> tuple[np.ndarray, np.ndarray]:
    """The eval split as uint8 NHWC images and labels, read as evaluation reads it."""
    from wrn.cifar import find_layout, read_records

    layout = find_layout(data)
    return read_records([layout.eval_file], layout.format, layout.label)


def eval_classes(model_file: Path, data: Path) -> list[int]:
    """The class local/eval.py --model counts for each eval image: arg-max of the exported model's logits on the
    images as its sidecar says it takes them (wrn.deploy.infer's own inputs and runner)."""
    from wrn.deploy.infer import model_inputs
    from wrn.deploy.runners import open_model
    from wrn.serving.sidecar import Sidecar, path_of

    sidecar = Sidecar.read(path_of(model_file))
    runner = open_model(model_file)
    images, _ = eval_set(data)
    tensors = model_inputs(images, list(sidecar.normalisation.mean), list(sidecar.normalisation.std),
                           sidecar.input_kind)
    return [int(np.argmax(runner(tensors[i:i + 1])[0])) for i in range(len(tensors))]


def image_file(pixels: np.ndarray, fmt: str = "PNG", mode: str | None = None) -> bytes:
    image = Image.fromarray(pixels)
    if mode:
        image = image.convert(mode)
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def multipart(fields: Iterable[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body of (field, file name, content) parts, as browsers and curl -F write it."""
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for field, file_name, content in fields:
        out.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\n"
                  f"Content-Type: application/octet-stream\r\n\r\n".encode())
        out.write(content)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


class Client:
    """One kept-alive HTTP connection to the server (reopened when the server closes it)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.connection = http.client.HTTPConnection(host, port, timeout=60)

    def request(self, method: str, path: str = "/", body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, dict]:
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, body=body, headers=headers or {})
                response = self.connection.getresponse()
                payload = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.connection.close()
                assert response.getheader("Content-Type") == "application/json", response.getheaders()
                return response.status, json.loads(payload)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.connection.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def upload(self, content: bytes, file_name: str = "image.png", field: str = "images") -> tuple[int, dict]:
        body, content_type = multipart([(field, file_name, content)])
        return self.request("POST", "/", body, {"Content-Type": content_type})

    def close(self) -> None:
        self.connection.close()
