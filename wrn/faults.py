"""Named kill points for the fault tests: WRN_TEST_KILL_AT=<point>:<n> makes the process SIGKILL itself when it
reaches that point with that number (the epoch; the global step for `step-end`; 0 for points without one), so a
test can cut a run exactly between two writes. <point>:<n>:SIGTERM (or :SIGINT) sends that signal instead, and
<point>:<n>:SIGSTOP stops the process there (all its threads): a test then acts on a run known to be alive at a known
place (a second training into its train_url, a signal from outside) and SIGCONTs it if it should go on. A signal
the process survives comes once. Unset (always, outside the tests) it costs one dictionary lookup.

The points: `after-metrics` (an epoch's metrics line written, its checkpoint not), `after-last` (last.ckpt written,
best/kept not), `step-end` (after an optimizer step's logging), `uploaded-<file>` (the uploader thread has sent that
file of the run, e.g. uploaded-ckpt/last.ckpt:0, the first time), `final-upload`, `export-written`."""

from __future__ import annotations

import os
import signal

_SURVIVABLE = (":SIGTERM", ":SIGINT", ":SIGSTOP")


def kill_point(name: str, number: int) -> None:
    wanted = os.environ.get("WRN_TEST_KILL_AT")
    if wanted is None:
        return
    point, _, sig = wanted.partition(f"{name}:{number}")
    if point == "" and (sig == "" or sig in _SURVIVABLE):
        if sig:
            del os.environ["WRN_TEST_KILL_AT"]  # a signal the process survives comes once
        os.kill(os.getpid(), getattr(signal, sig[1:]) if sig else signal.SIGKILL)
