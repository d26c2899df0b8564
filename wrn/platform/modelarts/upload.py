"""The code folder a job runs from: exactly what the boot files need, uploaded to the job's code_dir."""

from __future__ import annotations

from pathlib import Path

from wrn.platform.modelarts.spec import JobError, JobSpec
from wrn.platform.storage import storage_for

CODE_FOLDERS = ("wrn", "modelarts")
_EXCLUDED_PARTS = {"__pycache__", ".git", ".venv", "venv", "tests", "bench", "runs", "demo", "msrun_log",
                   ".pytest_cache", "kernel_meta", "rank_0"}
_EXCLUDED_SUFFIXES = (".pyc", ".ckpt", ".mindir", ".air", ".onnx", ".log")
MAX_CODE_BYTES = 50 * 1024 * 1024
# The checkout this package runs from: wrn/ and modelarts/ side by side.
CODE_ROOT = Path(__file__).resolve().parents[3]


def code_files(root: Path) -> list[Path]:
    """What the boot files need (the wrn package and modelarts/), without caches, tests or run outputs."""
    files = []
    for folder in CODE_FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            relative = path.relative_to(root)
            if path.is_file() and not set(relative.parts) & _EXCLUDED_PARTS and not path.name.endswith(
                    _EXCLUDED_SUFFIXES):
                files.append(path)
    return files


def upload_code(spec: JobSpec, root: Path) -> tuple[int, int]:
    files = code_files(root)
    size = sum(p.stat().st_size for p in files)
    if size > MAX_CODE_BYTES:
        biggest = max(files, key=lambda p: p.stat().st_size)
        raise JobError(f"code folder is {size / 1e6:.1f} MB, above the 50 MB limit (largest: {biggest.relative_to(root)})")
    if not (root / spec.boot_file).is_file():
        raise JobError(f"boot file {spec.boot_file} is not in {root}")
    chosen = {path.relative_to(root).as_posix() for path in files}
    storage = storage_for(spec.code_dir)
    for folder in CODE_FOLDERS:
        storage.upload_tree(root / folder, storage.join(spec.code_dir, folder),
                            include=lambda relative, folder=folder: f"{folder}/{relative}" in chosen)
    return len(files), size
