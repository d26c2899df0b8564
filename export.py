"""The ModelZoo WideResNet's export command, unchanged:
python export.py --ckpt_file CKPT --file_format MINDIR --file_name NAME [--device_id N] [--config RECIPE|YAML]"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from wrn.cli import modelzoo_export_main, run  # noqa: E402

sys.exit(run(modelzoo_export_main))
