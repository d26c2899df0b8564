"""A local model package folder (what `wrn.cli package` writes as OUT/model/) checked and uploaded to OBS.

"Introduction to Model Package Specifications" (ModelArts inference documentation): the package is a folder named
`model` holding exactly one `config.json`, exactly one `customize_service.py`, the model file and the helper
modules; a model is created from the OBS folder that holds `model/` ("when publishing the model, point at the
folder above model").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from wrn.platform.modelarts.spec import JobError
from wrn.platform.storage import storage_for
from wrn.values import read_utf8

MODEL_FOLDER = "model"
REQUIRED_FILES = ("config.json", "customize_service.py")
_SKIPPED_PARTS = {"__pycache__", ".ipynb_checkpoints"}


@dataclass(frozen=True)
class LocalPackage:
    model_dir: Path
    config: dict
    files: tuple[str, ...]  # relative to model_dir, posix

    @property
    def size(self) -> int:
        return sum((self.model_dir / name).stat().st_size for name in self.files)


def open_package(folder: str | Path) -> LocalPackage:
    """OUT or OUT/model -> the checked package (its config.json read)."""
    folder = Path(folder)
    model_dir = folder if folder.name == MODEL_FOLDER else folder / MODEL_FOLDER
    if not model_dir.is_dir():
        raise JobError(f"{folder}: no {MODEL_FOLDER}/ folder: give the folder `python -m wrn.cli package` wrote "
                       "(OUT or OUT/model)")
    files = tuple(sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*")
                         if p.is_file() and not set(p.relative_to(model_dir).parts) & _SKIPPED_PARTS
                         and p.suffix != ".pyc"))
    for name in REQUIRED_FILES:
        if name not in files:
            raise JobError(f"{model_dir}: {name} is missing: a model package holds exactly one config.json and one "
                           "customize_service.py at the top of model/")
        extra = [f for f in files if f.rsplit("/", 1)[-1] == name and f != name]
        if extra:
            raise JobError(f"{model_dir}: {extra[0]} is a second {name}: ModelArts allows exactly one")
    try:
        config = json.loads(read_utf8(model_dir / "config.json", "model configuration", JobError))
    except ValueError as exc:
        raise JobError(f"{model_dir / 'config.json'}: not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise JobError(f"{model_dir / 'config.json'}: expected a JSON object")
    return LocalPackage(model_dir=model_dir, config=config, files=files)


def model_type_and_runtime(package: LocalPackage | None, model_type: str, runtime: str, source: str) -> tuple[str, str]:
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


def upload_package(package: LocalPackage, source: str) -> tuple[int, int]:
    """model/ -> `source`model/ through the storage layer. A destination holding files the package does not have is
    refused (nothing is deleted remotely, and a model must not mix two packages): use a new folder per version."""
    storage = storage_for(source)
    destination = storage.join(source, MODEL_FOLDER)
    if storage.exists(destination):
        strangers = sorted(entry.relative for entry in storage.list(destination) if entry.relative not in package.files)
        if strangers:
            raise JobError(f"{destination}/{strangers[0]} is not in the package {package.model_dir}: use a new "
                           "model.source (e.g. one folder per model version) or remove it")
    storage.upload_tree(package.model_dir, destination, include=lambda relative: relative in package.files)
    return len(package.files), package.size
