"""Images/s of the training and eval pipelines alone, on real CIFAR-format files of 50,000 generated images, and
the ratio to what WRN-16-4 training consumes (--consume images/s, from bench/train_step.py: 32 / step time).

usage: python bench/data.py [--images 50000] [--consume 44] [--workers 2] [--batches 300]   (last line: JSON)
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("GLOG_v", "3")

from wrn.config import load_config  # noqa: E402
from wrn.cifar import EVAL_FILE, TRAIN_FILES, find_layout, write_records  # noqa: E402
from wrn.builder.build import build_dataset  # noqa: E402


def rate(dataset, batches: int) -> float:
    iterator = dataset.create_tuple_iterator(output_numpy=True, num_epochs=1)
    next(iterator)  # pipeline start-up
    count, start = 0, time.perf_counter()
    for i, (images, _) in enumerate(iterator):
        count += len(images)
        if i + 1 >= batches:
            break
    return count / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50000)
    parser.add_argument("--consume", type=float, default=44.0, help="images/s WRN-16-4 training consumes")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batches", type=int, default=300)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="wrn-bench-data-"))
    rng = np.random.default_rng(0)
    per_file = args.images // 5
    for name in TRAIN_FILES:
        write_records(root / "train" / name, rng.integers(0, 256, (per_file, 32, 32, 3), dtype=np.uint8),
                      rng.integers(0, 10, per_file).astype(np.int32))
    write_records(root / "eval" / EVAL_FILE, rng.integers(0, 256, (10000, 32, 32, 3), dtype=np.uint8),
                  rng.integers(0, 10, 10000).astype(np.int32))
    layout = find_layout(root)
    cfg = load_config("wrn16_4", {"batch_size": 32, "num_workers": args.workers})
    train_rate = rate(build_dataset(cfg, layout, train=True), args.batches)
    eval_rate = rate(build_dataset(cfg, layout, train=False), args.batches)
    figures = {"benchmark": "data", "images": args.images, "workers": args.workers,
               "train_images_per_s": round(train_rate, 1), "eval_images_per_s": round(eval_rate, 1),
               "consumed_images_per_s": args.consume, "train_ratio": round(train_rate / args.consume, 1)}
    print(f"train pipeline {train_rate:.0f} img/s, eval pipeline {eval_rate:.0f} img/s, "
          f"{figures['train_ratio']}x what WRN-16-4 training consumes ({args.consume} img/s)")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
