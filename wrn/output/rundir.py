"""The run directory (train_url): its fixed file names, and every write into it.

Each write is atomic (a temp file in the same folder, renamed when complete) and then reported to the listeners
(the uploader of a remote train_url), so a file is uploaded as soon as it is whole and no writer has to remember to
say so. train.log is the one file written by someone else (the logging handler): `publish_log` reports it.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from wrn import signals
from wrn.errors import RunDirError
from wrn.fileio import append_line, atomic_path, prove_writable
from wrn.output.claim import RunClaim
from wrn.platform.runtime import launch_id
from wrn.platform.staging import UPLOAD_SUFFIX, RunUploader, StagingOptions, scratch_slot
from wrn.platform.storage import StorageError, is_remote, storage_for

log = logging.getLogger("wrn")

# A listener hears (path, upload_now): upload_now asks for the upload to happen before the write returns.
Listener = Callable[[Path, bool], None]


@dataclass
class RunDir:
    """`root` is local; `remote` is the obs:// train_url it is mirrored to, if any. `rank` picks the log file."""

    root: Path
    rank: int = 0
    remote: str = ""
    listeners: list[Listener] = field(default_factory=list)

    @classmethod
    def open(cls, path: str | Path, rank: int = 0, remote: str = "") -> "RunDir":
        """Create the folder if needed and prove it is writable before any training work starts."""
        root = Path(path).expanduser()
        try:
            prove_writable(root)
        except OSError as exc:
            raise RunDirError(f"train_url {root} is not a writable folder: {exc.strerror or exc}") from None
        return cls(root.resolve(), rank, remote)

    # The run's files, relative to its root: named here only; code uses these names or the properties below.
    CONFIG = "config.yaml"
    CONFIG_HISTORY = "config_history.jsonl"
    METRICS = "metrics.jsonl"
    LOG = "train.log"
    CKPT = "ckpt"
    LAST_CKPT = f"{CKPT}/last.ckpt"
    BEST_CKPT = f"{CKPT}/best.ckpt"
    CURVES = "curves.png"
    SUMMARY = "summary.json"
    EVAL = "eval.json"

    config = property(lambda self: self.root / self.CONFIG)
    history = property(lambda self: self.root / self.CONFIG_HISTORY)
    metrics = property(lambda self: self.root / self.METRICS)
    log = property(lambda self: self.root / self.LOG if self.rank == 0
                   else self.root / "logs" / f"rank_{self.rank}" / self.LOG)
    last_ckpt = property(lambda self: self.root / self.LAST_CKPT)
    best_ckpt = property(lambda self: self.root / self.BEST_CKPT)
    curves = property(lambda self: self.root / self.CURVES)
    summary = property(lambda self: self.root / self.SUMMARY)
    eval_result = property(lambda self: self.root / self.EVAL)

    def epoch_ckpt(self, epoch: int) -> Path:
        return self.root / self.CKPT / f"epoch_{epoch:04d}.ckpt"

    def periodic_ckpts(self) -> list[Path]:
        return sorted((self.root / self.CKPT).glob("epoch_[0-9][0-9][0-9][0-9].ckpt"))

    @classmethod
    def checkpoint_role(cls, location: str) -> tuple[str, str, int] | None:
        """(run folder, "last", "best" or "epoch", its epoch or 0) of a checkpoint location (local or obs://) that
        lies in a run folder's checkpoints; None for any other location."""
        parts = location.replace("\\", "/").rstrip("/").rsplit("/", 2)
        if len(parts) != 3 or parts[1] != cls.CKPT:
            return None
        periodic = re.fullmatch(r"epoch_(\d+)\.ckpt", parts[2])
        if periodic:
            return parts[0], "epoch", int(periodic.group(1))
        role = {cls.LAST_CKPT: "last", cls.BEST_CKPT: "best"}.get(f"{cls.CKPT}/{parts[2]}")
        return (parts[0], role, 0) if role else None

    # ---- writing --------------------------------------------------------------------------------------------------

    def write(self, path: Path, produce: Callable[[Path], None], suffix: str = "", upload_now: bool = False) -> Path:
        """Create `path` by `produce(temp_path)`; the temp file (ending in `suffix`, for writers that insist on an
        extension) replaces `path` only when `produce` returns."""
        try:
            with atomic_path(path, suffix=suffix) as temp:
                produce(temp)
        except OSError as exc:
            raise self._write_error(path, exc) from None
        self._published(path, upload_now)
        return path

    def write_text(self, path: Path, text: str, upload_now: bool = False) -> Path:
        return self.write(path, lambda temp: temp.write_text(text, encoding="utf-8"), upload_now=upload_now)

    def write_json(self, path: Path, obj: Any) -> Path:
        return self.write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")

    def append_line(self, path: Path, line: str) -> None:
        """One complete line in a single write (metrics.jsonl), so a reader never sees half a record."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            append_line(path, line)
        except OSError as exc:
            raise self._write_error(path, exc) from None
        self._published(path)

    def link(self, source: Path, path: Path) -> Path:
        """`path` with the content of `source` (a finished file of this run): a hard link, else a copy."""
        def produce(temp: Path) -> None:
            temp.unlink()
            try:
                os.link(source, temp)
            except OSError:
                shutil.copyfile(source, temp)

        return self.write(path, produce, suffix=path.suffix)

    def remove(self, path: Path) -> None:
        """Only the run's own files that its policy retires (old periodic checkpoints); never user data."""
        path.unlink(missing_ok=True)

    def clear_stale_temp_files(self) -> None:
        """Temp files of writes that a killed run never finished (only the claim holder calls this)."""
        for folder in (self.root, self.root / self.CKPT):
            for temp in folder.glob(".*.tmp*"):
                if temp.is_file():
                    log.info("removing %s, left by an interrupted write", temp.name)
                    temp.unlink(missing_ok=True)

    def publish_log(self) -> None:
        if self.log.is_file():
            self._published(self.log)

    def publish(self, path: Path) -> None:
        """Report a file below the run directory that another writer keeps appending to (TensorBoard's event
        files): its current content is uploaded like every finished write."""
        if path.is_file():
            self._published(path)

    @staticmethod
    def _write_error(path: Path, exc: OSError) -> Exception:
        """A full disk, a read-only or forbidden folder: one line naming the folder, its free space and what is
        kept; anything else stays the error it is."""
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM):
            return exc
        try:
            free = f"{shutil.disk_usage(path.parent).free / 1e6:.1f} MB free there"
        except OSError:
            free = "free space unknown"
        return RunDirError(f"cannot write {path.name} in {path.parent}: {exc.strerror} ({free}); free space or "
                           "choose another train_url: the files of the completed epochs are kept")

    def _published(self, path: Path, upload_now: bool = False) -> None:
        for listener in self.listeners:
            listener(path, upload_now)

    # ---- naming ---------------------------------------------------------------------------------------------------

    def location(self, relative: str) -> str:
        """Where `relative` lives for the user: below the remote train_url when there is one."""
        return f"{self.remote}/{relative}" if self.remote else str(self.root / relative)

    def __str__(self) -> str:
        return self.remote or str(self.root)


@contextmanager
def open_run(train_url: str, rank: int, options: StagingOptions, claim: bool = False) -> Iterator[RunDir]:
    """The run directory for `train_url`: the folder itself when local; when remote, a node-local folder (one per
    launch, so leftovers of an earlier launch are never uploaded) mirrored to train_url while the run goes on.
    Rank 0 uploads the shared files, every other rank only its own logs/rank_N/. With `claim`, rank 0 holds the run
    directory's claim (`wrn.output.claim`) while the block runs, and clears temp files that killed runs left."""
    remote = is_remote(train_url)
    if remote:
        folder = scratch_slot(options.scratch, "runs", train_url)
        run = RunDir.open(folder.with_name(f"{folder.name}-{launch_id()}"), rank, remote=train_url.rstrip("/"))
        new_folder = run.root
    else:
        new_folder = None if Path(train_url).expanduser().exists() else Path(train_url).expanduser().resolve()
        run = RunDir.open(train_url, rank)
    try:
        holder = RunClaim(storage_for(train_url), run.remote or str(run.root)).acquire() if claim and rank == 0 \
            else None
    except RunDirError:
        if rank == 0 and new_folder is not None:
            _remove_if_unused(new_folder)  # a refused launch leaves no folder of its own behind
        raise
    if remote and rank == 0:
        # Only the claim holder knows no other launch of this run is live here to own an empty copy or snapshots.
        _remove_uploaded_copies(folder, run.root, leftovers=holder is not None)
    uploader = None
    if remote:
        own_logs = f"logs/rank_{rank}/"
        uploader = RunUploader(run.root, train_url, include=(lambda rel: not rel.startswith("logs/rank_"))
                               if rank == 0 else (lambda rel: rel.startswith(own_logs)))
        run.listeners.append(uploader.queue)
    finished = uploaded = False
    try:
        if holder is not None:
            run.clear_stale_temp_files()
        yield run
        finished = True
    finally:
        try:
            if uploader is not None:
                with signals.deferred():  # a SIGTERM now still lets summary.json and the rest reach train_url
                    uploader.finish()
                uploaded = True
                if rank == 0:
                    (run.root / UPLOADED_MARKER).touch()  # the next launch may remove this copy
        except StorageError as exc:
            if finished:
                raise
            log.error("%s", exc)  # the run already failed: report its own error, not this one
        finally:
            if holder is not None:
                holder.release()
            if not finished and rank == 0 and new_folder is not None and (uploaded or not remote):
                _remove_if_unused(new_folder)


# In a launch's local copy of a remote run: everything was uploaded, so a later launch may remove the copy.
UPLOADED_MARKER = ".wrn-uploaded"


# What a start writes before its work: a folder holding nothing else has no result to lose.
_START_FILES = frozenset({RunDir.LOG, RunDir.CONFIG, RunDir.CONFIG_HISTORY})


def _remove_if_unused(folder: Path) -> None:
    """A folder this launch created for a command that failed before writing any result (a refused or failed
    start): removed, so failed starts leave no folders behind (the error itself went to stderr). A folder that holds
    a result (a record, a checkpoint, an export such as the FP32 model an INT8 refusal was measured against) stays."""
    if not folder.is_dir():
        return
    relative = (path.relative_to(folder) for path in folder.rglob("*") if path.is_file())
    # dot names: temp files, the claim folder, the uploaded marker
    results = [rel for rel in relative
               if not any(part.startswith(".") for part in rel.parts) and rel.as_posix() not in _START_FILES]
    if not results:
        shutil.rmtree(folder, ignore_errors=True)


def _remove_uploaded_copies(folder: Path, own: Path, leftovers: bool) -> None:
    """Earlier launches' local copies of this remote run (beside this launch's `own`): removed once fully uploaded,
    kept (and named) otherwise, since they may hold the only copy of what a failed upload did not send. With
    `leftovers` (this launch holds the run's claim, so no other is live), copies that hold no file at all (a launch
    killed before writing any) and upload snapshot folders (links to a copy's files) are removed too."""
    for copy in sorted(folder.parent.glob(f"{folder.name}-*")):
        if copy == own or copy.name == own.name + UPLOAD_SUFFIX:
            continue
        empty = copy.is_dir() and not any(p.is_file() for p in copy.rglob("*"))
        if (leftovers and (copy.name.endswith(UPLOAD_SUFFIX) or empty)) or (copy / UPLOADED_MARKER).exists():
            shutil.rmtree(copy, ignore_errors=True)
        elif copy.is_dir():
            log.warning("keeping %s: an earlier launch's copy of this run that was not fully uploaded", copy)
