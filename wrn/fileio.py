"""Atomic file writes: a temp file in the same folder, then a rename, so no reader sees a half-written file; and the
check that a file can be written there before the work that produces it."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from wrn.errors import WrnError


@contextmanager
def atomic_path(path: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path next to `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes the file 0600 and MindSpore's writers chmod theirs to 0400; a finished file is for the
        # deployment too (a service under another user reads the export): rw for its owner, readable as the umask
        # allows (0644 under the usual 022).
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        # Writers may add temp files of their own next to ours (MindSpore's save_checkpoint writes NAME.tmp and
        # leaves it behind when the disk is full): everything named after this write goes with it.
        for leftover in path.parent.glob(glob.escape(tmp.name[: -len(f".tmp{suffix}")]) + ".*"):
            leftover.unlink(missing_ok=True)


def _umask() -> int:
    """The process's umask, read without changing it (os.umask sets it, racing other threads' file creation)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def append_line(path: Path, line: str) -> None:
    """Append one complete line with a single write, so a reader never sees half a record."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line.rstrip("\n") + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def sha256_of(path: Path) -> str:
    """The file's SHA-256 (hex), read in 1 MiB chunks (exports of hundreds of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def prove_writable(folder: Path) -> None:
    """Create `folder` if needed and a file in it (removed at once): OSError unless this user can write there. Each
    caller words the error for its own argument."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".wrn-write-test-"):
        pass


def check_writable(output: Path) -> None:
    """Before the work, not after: --output must be a file path in a folder this user can write."""
    if output.is_dir():
        raise WrnError(f"--output {output} is a folder: give a file path, e.g. {output / 'eval.json'}")
    try:
        prove_writable(output.parent)
    except OSError as exc:
        raise WrnError(f"--output {output}: its folder {output.parent} is not writable ({exc.strerror})") from None
