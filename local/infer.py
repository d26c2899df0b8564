"""python local/infer.py --help"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wrn.cli import infer_main, run  # noqa: E402

sys.exit(run(infer_main))
