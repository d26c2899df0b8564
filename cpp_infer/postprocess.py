"""Accuracy of the Ascend310 app's results: python cpp_infer/postprocess.py --result_dir DIR --label_dir DIR
[--output acc.log]  (fails if any result file is missing or of the wrong size)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wrn.cli import postprocess_main, run  # noqa: E402

sys.exit(run(postprocess_main))
