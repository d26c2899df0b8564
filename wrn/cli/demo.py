"""python -m wrn.cli demo (`make demo`): the digits data set, the demo recipe trained on it, its top-1."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Sequence

from wrn.cli.common import config_from_args


def demo_main(argv: Sequence[str] | None = None) -> int:
    """Make the digits data set (once), train the demo recipe, evaluate its best checkpoint, report."""
    parser = argparse.ArgumentParser(prog="python -m wrn.cli demo", allow_abbrev=False)
    parser.add_argument("--workdir", type=Path, default=Path("demo"))
    args, rest = parser.parse_known_args(argv)
    from wrn.run.demo import run_demo

    started = time.perf_counter()
    result = run_demo(config_from_args("demo", rest), args.workdir)
    print(f"run directory: {result['run_dir']}")
    print(f"curves:        {result['curves']}")
    print(f"best checkpoint top-1 on {result['images']} eval images: {result['top1']:.4f}")
    print(json.dumps({"top1": result["top1"], "images": result["images"],
                      "seconds": round(time.perf_counter() - started, 1), "run_dir": result["run_dir"]}))
    return 0
