"""The model package (`wrn.cli package`) and its service through the model-server stand-in, on this Python.

The session's learnt_run is packaged once per session; the Python 3.7 tier (tests/serve/) runs the same package on
the inference images' Python with only its declared dependencies.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, made_once, run_in_process
from servekit import MODEL, Client, eval_classes, eval_set, image_file, multipart, package_run
from test_sidecar import CURRENT, RAW
from wrn.cli import export_main, package_main
from wrn.deploy.package import HELPERS, pip_pins
from wrn.serving.classes import CIFAR10, CIFAR100_COARSE, CIFAR100_FINE, DIGITS, class_names
from wrn.serving.modelserver.server import ModelServer, load_package
from wrn.serving.runner import ModelRunner
from wrn.serving.sidecar import Sidecar


@pytest.fixture(scope="session")
def packaged(tmp_path_factory, learnt_run) -> dict:
    """learnt_run's best checkpoint packaged once per session (whichever worker asks first), read-only."""
    def make(work: Path) -> dict:
        made = package_run(work, learnt_run["data"], learnt_run["run"] / "ckpt" / "best.ckpt", learnt_run["summary"])
        return {k: str(v) if isinstance(v, Path) else v for k, v in made.items()}

    made = made_once(tmp_path_factory, "serving_package", make)
    return {**made, **{key: Path(made[key]) for key in ("work", "data", "checkpoint", "model_dir", "model_file")}}


def cli(main, *argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """A command's entry function in this process, as a finished process (the package command's own run as a
    script: the packaged fixture)."""
    status, out, err = run_in_process(main, *argv, env=env)
    return subprocess.CompletedProcess([main.__name__, *argv], status, out, err)


@pytest.fixture(scope="module")
def service(packaged):
    return load_package(packaged["model_dir"]).service


@pytest.fixture(scope="module")
def server(packaged):
    """The stand-in model server on a free port, in a thread of this process."""
    httpd = ModelServer(("127.0.0.1", 0), load_package(packaged["model_dir"]), max_body=12 * 2 ** 20)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _upload(service, content: bytes, name: str = "image.png") -> dict:
    return service.inference({"images": {name: io.BytesIO(content)}})


def test_package_holds_what_the_specification_lists(packaged):
    folder = packaged["model_dir"]
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    # a checkpoint is packaged as a raw model: uint8 NHWC pixels in, the recipe's normalisation in the graph
    assert files == sorted(["config.json", "customize_service.py", "labels.json", "tmp.om", "wrn10_1_b1_raw.onnx",
                            "wrn10_1_b1_raw.onnx.json"] + [f"wrn_serving/{h}" for h in HELPERS])
    assert [p.name for p in folder.parent.iterdir()] == ["model"]  # the folder ModelArts imports holds model/ only
    # every serving module but the template and the stand-in travels with the package
    serving = ROOT / "wrn" / "serving"
    assert set(HELPERS) == {p.name for p in serving.glob("*.py")} - {"customize_service.py"}
    assert (folder / "tmp.om").stat().st_size == 0
    assert json.loads((folder / "labels.json").read_text()) == list(DIGITS)  # the demo recipe's digits
    sidecar = json.loads((folder / "wrn10_1_b1_raw.onnx.json").read_text())
    assert sidecar["file_format"] == "ONNX" and packaged["package"]["input_kind"] == "raw"
    assert (sidecar["input_shape"], sidecar["input_dtype"], sidecar["input_layout"]) == ([1, 32, 32, 3], "uint8",
                                                                                          "NHWC")


def test_config_json_fields(packaged):
    config = json.loads((packaged["model_dir"] / "config.json").read_text())
    assert config["model_algorithm"] == "image_classification" and config["model_type"] == "MindSpore"
    assert config["runtime"] == "mindspore_1.7.0-cpu-py_3.7-ubuntu_18.04-x86_64"
    (api,) = config["apis"]
    assert api["url"] == "/" and api["method"] == "post"
    assert api["request"] == {"Content-type": "multipart/form-data",
                              "data": {"type": "object", "properties": {"images": {"type": "file"}}}}
    assert api["response"]["Content-type"] == "application/json"
    assert api["response"]["data"]["required"] == ["predicted_label", "scores"]
    (dependency,) = config["dependencies"]
    assert dependency["installer"] == "pip"
    assert dependency["packages"] == pip_pins() == [
        {"package_name": "numpy", "package_version": "1.21.6", "restraint": "EXACT"},
        {"package_name": "Pillow", "package_version": "9.5.0", "restraint": "EXACT"},
        {"package_name": "onnxruntime", "package_version": "1.14.1", "restraint": "EXACT"}]
    # the run's best evaluation, from the metrics.jsonl next to the checkpoint
    assert config["metrics"] == {"accuracy": packaged["summary"]["best_top1"]}


def test_every_eval_image_as_png_gets_the_class_eval_counts(packaged, service):
    images, labels = eval_set(packaged["data"])
    expected = eval_classes(packaged["model_file"], packaged["data"])
    names = list(DIGITS)
    served = [names.index(_upload(service, image_file(image))["predicted_label"]) for image in images]
    assert served == expected
    top1 = float(np.mean(np.asarray(served) == labels))
    assert top1 == packaged["eval"]["top1"]


def test_answer_is_the_documented_response(packaged, service):
    images, _ = eval_set(packaged["data"])
    answer = _upload(service, image_file(images[0]))
    # the same request in the list form the page also shows, and as the documented JSON form (base64)
    assert service.inference([{"images": {"a.png": io.BytesIO(image_file(images[0]))}}]) == answer
    assert service.inference({"images": base64.b64encode(image_file(images[0])).decode()}) == answer
    assert set(answer) == {"predicted_label", "scores"}
    assert len(answer["scores"]) == 5 and answer["scores"][0][0] == answer["predicted_label"]
    probabilities = [score for _, score in answer["scores"]]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1 + 1e-9
    assert all(name in DIGITS for name, _ in answer["scores"])
    json.dumps(answer)  # plain JSON types


@pytest.mark.parametrize("kind", ["jpeg", "grayscale", "rgba", "palette_transparent", "gray16", "large_webp",
                                  "bmp", "tiny_gif", "exif_rotated_jpeg"])
def test_any_image_pillow_reads_is_answered(service, kind):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)
    out = io.BytesIO()
    if kind == "jpeg":
        Image.fromarray(pixels).save(out, "JPEG")
    elif kind == "grayscale":
        Image.fromarray(pixels).convert("L").save(out, "PNG")
    elif kind == "rgba":
        Image.fromarray(np.dstack([pixels, rng.integers(0, 256, (48, 40), dtype=np.uint8)]), "RGBA").save(out, "PNG")
    elif kind == "palette_transparent":
        image = Image.fromarray(pixels).convert("P")
        image.info["transparency"] = 0
        image.save(out, "PNG", transparency=0)
    elif kind == "gray16":
        Image.fromarray(rng.integers(0, 65536, (48, 40), dtype=np.uint16)).save(out, "PNG")
    elif kind == "large_webp":
        Image.fromarray(rng.integers(0, 256, (600, 800, 3), dtype=np.uint8)).save(out, "WEBP")
    elif kind == "bmp":
        Image.fromarray(pixels).save(out, "BMP")
    elif kind == "tiny_gif":
        Image.fromarray(pixels[:3, :5]).save(out, "GIF")
    else:
        exif = Image.Exif()
        exif[0x0112] = 6  # Orientation: rotate 90
        Image.fromarray(pixels).save(out, "JPEG", exif=exif)
    answer = _upload(service, out.getvalue(), f"upload.{kind}")
    assert answer["predicted_label"] in DIGITS and len(answer["scores"]) == 5


def test_decoding_keeps_a_32x32_png_exact_and_composites_alpha_over_white():
    from wrn.serving.decode import decode_image

    pixels = np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert np.array_equal(decode_image(image_file(pixels)), pixels)
    transparent = np.zeros((32, 32, 4), np.uint8)
    assert (decode_image(image_file(transparent)) == 255).all()
    rotated = io.BytesIO()
    tall = np.zeros((64, 32, 3), np.uint8)
    tall[:32] = 255  # top half white
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(tall).save(rotated, "PNG", exif=exif)
    decoded = decode_image(rotated.getvalue())  # turned upright: the white half is now on the right
    assert decoded[:, :12].mean() < 40 and decoded[:, -12:].mean() > 215


def test_raw_model_input_is_the_pixels_as_decoded():
    """A raw export (uint8 NHWC, normalisation in the graph) is fed the decoded pixels unchanged; a float one the
    sidecar's normalisation."""
    pixels = np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    seen = []
    raw = ModelRunner(Path("raw.onnx"), Sidecar.from_dict({**RAW, "input_shape": [1, 32, 32, 3]}),
                      lambda batch: seen.append(batch) or np.zeros((1, 10), np.float32), "test")
    raw(pixels)
    assert seen[0].dtype == np.uint8 and seen[0].shape == (1, 32, 32, 3) and np.array_equal(seen[0][0], pixels)
    norm = {"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3], "in_graph": False, "scale": "pixel / 255"}
    floating = ModelRunner(Path("f.onnx"), Sidecar.from_dict({**CURRENT, "input_shape": [1, 3, 32, 32],
                                                              "normalisation": norm}),
                           lambda batch: seen.append(batch) or np.zeros((1, 10), np.float32), "test")
    floating(pixels)
    expected = (pixels.transpose(2, 0, 1)[None] / 255.0 - np.reshape(norm["mean"], (1, 3, 1, 1))) \
        / np.reshape(norm["std"], (1, 3, 1, 1))
    assert seen[1].dtype == np.float32 and np.allclose(seen[1], expected, atol=1e-6)
    with pytest.raises(ValueError, match="model f.onnx takes batches of 4: a service needs a batch-1 export"):
        ModelRunner(Path("f.onnx"), Sidecar.from_dict(CURRENT), lambda b: b, "test")


def test_class_names_of_each_data_set():
    assert class_names("cifar10") == list(CIFAR10) and len(CIFAR10) == 10
    assert class_names("cifar100", "fine", 100) == list(CIFAR100_FINE) and len(set(CIFAR100_FINE)) == 100
    assert class_names("cifar100", "coarse", 20) == list(CIFAR100_COARSE) and len(set(CIFAR100_COARSE)) == 20
    assert class_names("cifar10", num_classes=7) == [f"class_{i}" for i in range(7)]
    assert CIFAR100_FINE[:3] == ("apple", "aquarium_fish", "baby") and CIFAR100_COARSE[-1] == "vehicles_2"


def test_http_answers_and_bad_uploads_get_named_4xx_while_the_server_lives_on(packaged, server):
    client = Client(*server.server_address[:2])
    images, _ = eval_set(packaged["data"])
    good = image_file(images[0])
    status, expected = client.upload(good)
    assert status == 200 and set(expected) == {"predicted_label", "scores"}
    body, content_type = multipart([("images", "a.png", good)])
    bad = {
        "not an image": (client.upload, (b"hello, not an image", "notes.txt"), 400, "invalid_image"),
        "empty file": (client.upload, (b"", "empty.png"), 400, "empty_file"),
        "empty body": (client.request, ("POST", "/", b"", {"Content-Type": content_type}), 400, "empty_body"),
        "missing field": (client.upload, (good, "a.png", "image"), 400, "missing_field"),
        "wrong content type": (client.request, ("POST", "/", good, {"Content-Type": "image/png"}), 415,
                               "unsupported_content_type"),
        "20 MB upload": (client.upload, (b"\0" * (20 * 2 ** 20), "big.png"), 413, "body_too_large"),
        "cut-off multipart": (client.request, ("POST", "/", body[:-20], {"Content-Type": content_type}), 400,
                              "bad_multipart"),
        "bad JSON": (client.request, ("POST", "/", b"{", {"Content-Type": "application/json"}), 400, "bad_json"),
        "wrong path": (client.request, ("POST", "/predict", body, {"Content-Type": content_type}), 404, "not_found"),
    }
    for case, (call, args, status_expected, code) in bad.items():
        status, answer = call(*args)
        assert status == status_expected, (case, answer)
        assert set(answer) == {"error_code", "error_msg"} and answer["error_msg"], case
        assert answer["error_code"] == code, (case, answer)
        assert client.upload(good) == (200, expected), f"not serving after {case}"
    two, two_type = multipart([("images", "a.png", good), ("images", "b.png", good)])
    status, answer = client.request("POST", "/", two, {"Content-Type": two_type})
    assert status == 400 and answer["error_code"] == "too_many_files" and "a.png, b.png" in answer["error_msg"]
    assert client.request("GET", "/health") == (200, {"status": "OK", "model_type": "MindSpore"})
    encoded = json.dumps({"images": base64.b64encode(good).decode()}).encode()
    assert client.request("POST", "/", encoded, {"Content-Type": "application/json"}) == (200, expected)
    client.close()


def test_the_package_runs_without_the_rest_of_wrn(packaged, tmp_path):
    """A fresh interpreter loads the package through the stand-in's base class with `wrn` and MindSpore made
    unimportable: customize_service.py needs nothing but its folder."""
    standin = ROOT / "wrn" / "serving" / "modelserver"
    script = f"""
import importlib.abc, io, json, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('wrn', 'mindspore', 'yaml'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
sys.path[:0] = [{str(standin)!r}, {str(packaged['model_dir'])!r}]
import customize_service
service = customize_service.WideResNetService('model', {str(packaged['model_dir'])!r})
png = open(sys.argv[1], 'rb').read()
print(json.dumps(service.inference({{'images': {{'a.png': io.BytesIO(png)}}}})))
"""
    images, _ = eval_set(packaged["data"])
    (tmp_path / "a.png").write_bytes(image_file(images[0]))
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "a.png")], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["predicted_label"] in DIGITS


def test_package_from_an_export_into_obs(packaged, obs_env, object_store, tmp_path):
    bucket = object_store.new_bucket()
    export = cli(export_main, "--config=demo", *MODEL, f"--checkpoint={packaged['checkpoint']}",
                 "--file_format=ONNX", "--batch_size=1", f"--train_url={tmp_path / 'export'}")
    assert export.returncode == 0, export.stderr[-2000:]
    onnx = json.loads(export.stdout.strip().splitlines()[-1])["path"]
    done = cli(package_main, f"--checkpoint={onnx}", f"--train_url=obs://{bucket}/pkg",
               env=obs_env)
    assert done.returncode == 0, done.stderr[-2000:]
    keys = object_store.keys(bucket, "pkg/model/")
    assert {"pkg/model/config.json", "pkg/model/customize_service.py", "pkg/model/wrn10_1_b1.onnx",
            "pkg/model/wrn10_1_b1.onnx.json", "pkg/model/wrn_serving/service.py"} <= set(keys)
    config = json.loads(object_store.read(bucket, "pkg/model/config.json"))
    assert config["metrics"] == {"accuracy": packaged["summary"]["best_top1"]}  # via the sidecar's checkpoint
    again = cli(package_main, f"--checkpoint={onnx}", f"--train_url=obs://{bucket}/pkg",
                env=obs_env)
    assert again.returncode == 2 and "already holds files" in again.stderr


def test_ascend_target_packages_a_mindir_the_runtime_can_read(packaged, tmp_path):
    checkpoint = packaged["checkpoint"]
    refused = cli(package_main, "--config=demo", *MODEL, f"--checkpoint={checkpoint}",
                  "--target=ascend", f"--train_url={tmp_path / 'refused'}")
    assert refused.returncode == 2
    assert ("its MINDIR is written by MindSpore 2.8.0, newer than the MindSpore of runtime mindspore_2.0.0"
            in refused.stderr)
    runtime = "mindspore_2.8.0-cann_8.0.0-py_3.9-euler_2.10.7-aarch64"
    done = cli(package_main, "--config=demo", *MODEL, f"--checkpoint={checkpoint}",
               "--target=ascend", f"--runtime={runtime}", f"--train_url={tmp_path / 'ascend'}")
    assert done.returncode == 0, done.stderr[-2000:]
    folder = tmp_path / "ascend" / "model"
    config = json.loads((folder / "config.json").read_text())
    assert config["runtime"] == runtime and config["dependencies"][0]["packages"] == [
        {"package_name": "numpy"}, {"package_name": "Pillow"}]
    assert (folder / "wrn10_1_b1_raw.mindir").is_file()
    mindir = load_package(folder).service  # MindSpore 2.8 runs it here, as the Ascend image's MindSpore would
    onnx = load_package(packaged["model_dir"]).service
    images, _ = eval_set(packaged["data"])
    for image in images[:5]:
        a, b = _upload(mindir, image_file(image)), _upload(onnx, image_file(image))
        assert a["predicted_label"] == b["predicted_label"]
        assert np.allclose([s for _, s in a["scores"]], [s for _, s in b["scores"]], atol=1e-5)


def test_package_refuses_what_cannot_be_served(packaged, tmp_path):
    export = cli(export_main, "--config=demo", *MODEL, f"--checkpoint={packaged['checkpoint']}",
                 "--file_format=ONNX", "--batch_size=2", f"--train_url={tmp_path / 'b2'}")
    assert export.returncode == 0, export.stderr[-2000:]
    batch2 = json.loads(export.stdout.strip().splitlines()[-1])["path"]
    cases = {
        "takes batches of 2": ("--checkpoint=" + batch2,),
        "is a ONNX export, which serves the cpu target, not ascend": ("--checkpoint=" + batch2, "--target=ascend"),
        f"export {tmp_path / 'missing.onnx'} does not exist": (f"--checkpoint={tmp_path / 'missing.onnx'}",),
        "already holds files": ("--checkpoint=" + batch2, f"--train_url={packaged['work'] / 'pkg'}"),
    }
    for message, args in cases.items():
        train_url = [] if any(a.startswith("--train_url") for a in args) else [f"--train_url={tmp_path / 'out'}"]
        done = cli(package_main, *args, *train_url)
        assert done.returncode == 2 and message in done.stderr, (message, done.stderr)
        assert done.stderr.count("\n") == 1, done.stderr  # one line
    assert not (tmp_path / "out" / "model").exists()


def test_multipart_parts_as_clients_write_them():
    from wrn.serving.errors import RequestError
    from wrn.serving.modelserver.multipart import parse_form

    def form(*heads: str) -> dict:
        body = b"".join(b"--xyz\r\n" + head.encode() + b"\r\n\r\ncontent\r\n" for head in heads) + b"--xyz--\r\n"
        parsed = parse_form(body, 'multipart/form-data; boundary="xyz"')
        return {k: ({n: f.read() for n, f in v.items()} if isinstance(v, dict) else v) for k, v in parsed.items()}

    assert form('Content-Disposition: form-data; name="images"; filename="a.png"') == {"images": {"a.png": b"content"}}
    assert form('Content-Type: image/png\r\nContent-Disposition: form-data; filename="b c.png"; name="images"') == \
        {"images": {"b c.png": b"content"}}
    assert form("Content-Disposition: form-data; name=\"images\"; filename*=UTF-8''%E7%8C%AB.png") == \
        {"images": {"\u732b.png": b"content"}}
    assert form('Content-Disposition: form-data; name="note"') == {"note": "content"}
    with pytest.raises(RequestError, match="no boundary"):
        parse_form(b"x", "multipart/form-data")
    with pytest.raises(RequestError, match="without a form-data name"):
        form("Content-Disposition: form-data")


def test_the_stand_in_names_declared_dependencies_that_do_not_match():
    from wrn.serving.modelserver.server import dependency_problems

    import numpy
    import PIL

    config = {"dependencies": [{"installer": "pip", "packages": [
        {"package_name": "numpy", "package_version": numpy.__version__, "restraint": "EXACT"},
        {"package_name": "Pillow", "package_version": "1.0.0", "restraint": "ATLEAST"},
        {"package_name": "Pillow", "package_version": "1.0.0", "restraint": "EXACT"},
        {"package_name": "numpy", "package_version": "1.0", "restraint": "ATMOST"},
        {"package_name": "surely-not-installed-wrn"}]}]}
    assert dependency_problems(config) == [
        f"Pillow {PIL.__version__} is installed, config.json declares EXACT 1.0.0",
        f"numpy {numpy.__version__} is installed, config.json declares ATMOST 1.0",
        "surely-not-installed-wrn is not installed (config.json declares it)"]


def test_decoding_variants_and_refusals():
    from wrn.serving.decode import decode_image
    from wrn.serving.errors import RequestError

    rng = np.random.default_rng(4)
    pixels = rng.integers(0, 256, (300, 200, 3), dtype=np.uint8)
    for mode in ("L", "CMYK", "RGB"):  # JPEGs are decoded at a reduced scale first (draft)
        assert decode_image(image_file(pixels, "JPEG", mode)).shape == (32, 32, 3), mode
    huge = io.BytesIO()
    Image.new("1", (8000, 6000)).save(huge, "PNG")  # a few KB that unpack to 48 million pixels
    cases = {"too large": (huge.getvalue(), 413, "image_too_large", "8000x6000 pixels"),
             "truncated": (image_file(pixels)[:60], 400, "invalid_image", "not an image Pillow can read"),
             "empty": (b"", 400, "empty_file", "is empty")}
    for case, (content, status, code, words) in cases.items():
        with pytest.raises(RequestError) as caught:
            decode_image(content, "upload.png")
        assert (caught.value.status, caught.value.code) == (status, code), case
        assert "'upload.png'" in str(caught.value) and words in str(caught.value), case


def test_a_normalised_package_answers_as_the_raw_default(packaged, service, tmp_path):
    """--input normalised: a float32 NCHW model, the service normalising the decoded pixels as the recipe says,
    answers as the default raw model (normalisation in the graph) does."""
    done = cli(package_main, "--config=demo", *MODEL, f"--checkpoint={packaged['checkpoint']}",
               "--input=normalised", f"--train_url={tmp_path / 'pkg'}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["input_kind"] == "normalised"
    float_service = load_package(tmp_path / "pkg" / "model").service
    assert float_service.classifier.runner.input_dtype == "float32"
    assert service.classifier.runner.input_dtype == "uint8"
    images, _ = eval_set(packaged["data"])
    for image in images[:20]:
        a, b = _upload(float_service, image_file(image)), _upload(service, image_file(image))
        assert a["predicted_label"] == b["predicted_label"]
        assert np.allclose([s for _, s in a["scores"]], [s for _, s in b["scores"]], atol=1e-5)
    refused = cli(package_main, f"--checkpoint={packaged['model_file']}", "--input=normalised",
                  f"--train_url={tmp_path / 'pkg2'}")
    assert refused.returncode == 2 and "--input normalised does not apply to an existing export" in refused.stderr


def test_concurrent_clients_each_get_their_own_answer(packaged, server):
    images, _ = eval_set(packaged["data"])
    files = [image_file(image) for image in images[:8]]
    expected = [Client(*server.server_address[:2]).upload(content)[1] for content in files]
    answers: dict[int, list] = {}

    def client(index: int) -> None:
        own = Client(*server.server_address[:2])
        answers[index] = [own.upload(files[index], f"c{index}.png") for _ in range(5)]
        own.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(answers) == list(range(8))
    for index, replies in answers.items():
        assert replies == [(200, expected[index])] * 5, index


def test_labels_file_names_the_classes(packaged, tmp_path):
    onnx = packaged["model_file"]  # an export with its sidecar: packaged again
    names = [f"digit {d}" for d in range(10)]
    (tmp_path / "names.txt").write_text("\n".join(names) + "\n")
    done = cli(package_main, f"--checkpoint={onnx}", f"--labels={tmp_path / 'names.txt'}",
               f"--train_url={tmp_path / 'pkg'}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((tmp_path / "pkg" / "model" / "labels.json").read_text()) == names
    images, _ = eval_set(packaged["data"])
    assert _upload(load_package(tmp_path / "pkg" / "model").service, image_file(images[0]))["predicted_label"] \
        in names
    (tmp_path / "short.txt").write_text("cat\ndog\n")
    short = cli(package_main, f"--checkpoint={onnx}", f"--labels={tmp_path / 'short.txt'}",
                f"--train_url={tmp_path / 'pkg2'}")
    assert short.returncode == 2 and "names 2 classes, the model has 10" in short.stderr
