"""Write the eval split as the Ascend310 app's input: python cpp_infer/preprocess.py --data_url DIR --output DIR
[--config NAME] [--batch_size B]  (img_data/*.bin float32 NCHW normalised, label/*.bin int32)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wrn.cli import preprocess_main, run  # noqa: E402

sys.exit(run(preprocess_main))
