"""ModelArts boot file: started once per card. Runs from the uploaded code folder with no install.

Accepts the platform's --data_url/--train_url (obs:// URLs or mounted local paths), --key=value hyperparameters,
and ignores the platform's own extra arguments (e.g. --init_method). Resumes automatically (--resume=auto).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wrn.cli import modelarts_train_main, run  # noqa: E402

sys.exit(run(modelarts_train_main))
