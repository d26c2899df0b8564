"""One node of an msrun launch (see wrn/platform/launch.py for where the node variables come from)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wrn.cli import local_launch_main, run  # noqa: E402

sys.exit(run(local_launch_main))
