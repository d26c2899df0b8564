"""Command-line front ends shared by local/, modelarts/, export.py and cpp_infer/: each parses, calls one wrn
function, prints its result and exits with its status (`run`). One module per command; `python -m wrn.cli COMMAND`
runs any of them."""

import os

# MindSpore's C++ logger prints every WARNING to stderr; keep errors only unless the user asked for more.
os.environ.setdefault("GLOG_v", "3")

from wrn.cli.common import run, split_overrides  # noqa: E402
from wrn.cli.cpp_infer import aipp_main, infer_main, postprocess_main, preprocess_main, sidecar_main  # noqa: E402
from wrn.cli.data import data_main  # noqa: E402
from wrn.cli.demo import demo_main  # noqa: E402
from wrn.cli.evaluate import eval_main, modelarts_eval_main  # noqa: E402
from wrn.cli.export import export_main, modelarts_export_main, modelzoo_export_main  # noqa: E402
from wrn.cli.launch import launch_main, local_launch_main, modelarts_launch_main  # noqa: E402
from wrn.cli.ranktable import ranktable_main  # noqa: E402
from wrn.cli.serve import package_main, serve_main  # noqa: E402
from wrn.cli.submit import submit_main  # noqa: E402
from wrn.cli.train import modelarts_train_main, train_main  # noqa: E402

# `python -m wrn.cli NAME`
COMMANDS = {"train": train_main, "eval": eval_main, "demo": demo_main, "data": data_main, "submit": submit_main,
            "export": export_main, "infer": infer_main, "preprocess": preprocess_main, "postprocess": postprocess_main,
            "aipp": aipp_main, "package": package_main, "serve": serve_main, "sidecar": sidecar_main,
            "ranktable": ranktable_main}

__all__ = ["COMMANDS", "run", "split_overrides", "train_main", "modelarts_train_main", "launch_main",
           "local_launch_main", "modelarts_launch_main", "eval_main", "modelarts_eval_main", "export_main",
           "modelarts_export_main", "modelzoo_export_main", "infer_main", "preprocess_main", "postprocess_main",
           "aipp_main", "sidecar_main", "ranktable_main", "demo_main", "data_main", "submit_main", "package_main",
           "serve_main"]
