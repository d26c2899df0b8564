"""The demo (`make demo`): the digits data set made once, a recipe trained on it, its best checkpoint evaluated."""

from __future__ import annotations

import time
from pathlib import Path

from wrn.config import Config
from wrn.cifar import make_demo
from wrn.run.evaluate import evaluate_checkpoint
from wrn.output.rundir import RunDir
from wrn.run.train import train


def run_demo(cfg: Config, workdir: Path) -> dict:
    """Train `cfg` on workdir/data (made if missing) into a new workdir/runs/<time>; the best checkpoint's top-1 and
    eval image count, the run directory and its curves."""
    data_dir = workdir / "data"
    if not (data_dir / "eval").exists():
        make_demo(data_dir)  # train() checks the layout and every file
    run_dir = workdir / "runs" / time.strftime("%Y%m%d-%H%M%S")
    summary = train(cfg, data_dir, run_dir)
    result = evaluate_checkpoint(cfg, str(data_dir), summary["best_checkpoint"])
    return {"top1": result["top1"], "images": result["images"], "run_dir": summary["run_dir"],
            "curves": str(RunDir(Path(summary["run_dir"])).curves)}
