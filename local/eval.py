"""python local/eval.py --config wrn16_4 --data_url DIR --checkpoint FILE [--output result.json]"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wrn.cli import eval_main, run  # noqa: E402

sys.exit(run(eval_main))
