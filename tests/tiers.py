"""Where the platform tiers' own environments live (made by `make test-image` and `make test-cpp`).

The tiers' tests run under the main venv's pytest and start these interpreters as subprocesses, so the image
environment holds only what a ModelArts MindSpore image is known to hold.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STANDINS = ROOT / "tests" / "standins"


def _interpreter(variable: str, default: Path, make_target: str) -> Path:
    path = Path(os.environ.get(variable) or default)
    if not path.exists():
        pytest.fail(f"{path} does not exist: run `make {make_target}` (or set {variable})", pytrace=False)
    return path


def image_python() -> Path:
    """Python 3.9 with an old MindSpore, numpy, pyyaml and pillow only: what a ModelArts MindSpore image holds."""
    return _interpreter("WRN_IMAGE_PYTHON", ROOT / ".venv-image" / "bin" / "python", "test-image")


def lite_python() -> Path:
    """Python 3.7 with the mindspore-lite 2.0.0 wheel: its converter and the C++ runtime library."""
    return _interpreter("WRN_LITE_PYTHON", ROOT / ".venv-lite" / "bin" / "python", "test-cpp")


def lite_package(python: Path) -> Path:
    """The installed mindspore_lite folder (include/api and lib/) of the lite venv."""
    venv = python.parent.parent
    found = sorted(venv.glob("lib/python3*/site-packages/mindspore_lite"))
    if not found:
        pytest.fail(f"no mindspore_lite package under {venv}/lib/python3*/site-packages", pytrace=False)
    return found[0]


def libpython_dir(python: Path) -> str:
    """Where the interpreter's libpython lives (MindSpore's libmindspore.so needs it at load time)."""
    return subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"],
                          capture_output=True, text=True, check=True).stdout.strip()


def serve_python() -> Path:
    """Python 3.7 with only a CPU model package's dependencies (wrn/serving/requirements.txt)."""
    return _interpreter("WRN_SERVE_PYTHON", ROOT / ".venv-serve" / "bin" / "python", "test-serve")
