"""Staging remote locations for a run: node-coordinated stage-in, and continuous stage-out of the run directory.

Stage-in: one process per node (local rank 0) downloads into scratch; the node's other processes wait for a
marker that records success or the downloader's error, so a failure reaches every rank within a poll interval.
Stage-out: a background worker uploads each file the run reports as complete; `finish()` uploads what is left
and fails loudly (keeping the local copy) if the remote cannot be reached after retries.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from wrn.errors import CheckpointError
from wrn.faults import kill_point
from wrn.fileio import atomic_write_json
from wrn.platform.runtime import launch_id
from wrn.platform.storage import Storage, StorageError, is_remote, storage_for

log = logging.getLogger("wrn")


@dataclass(frozen=True)
class StagingOptions:
    scratch: Path
    wait_timeout: float = 3600.0
    poll_interval: float = 0.5

    @classmethod
    def from_env(cls, scratch: str | None = None) -> "StagingOptions":
        return cls(scratch=Path(scratch or os.environ.get("WRN_SCRATCH_DIR") or default_scratch()),
                   wait_timeout=float(os.environ.get("WRN_STAGE_TIMEOUT", 3600)))


def default_scratch() -> Path:
    """/cache (ModelArts' local SSD) when it exists and is writable, else the system temp dir."""
    cache = Path("/cache")
    if cache.is_dir() and os.access(cache, os.W_OK | os.X_OK):
        return cache / "wrn"
    return Path(tempfile.gettempdir()) / "wrn"


def scratch_slot(scratch: Path, kind: str, url: str) -> Path:
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return scratch / kind / digest


def stage_in(location: str, local_rank: int, options: StagingOptions, kind: str = "data") -> Path:
    """A local folder or file holding `location`: the path itself when local, else a node-local copy."""
    if not is_remote(location):
        return Path(location)  # used in place, never copied; its reader checks it
    slot = scratch_slot(options.scratch, kind, location)
    marker = slot.with_name(f"{slot.name}.{launch_id()}.done.json")
    if local_rank == 0:
        return _download(location, slot, marker)
    return _await(location, slot, marker, options)


def stage_checkpoint(checkpoint: str, local_rank: int, options: StagingOptions, kind: str = "checkpoint") -> Path:
    """A local copy of a checkpoint file (the path itself when local); a storage failure names the checkpoint."""
    try:
        return stage_in(checkpoint, local_rank, options, kind=kind)
    except StorageError as exc:
        raise CheckpointError(f"checkpoint {checkpoint}: {exc}") from None


def _download(location: str, slot: Path, marker: Path) -> Path:
    storage = storage_for(location)
    try:
        slot.mkdir(parents=True, exist_ok=True)
        file_name = _single_file_name(storage, location)
        if file_name is not None:
            target = slot / file_name
            storage.download_file(location, target)
            result = target
            log.info("staged %s into %s", location, target)
        else:
            stats = storage.download_tree(location, slot)
            if stats.files + stats.skipped == 0:
                raise StorageError(f"{location} holds no files")
            result = slot
            log.info("staged %s into %s: %s", location, slot, stats)
    except Exception as exc:
        message = str(exc) if isinstance(exc, StorageError) else f"{type(exc).__name__}: {exc}"
        atomic_write_json(marker, {"status": "error", "location": location, "message": message})
        raise StorageError(message) from None
    atomic_write_json(marker, {"status": "ok", "location": location, "path": str(result)})
    return result


def _single_file_name(storage: Storage, location: str) -> str | None:
    """The object name when `location` is one object (e.g. a checkpoint), None when it is a folder."""
    name = location.rstrip("/").rsplit("/", 1)[-1]
    if location.endswith("/") or "." not in name:
        return None
    entries = storage.list(location)
    if entries:
        return None  # a folder that happens to have a dot in its name
    if not storage.exists(location):
        raise StorageError(f"{location} does not exist")
    return name


def _await(location: str, slot: Path, marker: Path, options: StagingOptions) -> Path:
    deadline = time.monotonic() + options.wait_timeout
    while time.monotonic() < deadline:
        if marker.exists():
            result = json.loads(marker.read_text())
            if result["status"] == "ok":
                return Path(result["path"])
            raise StorageError(f"staging {location} failed on this node's local rank 0: {result['message']}")
        time.sleep(options.poll_interval)
    raise StorageError(f"waited {options.wait_timeout:.0f} s for local rank 0 to stage {location} into {slot} "
                       f"(marker {marker.name} never appeared); if this node's processes do not share a parent "
                       "process, set the same WRN_LAUNCH_ID for all of them")


# ---- stage-out ----------------------------------------------------------------------------------------------------

# The uploader's snapshot folder beside a run's local copy `<copy>` is `<copy>.upload`.
UPLOAD_SUFFIX = ".upload"


class RunUploader:
    """Mirror files of a local run directory to a remote train_url, in a background thread.

    A file is snapshotted when reported (hard link for atomically replaced files such as checkpoints, a copy for
    files still being appended to), so an upload never mixes two versions; a newer report of the same file
    supersedes a pending one. Only the files reported (or, at the end, changed since their last upload) are sent.
    """

    def __init__(self, local_root: Path, remote: str, include: Callable[[str], bool] = lambda rel: True,
                 storage: Storage | None = None) -> None:
        self.local_root, self.remote, self.include = local_root, remote.rstrip("/"), include
        self.storage = storage or storage_for(remote)
        # Beside the run's local copy (same file system: snapshots are hard links), never in the temp dir, so a
        # killed run leaves nothing there; the next launch removes it with the copy.
        self._snapshots = local_root.with_name(local_root.name + UPLOAD_SUFFIX)
        self._snapshots.mkdir(parents=True, exist_ok=True)
        self._pending: dict[str, Path] = {}
        self._uploaded: dict[str, tuple[int, int]] = {}
        self._versions: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._wake: queue.Queue[bool] = queue.Queue()
        self._errors: list[str] = []
        self._thread = threading.Thread(target=self._work, name="wrn-uploader", daemon=True)
        self._thread.start()

    def queue(self, path: Path, upload_now: bool = False) -> None:
        """Queue `path` for upload; with `upload_now`, upload it before returning and raise if that fails (to fail
        fast at the start of a run)."""
        relative = path.relative_to(self.local_root).as_posix()
        if not self.include(relative) or not path.is_file():
            return
        if upload_now:
            stat = path.stat()
            self.storage.upload_file(path, self.storage.join(self.remote, relative))
            with self._lock:
                self._uploaded[relative] = (stat.st_size, stat.st_mtime_ns)
            return
        snapshot = self._snapshots / f"{len(self._uploaded)}-{time.monotonic_ns()}-{path.name}"
        stat = path.stat()
        try:
            if path.suffix == ".ckpt" or path.suffix == ".png":
                os.link(path, snapshot)
            else:
                shutil.copyfile(path, snapshot)
        except OSError:
            shutil.copyfile(path, snapshot)
        with self._lock:
            stale = self._pending.pop(relative, None)
            self._pending[relative] = snapshot
            self._versions[relative] = (stat.st_size, stat.st_mtime_ns)
        if stale is not None:
            stale.unlink(missing_ok=True)
        self._wake.put(True)

    def _work(self) -> None:
        while self._wake.get():
            while True:
                with self._lock:
                    if not self._pending:
                        break
                    relative, snapshot = next(iter(self._pending.items()))
                    del self._pending[relative]
                    version = self._versions.get(relative)
                try:
                    self.storage.upload_file(snapshot, self.storage.join(self.remote, relative))
                    with self._lock:
                        if version is not None:
                            self._uploaded[relative] = version
                    kill_point("uploaded-" + relative, 0)  # a test's preempted node: this file reached train_url
                except Exception as exc:  # reported at finish(); training goes on
                    self._errors.append(str(exc))
                    log.warning("upload of %s failed (will retry at the end of the run): %s", relative, exc)
                finally:
                    snapshot.unlink(missing_ok=True)

    def finish(self) -> None:
        """Drain the queue, then upload every file not yet uploaded in its current version; raise on failure."""
        kill_point("final-upload", 0)
        self._wake.put(False)
        self._thread.join()
        changed = []
        for path in sorted(p for p in self.local_root.rglob("*") if p.is_file()):
            relative = path.relative_to(self.local_root).as_posix()
            if not self.include(relative) or ".tmp" in path.name:
                continue
            stat = path.stat()
            if self._uploaded.get(relative) != (stat.st_size, stat.st_mtime_ns):
                changed.append((path, relative))
        try:
            for path, relative in changed:
                self.storage.upload_file(path, self.storage.join(self.remote, relative))
        except StorageError as exc:
            raise StorageError(f"final upload to {self.remote} failed: {exc}; the run's files are kept in "
                               f"{self.local_root}") from None
        finally:
            shutil.rmtree(self._snapshots, ignore_errors=True)
        log.info("uploaded the run directory to %s (%d files at the end)", self.remote, len(changed))
