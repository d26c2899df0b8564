"""Command lines run in the test process (no new Python, no MindSpore start-up): for commands whose behaviour is
parsing and a one-line error, as `python -m wrn.cli` runs them (`wrn.cli.run`: exit status, `error: ...` line)."""

from __future__ import annotations

import signal
from typing import Callable, Sequence

from wrn.cli import run


def run_in_process(capsys, main: Callable[[Sequence[str] | None], int], *argv: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `main(argv)` run as the command line runs it; the signal handlers that
    `run` installs are put back, so the test session's Ctrl-C still works."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = run(main, list(argv))
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
