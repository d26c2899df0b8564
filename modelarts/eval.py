"""ModelArts boot file for evaluation: --data_url (obs:// or the mounted input), --checkpoint (obs:// or a mounted
path), --train_url (the output folder: eval.json goes there). Runs from the uploaded code folder with no install."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wrn.cli import modelarts_eval_main, run  # noqa: E402

sys.exit(run(modelarts_eval_main))
