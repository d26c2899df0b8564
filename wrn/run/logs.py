"""Log lines to stdout and to the run's train.log (rank 0) or logs/rank_N/train.log (other ranks)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

_FORMAT = "%(asctime)s %(levelname)s %(message)s"


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
