"""Overhead of a whole training run beyond its train steps: data waits, evaluation, checkpoints, curves, logs.

Trains the demo recipe on the digits set (python -m wrn.cli data make-demo) and compares the run's wall time with
the sum of its step times (recorded per epoch in metrics.jsonl as step_seconds).

usage: python bench/epoch.py [--epochs 8] [--images N] [--key=value ...]   (last line: JSON)
       --images: train on the first N images of the digits' train split (default: all 1,437; fewer for a smoke run)
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("GLOG_v", "3")

from wrn.cli import split_overrides  # noqa: E402
from wrn.config import load_config, parse_overrides  # noqa: E402
from wrn.cifar import RECORD_BYTES, make_demo  # noqa: E402
from wrn.run.train import train  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--images", type=int, default=0, help="train images (default 0: the whole train split)")
    args, rest = parser.parse_known_args()
    work = Path(tempfile.mkdtemp(prefix="wrn-bench-epoch-"))
    layout = make_demo(work / "data")
    if args.images:
        (train_file,) = layout.train_files  # CIFAR-10 records of one label byte: the first N records are N images
        train_file.write_bytes(train_file.read_bytes()[:args.images * RECORD_BYTES])
    cfg = load_config("demo", {"epochs": args.epochs, **parse_overrides(split_overrides(rest))})
    start = time.perf_counter()
    train(cfg, work / "data", work / "run")
    wall = time.perf_counter() - start
    records = [json.loads(line) for line in (work / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = sum(r["step_seconds"] for r in records)
    epochs = sum(r["epoch_seconds"] for r in records)
    evals = sum(r.get("eval_seconds") or 0 for r in records)
    figures = {"benchmark": "epoch", "epochs": args.epochs, "wall_s": round(wall, 2), "step_s": round(steps, 2),
               "in_epoch_non_step_s": round(epochs - steps, 2), "eval_s": round(evals, 2),
               "overhead_fraction": round((wall - steps) / wall, 4),
               "overhead_excluding_first_step_compile_fraction": None}
    first_step = records[0]["step_seconds"] - records[1]["step_seconds"] if len(records) > 1 else 0.0
    figures["overhead_excluding_first_step_compile_fraction"] = round((wall - steps) / (wall - max(first_step, 0)), 4)
    print(f"wall {wall:.1f} s, train steps {steps:.1f} s ({steps / wall:.1%}), eval {evals:.1f} s, "
          f"overhead {figures['overhead_fraction']:.1%}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
