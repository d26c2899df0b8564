"""python local/train.py --config wrn16_4 --data_url DIR --train_url DIR [--resume=auto] [--key=value ...]"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wrn.cli import run, train_main  # noqa: E402

sys.exit(run(train_main))
