"""python modelarts/submit.py {submit,upload-code,status,logs,stop,flavors,model,deploy,service,stop-service,delete-service,predict} ... (--help)"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wrn.cli import run, submit_main  # noqa: E402

sys.exit(run(submit_main))
