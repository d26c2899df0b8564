"""Named kill points for the fault tests: WRN_TEST_KILL_AT=<point>:<epoch> makes the process SIGKILL itself when it
reaches that point of that epoch, so a test can cut a run exactly between two writes. Unset (always, outside
tests/test_faults.py) it costs one dictionary lookup."""

from __future__ import annotations

import os
import signal


def kill_point(name: str, epoch: int) -> None:
    if os.environ.get("WRN_TEST_KILL_AT") == f"{name}:{epoch}":
        os.kill(os.getpid(), signal.SIGKILL)
