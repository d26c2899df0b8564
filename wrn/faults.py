"""Named kill points for the fault tests: WRN_TEST_KILL_AT=<point>:<epoch> makes the process SIGKILL itself when it
reaches that point of that epoch, so a test can cut a run exactly between two writes (<point>:<epoch>:SIGTERM sends
that signal instead). Unset (always, outside tests/test_faults.py) it costs one dictionary lookup."""

from __future__ import annotations

import os
import signal


def kill_point(name: str, epoch: int) -> None:
    wanted = os.environ.get("WRN_TEST_KILL_AT")
    if wanted is None:
        return
    point, _, sig = wanted.partition(f"{name}:{epoch}")
    if point == "" and sig in ("", ":SIGTERM", ":SIGINT"):
        if sig:
            del os.environ["WRN_TEST_KILL_AT"]  # a signal the process survives comes once
        os.kill(os.getpid(), getattr(signal, sig[1:]) if sig else signal.SIGKILL)
