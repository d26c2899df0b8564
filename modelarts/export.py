"""ModelArts boot file for export: --checkpoint (obs:// or a mounted path), --file_format, --batch_size,
--train_url (the output folder). Runs from the uploaded code folder with no install."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wrn.cli import modelarts_export_main, run  # noqa: E402

sys.exit(run(modelarts_export_main))
