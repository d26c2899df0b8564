"""The run directory (train_url): its fixed file names, a writability check, and who hears of finished files."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from wrn.errors import RunDirError


@dataclass
class RunDir:
    """`root` is local; `remote` is the obs:// train_url it is mirrored to, if any. `rank` picks the log file."""

    root: Path
    rank: int = 0
    remote: str = ""
    listeners: list[Callable[..., None]] = field(default_factory=list)

    @classmethod
    def open(cls, path: str | Path, rank: int = 0, remote: str = "") -> "RunDir":
        """Create the folder if needed and prove it is writable before any training work starts."""
        root = Path(path).expanduser()
        try:
            root.mkdir(parents=True, exist_ok=True)
            probe = root / f".write-test-{uuid.uuid4().hex}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise RunDirError(f"train_url {root} is not a writable folder: {exc.strerror or exc}") from None
        return cls(root.resolve(), rank, remote)

    config = property(lambda self: self.root / "config.yaml")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    log = property(lambda self: self.root / "train.log" if self.rank == 0
                   else self.root / "logs" / f"rank_{self.rank}" / "train.log")
    last_ckpt = property(lambda self: self.root / "ckpt" / "last.ckpt")
    best_ckpt = property(lambda self: self.root / "ckpt" / "best.ckpt")
    curves = property(lambda self: self.root / "curves.png")
    summary = property(lambda self: self.root / "summary.json")

    def epoch_ckpt(self, epoch: int) -> Path:
        return self.root / "ckpt" / f"epoch_{epoch:04d}.ckpt"

    def periodic_ckpts(self) -> list[Path]:
        return sorted((self.root / "ckpt").glob("epoch_[0-9][0-9][0-9][0-9].ckpt"))

    def written(self, path: Path, wait: bool = False) -> None:
        """Tell listeners (the uploader of a remote train_url) that `path` is complete; `wait`: upload it now."""
        for listener in self.listeners:
            listener(path, wait=wait)

    def relative(self, path: Path) -> str:
        return os.path.relpath(path, self.root)

    def location(self, relative: str) -> str:
        """Where `relative` lives for the user: below the remote train_url when there is one."""
        return f"{self.remote}/{relative}" if self.remote else str(self.root / relative)

    def __str__(self) -> str:
        return self.remote or str(self.root)
