"""A ModelArts model package from a checkpoint or an export: OUT/model/ with config.json, customize_service.py,
the model file and its sidecar, the class names and the serving helpers (`wrn.serving`, copied as wrn_serving/).

Documentation each part follows (ModelArts, "Model Package Specifications"):
[pkg]  "Introduction to Model Package Specifications" (inference-modelarts-0055): the `model` folder, exactly one
       config.json and one customize_service.py, helper .py files next to them; the MindSpore package structure
       lists an empty `tmp.om` "that enables the model package to be imported".
[cfg]  "Specifications for Editing a Model Configuration File" (inference-modelarts-0056,
       support.huaweicloud.com/intl/en-us/inference-modelarts/inference-modelarts-0056.html): every field below.
[code] "Specifications for Writing Model Inference Code" (inference-modelarts-0057): customize_service.py.
[img]  "MindSpore (CPU/GPU)-powered Inference Base Images" (docker-modelarts_0041): the CPU inference image
       `mindspore_1.7.0-cpu-py_3.7-ubuntu_18.04-x86_64`, Python 3.7.10, numpy 1.17.0, Pillow 9.1.1, MindSpore 1.7.0.
[eng]  "Supported AI Engines for ModelArts Inference" (in "Introduction to Model Management"): the Ascend
       MindSpore runtime `mindspore_2.0.0-cann_6.3.0-py_3.7-euler_2.8.3-aarch64`.

Format per target: MindSpore 2.8 writes MindIR version 3, which the MindSpore of those images (1.7, 2.0) cannot
read. A CPU service therefore runs the ONNX export through onnxruntime, installed by the package's dependencies; an
Ascend service runs a MINDIR through the image's MindSpore, so that MINDIR must come from a MindSpore no newer
than the image's (export it with that version, e.g. `.venv-image`'s 2.0.0) or name a newer runtime.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from wrn.deploy.rawinput import RAW
from wrn.errors import WrnError
from wrn.serving import classes
from wrn.serving.response import RESPONSE_SCHEMA
from wrn.serving.sidecar import Sidecar, path_of

log = logging.getLogger("wrn")

SERVING = Path(__file__).resolve().parents[1] / "serving"
# The serving modules a package carries (as wrn_serving/); modelserver/ is the local stand-in of the platform.
HELPERS = ("__init__.py", "errors.py", "classes.py", "decode.py", "response.py", "runner.py", "service.py",
           "sidecar.py")
HELPER_PACKAGE = "wrn_serving"
REQUIREMENTS = SERVING / "requirements.txt"

TARGETS = {
    # target: (file format, suffix, default runtime [img]/[eng])
    "cpu": ("ONNX", ".onnx", "mindspore_1.7.0-cpu-py_3.7-ubuntu_18.04-x86_64"),
    "ascend": ("MINDIR", ".mindir", "mindspore_2.0.0-cann_6.3.0-py_3.7-euler_2.8.3-aarch64"),
}
EXPORT_SUFFIXES = {".onnx": "cpu", ".mindir": "ascend"}


class PackageError(WrnError):
    """A model package cannot be made from what was given."""


def pip_pins(path: Path = REQUIREMENTS) -> list[dict]:
    """[cfg] Table 7: each `name==version` line of the requirements file as a package with restraint EXACT."""
    packages = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            packages.append({"package_name": name.strip(), "package_version": version.strip(), "restraint": "EXACT"})
    return packages


def dependencies(target: str) -> list[dict]:
    """[cfg] Table 6. CPU: numpy, Pillow and onnxruntime pinned EXACT to what the Python 3.7 tier installs and tests
    (installed in this order: numpy first, which onnxruntime needs). Ascend: the image's MindSpore needs its own
    numpy, so numpy and Pillow are named without a version ("If there is no specific requirement on the version,
    retain only the package_name")."""
    if target == "cpu":
        packages = pip_pins()
    else:
        packages = [{"package_name": "numpy"}, {"package_name": "Pillow"}]
    return [{"installer": "pip", "packages": packages}]


def model_config(target: str, runtime: str, accuracy: float | None) -> dict:
    """config.json [cfg]: model_algorithm and model_type (Table 1; MindSpore is the engine whose parent class
    customize_service.py extends [code]), runtime, one API at "/" (Table 3: url, method; Table 4: the request as
    the documented multipart `images` file; Table 5: the documented image-classification response schema),
    dependencies (Tables 6, 7), metrics (Table 2: accuracy, only when the run's evaluation is known)."""
    config: dict[str, Any] = {
        "model_algorithm": "image_classification",
        "model_type": "MindSpore",
        "runtime": runtime,
        "apis": [{
            "url": "/",
            "method": "post",
            "request": {"Content-type": "multipart/form-data",
                        "data": {"type": "object", "properties": {"images": {"type": "file"}}}},
            "response": {"Content-type": "application/json", "data": RESPONSE_SCHEMA},
        }],
        "dependencies": dependencies(target),
    }
    if accuracy is not None:
        config["metrics"] = {"accuracy": round(float(accuracy), 17)}
    return config


def mindspore_version_of(runtime: str) -> tuple[int, ...] | None:
    found = re.match(r"mindspore_(\d+(?:\.\d+)*)", runtime)
    return tuple(int(p) for p in found.group(1).split(".")) if found else None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def resolve_target(source: str, target: str | None) -> str:
    suffix = Path(source.rstrip("/")).suffix.lower()
    if target is not None and target not in TARGETS:
        raise PackageError(f"--target {target!r}: expected cpu (ONNX through onnxruntime) or ascend (MINDIR)")
    if suffix in EXPORT_SUFFIXES:
        implied = EXPORT_SUFFIXES[suffix]
        if target is not None and target != implied:
            raise PackageError(f"{source} is a {TARGETS[implied][0]} export, which serves the {implied} target, "
                               f"not {target}: give a {TARGETS[target][1]} export or the checkpoint")
        return implied
    return target or "cpu"


def check_runtime(target: str, runtime: str, exported: str, source: str) -> None:
    """A MINDIR is read by the MindSpore that wrote it (version `exported`) or newer (README, "Which runtime reads a
    MINDIR")."""
    if target != "ascend":
        return
    runtime_version = mindspore_version_of(runtime)
    if runtime_version and exported and _version(exported) > runtime_version:
        raise PackageError(f"{source}: its MINDIR is written by MindSpore {exported}, newer than the MindSpore of "
                           f"runtime {runtime} ({'.'.join(map(str, runtime_version))}), which cannot read it: "
                           "export the MINDIR with that MindSpore version and package that file, or name a newer "
                           "runtime with --runtime (or serve on CPU: --target cpu)")


def _installed(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return ""


def build_package(source: str, train_url: str, *, cfg=None, target: str | None = None, runtime: str | None = None,
                  labels: str | None = None, scratch: str | None = None, input_kind: str = RAW) -> dict:
    """Write `train_url`/model/ from `source`: a checkpoint (exported here: ONNX batch 1 for cpu, MINDIR for
    ascend; `cfg` names its recipe; `input_kind` raw by default, so the graph holds the recipe's normalisation and
    the service hands it the decoded pixels) or an existing .onnx/.mindir export with its sidecar (copied, its
    input as exported). Local or obs:// on both sides, through the run directory layer (each file written whole,
    then uploaded)."""
    from wrn.platform.staging import StagingOptions, stage_checkpoint
    from wrn.output.rundir import open_run

    target = resolve_target(source, target)
    file_format, suffix, default_runtime = TARGETS[target]
    runtime = runtime or default_runtime
    options = StagingOptions.from_env(scratch)
    _refuse_existing(train_url)
    with tempfile.TemporaryDirectory(prefix="wrn-package-") as work:
        if Path(source.rstrip("/")).suffix.lower() in EXPORT_SUFFIXES:
            model_file = stage_checkpoint(source, 0, options, kind="export")
            sidecar_file = stage_checkpoint(source + ".json", 0, options, kind="export")
            if not Path(model_file).is_file():
                raise PackageError(f"export {source} does not exist")
            exported = {"path": source}
        else:
            if cfg is None:
                raise PackageError(f"{source} is a checkpoint: give --config (its recipe) to export it")
            # refused before the export's work when this MindSpore writes what the runtime cannot read
            check_runtime(target, runtime, _installed("mindspore"), source)
            from wrn.deploy.export import export

            exported = export(cfg, source, file_format, 1, str(Path(work) / "export"), scratch=scratch,
                              input_kind=input_kind)
            model_file = Path(work) / "export" / Path(exported["path"]).name
            sidecar_file = path_of(model_file)
        if not Path(sidecar_file).is_file():
            raise PackageError(f"sidecar {source}.json of the export is missing: package an export of "
                               "`wrn.cli export`, which writes one")
        sidecar = Sidecar.read(Path(sidecar_file), error=PackageError)
        if sidecar.batch_size != 1:
            raise PackageError(f"{source} takes batches of {sidecar.batch_size}: a service answers one image at a "
                               "time, export with --batch_size 1")
        check_runtime(target, runtime, sidecar.mindspore, source)
        names = _labels(labels, sidecar)
        accuracy = run_accuracy(sidecar.checkpoint, options)
        config = model_config(target, runtime, accuracy)
        with open_run(str(train_url), 0, options) as run:
            folder = run.root / "model"
            model_name = Path(model_file).name
            for src, name in ((Path(model_file), model_name), (Path(sidecar_file), model_name + ".json")):
                run.write(folder / name, lambda temp, src=src: shutil.copyfile(src, temp), suffix=Path(name).suffix)
            run.write(folder / "customize_service.py",
                      lambda temp: shutil.copyfile(SERVING / "customize_service.py", temp), suffix=".py")
            for helper in HELPERS:
                run.write(folder / HELPER_PACKAGE / helper,
                          lambda temp, helper=helper: shutil.copyfile(SERVING / helper, temp), suffix=".py")
            run.write_text(folder / "labels.json", json.dumps(names, indent=1) + "\n")
            run.write(folder / "tmp.om", lambda temp: temp.write_bytes(b""), suffix=".om")  # [pkg] MindSpore
            run.write_json(folder / "config.json", config)
            files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
            location = run.location("model")
    log.info("model package %s: %s", location, ", ".join(files))
    return {"package": location, "target": target, "model_file": model_name, "file_format": file_format,
            "input_kind": sidecar.input_kind,
            "runtime": runtime, "accuracy": accuracy, "classes": len(names), "files": files,
            "source": source}


def _refuse_existing(train_url: str) -> None:
    """A package folder is written whole or not at all: files of an earlier package (another model file) would
    make it ambiguous, so an existing non-empty OUT/model is refused."""
    from wrn.platform.storage import is_remote, storage_for

    if is_remote(train_url):
        if storage_for(train_url).list(train_url.rstrip("/") + "/model/"):
            raise PackageError(f"{train_url.rstrip('/')}/model/ already holds files: choose another --train_url")
    else:
        folder = Path(train_url) / "model"
        if folder.is_dir() and any(folder.iterdir()):
            raise PackageError(f"{folder} already holds files: choose another --train_url (or remove it)")


def _labels(labels: str | None, sidecar: Sidecar) -> list[str]:
    num_classes = sidecar.num_classes
    if labels:
        try:
            names = [line.strip() for line in Path(labels).read_text(encoding="utf-8").splitlines() if line.strip()]
        except OSError as exc:
            raise PackageError(f"--labels {labels}: {exc.strerror or exc}") from None
        if len(names) != num_classes:
            raise PackageError(f"--labels {labels} names {len(names)} classes, the model has {num_classes}: one "
                               "class name per line, in label order")
        return names
    return classes.class_names(sidecar.dataset, sidecar.label, num_classes, sidecar.config)


def run_accuracy(checkpoint: str, options) -> float | None:
    """The top-1 of the evaluation behind a run's checkpoint, from its run folder's metrics records: the best
    checkpoint -> the best record, a periodic one -> its epoch's, the last one -> the last evaluated one; None when
    the folder or the record is not there."""
    from wrn.output.records import parse
    from wrn.output.rundir import RunDir

    found = RunDir.checkpoint_role(checkpoint)
    if found is None:
        return None
    run_url, role, epoch = found
    try:
        text = _read_text(f"{run_url}/{RunDir.METRICS}", options)
    except Exception as exc:  # a missing or unreachable record only leaves metrics out
        log.info("no metrics for %s (%s): config.json has none", checkpoint, exc)
        return None
    records = [r for r in parse(text).kept if r["top1"] is not None]
    if not records:
        return None
    if role == "best":
        return float(max(r["top1"] for r in records))
    if role == "epoch":
        kept = [r for r in records if r.get("epoch") == epoch]
        return float(kept[-1]["top1"]) if kept else None
    return float(records[-1]["top1"])


def _read_text(location: str, options) -> str:
    from wrn.platform.storage import is_remote, storage_for

    if not is_remote(location):
        return Path(location).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="wrn-package-", dir=None) as folder:
        target = Path(folder) / "record"
        storage_for(location).download_file(location, target)
        return target.read_text(encoding="utf-8")
