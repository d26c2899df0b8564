"""Has the train step's peak memory grown? Runs the package's train step (bench/train_step.py's MindSpore side, in
its own process: a clean peak RSS) and compares its peak with the figure recorded in bench/memory_baseline.json for
the same model, batch and MindSpore version; exit status 1 when it is more than --allowed (10 %) above.

usage: python bench/memory_regression.py [--models wrn16_4] [--batch 32] [--steps 2] [--record]
       [--measured FILE]
       (--record writes the measured figures as the new baseline; --measured judges the peaks of an earlier run,
       its output saved in FILE, instead of measuring again, e.g. against another baseline; last line: JSON)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "bench" / "memory_baseline.json"


def measure(model: str, batch: int, steps: int, overrides: str) -> dict:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "train_step.py"), "--child", "mindspore", "--model",
                           model, "--batch", str(batch), "--steps", str(steps), "--warmup", "0",
                           "--overrides", overrides], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"train step of {model} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def peaks(args: argparse.Namespace) -> Iterator[tuple[str, int]]:
    """(baseline key, peak RSS in MB) of each model: measured now, one model after the other, or read from the last
    line of an earlier run (--measured)."""
    if args.measured is not None:
        earlier = json.loads(args.measured.read_text().strip().splitlines()[-1])
        for key, row in earlier["results"].items():
            yield key, row["peak_rss_mb"]
        return
    for model in args.models.split(","):
        figures = measure(model, args.batch, args.steps, args.overrides)
        key = f"{model}_b{args.batch}_mindspore{figures['mindspore']}" + (
            "" if args.overrides == "{}" else f"_{args.overrides}")
        yield key, round(figures["peak_rss_mb"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="wrn16_4")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--overrides", default="{}", help="JSON config overrides (features on: ema_decay, ...)")
    parser.add_argument("--allowed", type=float, default=0.10, help="allowed growth over the record (0.10)")
    parser.add_argument("--baseline", type=Path, default=BASELINE)
    parser.add_argument("--record", action="store_true", help="write the measured figures as the baseline")
    parser.add_argument("--measured", type=Path, help="an earlier run's output: judge its peaks, measure nothing")
    args = parser.parse_args()
    recorded = json.loads(args.baseline.read_text()) if args.baseline.is_file() else {}
    results, failed = {}, False
    for key, peak in peaks(args):
        row = {"peak_rss_mb": peak, "load_average": round(os.getloadavg()[0], 2)}
        if args.record:
            recorded[key] = {"peak_rss_mb": peak, "date": time.strftime("%Y-%m-%d")}
            row["verdict"] = "RECORDED"
        elif key not in recorded:
            row["verdict"] = "NO RECORD"
            failed = True
        else:
            limit = recorded[key]["peak_rss_mb"] * (1 + args.allowed)
            row.update(recorded_mb=recorded[key]["peak_rss_mb"], limit_mb=round(limit),
                       verdict="GREW" if peak > limit else "OK")
            failed |= peak > limit
        results[key] = row
        print(f"{key}: peak {peak} MB, {row['verdict']}"
              + (f" (recorded {row['recorded_mb']} MB, limit {row['limit_mb']} MB)" if "limit_mb" in row else ""),
              flush=True)
    if args.record:
        args.baseline.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
    print(json.dumps({"benchmark": "memory_regression", "allowed": args.allowed, "results": results}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
