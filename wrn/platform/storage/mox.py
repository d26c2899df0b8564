"""OBS through Huawei's MoXing (`moxing.file`), which exists only inside ModelArts images and is already
authenticated there. PyPI's unrelated `moxing` package is never taken for it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from wrn.platform.storage.base import Entry, Storage, TransferStats, partial_path, replace_into
from wrn.platform.storage.url import RemoteUrl, StorageError, safe_relative


def find_moxing() -> Any | None:
    """Huawei's MoXing if importable and real (PyPI's unrelated `moxing` lacks mox.file.copy_parallel)."""
    try:
        import moxing  # type: ignore[import-not-found]
    except Exception:
        return None
    file_api = getattr(moxing, "file", None)
    return moxing if callable(getattr(file_api, "copy_parallel", None)) else None


class MoxingStorage(Storage):
    """MoXing already authenticates inside ModelArts and parallelises tree copies itself."""

    def __init__(self, mox: Any) -> None:
        self.mox = mox

    def __repr__(self) -> str:
        return "MoxingStorage()"

    @staticmethod
    def _obs(location: str) -> str:
        return str(RemoteUrl.parse(location)).rstrip("/")

    def join(self, location: str, relative: str) -> str:
        return str(RemoteUrl.parse(location).join(safe_relative(relative, location)))

    def _do(self, what: str, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except Exception as exc:
            raise StorageError(f"{what} through MoXing failed: {type(exc).__name__}: {exc}") from None

    def list(self, location: str) -> list[Entry]:
        """Files under `location`. MoXing's recursive listing names folders too (relative, no trailing slash):
        a name that prefixes others is a folder; any other is asked about, since an empty folder looks the same."""
        url = self._obs(location)
        if not self._do(f"checking {url}", lambda: self.mox.file.is_directory(url)):
            return []  # a single object or nothing: what list_directory does there is not documented
        names = self._do(f"listing {url}", lambda: self.mox.file.list_directory(url, recursive=True))
        parents = {"/".join(name.split("/")[:depth]) for name in names for depth in range(1, name.count("/") + 1)}
        entries = []
        for name in names:
            full = f"{url}/{name.rstrip('/')}"
            if name.endswith("/") or name in parents:
                continue
            if self._do(f"checking {full}", lambda: self.mox.file.is_directory(full)):
                continue
            size = self._do(f"reading the size of {full}", lambda: self.mox.file.get_size(full))
            entries.append(Entry(safe_relative(name, url), int(size)))
        return entries

    def exists(self, location: str) -> bool:
        url = self._obs(location)
        return bool(self._do(f"checking {url}", lambda: self.mox.file.exists(url)))

    def download_file(self, location: str, destination: Path, size: int | None = None) -> None:
        url = self._obs(location)
        partial = partial_path(destination)
        destination.parent.mkdir(parents=True, exist_ok=True)
        self._do(f"downloading {url}", lambda: self.mox.file.copy(url, str(partial)))
        replace_into(partial, destination)

    def upload_file(self, source: Path, location: str) -> None:
        url = self._obs(location)
        self._do(f"uploading {source} to {url}", lambda: self.mox.file.copy(str(source), url))

    def delete(self, location: str) -> None:
        url = self._obs(location)
        if self._do(f"checking {url}", lambda: self.mox.file.exists(url)):
            self._do(f"deleting {url}", lambda: self.mox.file.remove(url, recursive=False))

    def download_tree(self, location: str, destination: Path) -> TransferStats:
        started = time.perf_counter()
        entries = self.list(location)  # validates every key before anything is written
        url = self._obs(location)
        self._do(f"downloading {url}", lambda: self.mox.file.copy_parallel(url, str(destination)))
        return TransferStats(files=len(entries), bytes=sum(e.size for e in entries),
                             seconds=time.perf_counter() - started)
