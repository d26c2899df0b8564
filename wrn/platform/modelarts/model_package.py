"""A local model package folder (what `wrn.cli package` writes as OUT/model/) checked and uploaded to OBS.

"Introduction to Model Package Specifications" (ModelArts inference documentation): the package is a folder named
`model` holding exactly one `config.json`, exactly one `customize_service.py`, the model file and the helper
modules; a model is created from the OBS folder that holds `model/` ("when publishing the model, point at the
folder above model").
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from wrn.platform.modelarts.spec import JobError
from wrn.platform.storage import is_remote, storage_for
from wrn.values import read_utf8

MODEL_FOLDER = "model"
REQUIRED_FILES = ("config.json", "customize_service.py")
_SKIPPED_PARTS = {"__pycache__", ".ipynb_checkpoints"}


@dataclass(frozen=True)
class Package:
    """A model package: local (`model_dir` set: uploaded before the model is created) or already in OBS
    (`remote` = the folder holding model/, which becomes the model's source)."""

    config: dict
    files: tuple[str, ...]  # below model/, posix
    model_dir: Path | None = None
    remote: str = ""
    size: int = 0

    @property
    def where(self) -> str:
        return self.remote + MODEL_FOLDER + "/" if self.remote else str(self.model_dir)


def open_package(location: str | Path) -> Package:
    """OUT or OUT/model, a local folder or an obs:// one (`wrn.cli package --train_url obs://...`) -> the checked
    package, its config.json read."""
    if is_remote(location):
        return _open_remote(str(location))
    folder = Path(location)
    model_dir = folder if folder.name == MODEL_FOLDER else folder / MODEL_FOLDER
    if not model_dir.is_dir():
        raise JobError(f"{folder}: no {MODEL_FOLDER}/ folder: give the folder `python -m wrn.cli package` wrote "
                       "(OUT or OUT/model)")
    paths = [p for p in model_dir.rglob("*")
             if p.is_file() and not set(p.relative_to(model_dir).parts) & _SKIPPED_PARTS and p.suffix != ".pyc"]
    files = tuple(sorted(p.relative_to(model_dir).as_posix() for p in paths))
    _check_files(files, str(model_dir))
    config = _config(read_utf8(model_dir / "config.json", "model configuration", JobError), model_dir / "config.json")
    return Package(config=config, files=files, model_dir=model_dir, size=sum(p.stat().st_size for p in paths))


def _open_remote(location: str) -> Package:
    storage = storage_for(location)
    folder = location.rstrip("/")
    if folder.rsplit("/", 1)[-1] == MODEL_FOLDER:
        folder = folder.rsplit("/", 1)[0]
    model_url = storage.join(folder, MODEL_FOLDER)
    entries = storage.list(model_url)
    if not entries:
        raise JobError(f"{model_url}/: no model package there (give the folder `python -m wrn.cli package` wrote)")
    files = tuple(sorted(e.relative for e in entries if not set(e.relative.split("/")) & _SKIPPED_PARTS))
    _check_files(files, model_url + "/")
    with tempfile.TemporaryDirectory(prefix="wrn-package-") as temp:
        local = Path(temp) / "config.json"
        storage.download_file(storage.join(model_url, "config.json"), local)
        config = _config(read_utf8(local, "model configuration", JobError), model_url + "/config.json")
    return Package(config=config, files=files, remote=folder + "/", size=sum(e.size for e in entries))


def _check_files(files: tuple[str, ...], where: str) -> None:
    for name in REQUIRED_FILES:
        if name not in files:
            raise JobError(f"{where}: {name} is missing: a model package holds exactly one config.json and one "
                           "customize_service.py at the top of model/")
        extra = [f for f in files if f.rsplit("/", 1)[-1] == name and f != name]
        if extra:
            raise JobError(f"{where}: {extra[0]} is a second {name}: ModelArts allows exactly one")


def _config(text: str, where) -> dict:
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise JobError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise JobError(f"{where}: expected a JSON object")
    return config


def model_type_and_runtime(package: Package | None, model_type: str, runtime: str, source: str) -> tuple[str, str]:
    """The service file's model_type/runtime, else the package's config.json ones; the two must not disagree."""
    config = package.config if package else {}
    for key, given in (("model_type", model_type), ("runtime", runtime)):
        packaged = str(config.get(key) or "")
        if given and packaged and given != packaged:
            raise JobError(f"{source}: model.{key} {given!r} disagrees with the package's config.json ({packaged!r}); "
                           "ModelArts reads config.json too: give it once")
    chosen_type = model_type or str(config.get("model_type") or "")
    if not chosen_type:
        raise JobError(f"{source}: model.model_type is not given and "
                       + ("the package's config.json has none" if package else "no --package to read it from")
                       + " (e.g. MindSpore, PyTorch, TensorFlow, Image; 'Creating an AI Application')")
    return chosen_type, runtime or str(config.get("runtime") or "")


def upload_package(package: Package, source: str) -> tuple[int, int]:
    """model/ -> `source`model/ through the storage layer. A destination holding files the package does not have is
    refused (nothing is deleted remotely, and a model must not mix two packages): use a new folder per version."""
    if package.model_dir is None:
        raise JobError(f"{package.where} is already in OBS: the model is created from there, nothing to upload")
    storage = storage_for(source)
    destination = storage.join(source, MODEL_FOLDER)
    if storage.exists(destination):
        strangers = sorted(entry.relative for entry in storage.list(destination) if entry.relative not in package.files)
        if strangers:
            raise JobError(f"{destination}/{strangers[0]} is not in the package {package.where}: use a new "
                           "model.source (e.g. one folder per model version) or remove it")
    storage.upload_tree(package.model_dir, destination, include=lambda relative: relative in package.files)
    return len(package.files), package.size
