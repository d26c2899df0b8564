"""SIGINT and SIGTERM (ModelArts stops a job with SIGTERM): a clean stop with exit 130 / 143 and one line.

While a command starts (imports, MindSpore initialisation) nothing has been written and an exception raised inside
MindSpore's initialisation aborts the interpreter ("Fatal Python error"), so a signal then ends the process at
once with its message. From `graceful_from_here()` on (called once the command's work begins) the signal raises
`Stopped`, so context managers finish what they own (the uploader sends every completed file) before exiting.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

from wrn.errors import Stopped

_graceful = False
_installed = False  # only the command-line entry points take the signals over; a library caller keeps its own
_deferred: list[str] | None = None  # inside `deferred()`: the signals received, raised when it ends
_previous: dict[int, object] = {}  # the handlers `install()` replaced, for `uninstall()`


def _handle(signum: int, frame) -> None:
    name = signal.Signals(signum).name
    if _deferred is not None:
        _deferred.append(name)
        logging.getLogger("wrn").warning("%s received: finishing the upload of the run's files first", name)
        return
    if not _graceful:
        sys.stderr.write(f"stopped by {name} while starting: no result was written yet\n")
        sys.stderr.flush()
        os._exit(128 + signum)
    raise Stopped(name, 128 + signum)


def install() -> None:
    """Handle SIGINT and SIGTERM in this (main) thread; starting up, a signal ends the process at once."""
    global _graceful, _installed
    _graceful = False
    if threading.current_thread() is threading.main_thread():
        _installed = True
        for signum in (signal.SIGINT, signal.SIGTERM):
            _previous.setdefault(signum, signal.getsignal(signum))
            signal.signal(signum, _handle)


def uninstall() -> None:
    """Give SIGINT and SIGTERM back to the handlers `install()` found: for a caller that ran a command inside its
    own long-lived process (a test runner) and keeps handling signals itself afterwards."""
    global _graceful, _installed
    if _installed and threading.current_thread() is threading.main_thread():
        for signum, handler in _previous.items():
            signal.signal(signum, handler)
    _previous.clear()
    _graceful = _installed = False


def graceful_from_here() -> None:
    """From now on a signal raises `Stopped`. Installed again here because MindSpore's initialisation may replace
    the handlers. (During training steps MindSpore's runtime installs a SIGINT handler of its own that turns Ctrl-C
    into SIGTERM: the run then stops the same clean way, reported as SIGTERM with exit 143.)"""
    global _graceful
    _graceful = True
    if _installed and threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _handle)


@contextmanager
def deferred() -> Iterator[None]:
    """A block that must not be cut (the final upload of a run: without it the object store lacks summary.json): a
    signal within it is remembered and raised as `Stopped` when the block has finished."""
    global _deferred
    outer, _deferred = _deferred, []
    try:
        yield
    finally:
        received, _deferred = _deferred, outer
    if received and _graceful:
        name = received[0]
        raise Stopped(name, 128 + signal.Signals[name].value)
