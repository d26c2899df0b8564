"""Local paths through the same interface (a local data_url, train_url or checkpoint)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from wrn.platform.storage.base import Entry, Storage, partial_path
from wrn.platform.storage.url import StorageError, safe_relative


class LocalStorage(Storage):
    def list(self, location: str) -> list[Entry]:
        root = Path(location)
        if not root.exists():
            raise StorageError(f"{root} does not exist")
        if root.is_file():
            return [Entry(root.name, root.stat().st_size)]
        return [Entry(p.relative_to(root).as_posix(), p.stat().st_size) for p in sorted(root.rglob("*")) if p.is_file()]

    def exists(self, location: str) -> bool:
        return Path(location).exists()

    def join(self, location: str, relative: str) -> str:
        return str(Path(location) / safe_relative(relative, location))

    def delete(self, location: str) -> None:
        Path(location).unlink(missing_ok=True)

    def download_file(self, location: str, destination: Path, size: int | None = None) -> None:
        self._copy(Path(location), destination)

    def upload_file(self, source: Path, location: str) -> None:
        self._copy(source, Path(location))

    @staticmethod
    def _copy(source: Path, destination: Path) -> None:
        if not source.is_file():
            raise StorageError(f"{source} does not exist" if not source.exists() else f"{source} is not a file")
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = partial_path(destination)
        shutil.copyfile(source, partial)
        os.replace(partial, destination)
