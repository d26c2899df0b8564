"""ModelArts boot file of an msrun job (one process per node): the plan from the platform's node variables, then
msrun starts modelarts/train.py once per card of this node. See wrn/platform/launch.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wrn.cli import modelarts_launch_main, run  # noqa: E402

sys.exit(run(modelarts_launch_main))
