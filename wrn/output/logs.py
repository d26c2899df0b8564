"""Log lines to stdout and to the run's train.log (rank 0) or logs/rank_N/train.log (other ranks)."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

_FORMAT = "%(asctime)s %(levelname)s %(message)s"
# The first line of every launch names its number; a restarted job (ModelArts' automatic restart, or the user's
# own) appends to the same train.log, so the launches it already holds give the next number.
_LAUNCH_LINE = re.compile(r" INFO launch (\d+) of this run")


def launch_number(log_file: Path | None) -> int:
    """1 + the launches `log_file` (this run directory's log, fetched from train_url on a remote resume) records."""
    if log_file is None or not log_file.is_file():
        return 1
    with open(log_file, encoding="utf-8", errors="replace") as lines:
        return 1 + sum(1 for line in lines if _LAUNCH_LINE.search(line))


def launch_line(number: int, topology: str) -> str:
    """The first log line of a launch: its number, whether it is a restart, and where it runs."""
    earlier = number - 1
    restarted = f" (a restart: {earlier} earlier launch{'es' if earlier > 1 else ''} logged above)" if earlier else ""
    return f"launch {number} of this run{restarted}: {topology}"


def setup_logging(log_file: Path | None, rank: int = 0) -> logging.Logger:
    """Configure `wrn` (console + file) and `wrn.file` (file only, for lines a progress bar already shows)."""
    log = logging.getLogger("wrn")
    file_only = logging.getLogger("wrn.file")
    file_only.propagate = False
    for logger in (log, file_only):
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(logging.INFO)
    prefix = f"[rank {rank}] " if rank else ""
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(logging.Formatter(prefix + _FORMAT, "%H:%M:%S"))
    log.addHandler(console)
    log.propagate = False
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setFormatter(logging.Formatter(_FORMAT))
        log.addHandler(to_file)
        file_only.addHandler(to_file)
    return log
