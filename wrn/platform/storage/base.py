"""The storage interface: list, exists, one-file transfers, and parallel tree transfers built on them."""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from wrn.fileio import atomic_write_json


@dataclass(frozen=True)
class Entry:
    """One file below a listed location: its path relative to that location, its size in bytes, and its version
    (the object's ETag) where the backend's listing gives one."""

    relative: str
    size: int
    version: str = ""


# Which version of each file a tree download brought (kept beside the destination folder), so a replaced remote file
# of the same size is fetched again.
VERSIONS_FILE = ".wrn-versions.json"


@dataclass
class TransferStats:
    files: int = 0
    skipped: int = 0
    bytes: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        mb = self.bytes / 1e6
        return (f"{self.files} files ({mb:.1f} MB) in {self.seconds:.1f} s, {self.skipped} already present"
                f"{f', {mb / self.seconds:.1f} MB/s' if self.seconds > 0 and mb else ''}")


class Storage:
    """Tree transfers run `threads` file transfers at once; subclasses implement the single-file operations."""

    threads: int = 8

    def list(self, location: str) -> list[Entry]:
        raise NotImplementedError

    def exists(self, location: str) -> bool:
        raise NotImplementedError

    def download_file(self, location: str, destination: Path, size: int | None = None) -> None:
        raise NotImplementedError

    def upload_file(self, source: Path, location: str) -> None:
        raise NotImplementedError

    def join(self, location: str, relative: str) -> str:
        raise NotImplementedError

    def delete(self, location: str) -> None:
        """Remove one object this package created (a run claim); a missing one is not an error."""
        raise NotImplementedError

    def download_tree(self, location: str, destination: Path) -> TransferStats:
        """Copy every file below `location` into `destination`, skipping files already there in the same version
        (same size and, where the backend lists one, the same ETag as when it was downloaded)."""
        started = time.perf_counter()
        stats = TransferStats()
        # Beside the destination, not in it: the tree holds exactly the remote files.
        versions_file = destination.parent / f".{destination.name}{VERSIONS_FILE}"
        try:
            known = json.loads(versions_file.read_text()) if versions_file.is_file() else {}
        except ValueError:
            known = {}
        todo = []
        entries = self.list(location)
        for entry in entries:
            target = destination / entry.relative
            same = target.is_file() and target.stat().st_size == entry.size and known.get(entry.relative, "") == \
                entry.version
            if same:
                stats.skipped += 1
            else:
                todo.append(entry)
        lock = threading.Lock()

        def fetch(entry: Entry) -> None:
            self.download_file(self.join(location, entry.relative), destination / entry.relative, entry.size)
            with lock:
                stats.files += 1
                stats.bytes += entry.size

        run_parallel(fetch, todo, self.threads)
        if any(entry.version for entry in entries):
            atomic_write_json(versions_file, {entry.relative: entry.version for entry in entries})
        stats.seconds = time.perf_counter() - started
        return stats

    def upload_tree(self, source: Path, location: str, include: Callable[[str], bool] = lambda rel: True) -> TransferStats:
        """Copy every file below `source` (whose relative path passes `include`) to `location`."""
        started = time.perf_counter()
        files = [p for p in sorted(source.rglob("*")) if p.is_file()]
        todo = [(p, p.relative_to(source).as_posix()) for p in files]
        todo = [(p, rel) for p, rel in todo if include(rel)]
        stats = TransferStats()
        lock = threading.Lock()

        def send(item: tuple[Path, str]) -> None:
            path, rel = item
            size = path.stat().st_size
            self.upload_file(path, self.join(location, rel))
            with lock:
                stats.files += 1
                stats.bytes += size

        run_parallel(send, todo, self.threads)
        stats.seconds = time.perf_counter() - started
        return stats


def run_parallel(work: Callable[[Any], None], items: list, threads: int) -> None:
    """Run `work` over `items` on a pool; the first failure cancels what has not started and is raised."""
    if not items:
        return
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(items)))) as pool:
        futures = [pool.submit(work, item) for item in items]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in futures:
            if future.done() and not future.cancelled() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]


def replace_into(partial: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, destination)


def partial_path(destination: Path) -> Path:
    """Where a download is written until complete: never under the final name."""
    return destination.with_name(f".{destination.name}.part")
