"""CPU training levers: each lever's train step time and peak RSS against the default, alternating processes.

A lever is an environment variable set for the process, or a MindSpore setting applied before the network is
built; the step is the package's own train step (`bench/train_step.py`'s MindSpore side). Each round runs the
default and then every lever once; medians over rounds; `speedup` = default s/step / lever s/step (above 1: faster).
A lever that fails to build or run is reported with its one-line reason.

usage: python bench/levers.py [--model wrn16_4] [--batch 32] [--steps 8] [--warmup 2] [--rounds 2] [--only a,b]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# name -> (environment, what to apply in the process before building, what it is)
LEVERS: dict[str, tuple[dict, str, str]] = {
    "default": ({}, "", "the package's CPU defaults"),
    "graph_kernel": ({}, "ms.set_context(enable_graph_kernel=True)", "graph kernel fusion"),
    "graph_kernel_o2": ({}, "ms.set_context(enable_graph_kernel=True, graph_kernel_flags='--opt_level=2')",
                        "graph kernel fusion, opt_level 2"),
    "jit_o0": ({}, "ms.set_context(jit_config={'jit_level': 'O0'})", "jit_config jit_level O0 (whole process)"),
    "jit_o1": ({}, "ms.set_context(jit_config={'jit_level': 'O1'})", "jit_config jit_level O1 (whole process)"),
    "jit_o2": ({}, "ms.set_context(jit_config={'jit_level': 'O2'})", "jit_config jit_level O2 (whole process)"),
    "omp_threads": ({"OMP_NUM_THREADS": str(os.cpu_count())}, "", "OMP_NUM_THREADS = cores"),
    "kmp_affinity": ({"OMP_NUM_THREADS": str(os.cpu_count()), "KMP_AFFINITY": "granularity=fine,compact,1,0",
                      "KMP_BLOCKTIME": "1", "OMP_PROC_BIND": "close"}, "", "KMP_AFFINITY/KMP_BLOCKTIME/OMP_PROC_BIND"),
    "cpu_affinity": ({}, f"ms.runtime.set_cpu_affinity(True, ['0-{os.cpu_count() - 1}'])",
                     "ms.runtime.set_cpu_affinity with explicit cores"),
    "onednn_bf16": ({"ONEDNN_DEFAULT_FPMATH_MODE": "BF16"}, "",
                    "oneDNN implicit bf16 math for float32 primitives (AMX/AVX512-BF16)"),
    "onednn_isa_avx2": ({"DNNL_MAX_CPU_ISA": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}, "",
                        "oneDNN limited to AVX2 (does MindSpore's oneDNN read the environment?)"),
    "nhwc": ({}, "NHWC", "an NHWC convolution on CPU"),
    "max_device_memory": ({}, "ms.set_context(max_device_memory='1GB')", "max_device_memory 1GB (peak RSS)"),
    "memory_o1": ({}, "ms.runtime.set_memory(optimize_level='O1')", "set_memory(optimize_level='O1') (peak RSS)"),
}


def child(name: str, model: str, batch: int, steps: int, warmup: int) -> dict:
    os.environ.setdefault("GLOG_v", "3")
    import mindspore as ms  # noqa: F401  (the setup strings use it)

    from bench.train_step import mindspore_steps

    setup = LEVERS[name][1]
    if setup == "NHWC":
        return nhwc_probe()
    if setup:
        exec(setup, {"ms": ms})  # noqa: S102  (a fixed table above, not input)
    return mindspore_steps(model, batch, steps, warmup, {})


def nhwc_probe() -> dict:
    """Whether 2.8.0's CPU backend runs a convolution in NHWC at all (nn.Conv2d(data_format='NHWC'))."""
    import mindspore as ms
    import mindspore.nn as nn
    import numpy as np

    from wrn.platform.runtime import set_device

    ms.set_context(mode=ms.GRAPH_MODE)
    set_device("CPU")
    conv = nn.Conv2d(16, 16, 3, data_format="NHWC")
    conv(ms.Tensor(np.zeros((2, 32, 32, 16), np.float32))).asnumpy()
    return {"median_s": 0.0, "peak_rss_mb": 0.0, "note": "NHWC convolution ran on CPU"}


def measure(name: str, args) -> dict:
    env = {**os.environ, **LEVERS[name][0]}
    done = subprocess.run([sys.executable, __file__, "--child", name, "--model", args.model, "--batch",
                           str(args.batch), "--steps", str(args.steps), "--warmup", str(args.warmup)],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("[WARNING]")]
        reason = next((line.strip() for line in reversed(lines) if "Error" in line or "error" in line),
                      lines[-1] if lines else f"exit {done.returncode}")
        return {"failed": reason[:300]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="wrn16_4")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated levers (the default always runs)")
    parser.add_argument("--child", default="")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.model, args.batch, args.steps, args.warmup)))
        return 0
    names = ["default"] + [n for n in LEVERS if n != "default" and (not args.only or n in args.only.split(","))]
    samples: dict[str, list[dict]] = {n: [] for n in names}
    for _ in range(args.rounds):
        for name in names:
            samples[name].append(measure(name, args))
    base = statistics.median(r["median_s"] for r in samples["default"] if "median_s" in r)
    rows = {}
    for name in names:
        good = [r for r in samples[name] if "median_s" in r]
        if not good:
            rows[name] = {"failed": samples[name][0]["failed"]}
        elif "note" in good[0]:
            rows[name] = {"note": good[0]["note"]}
        else:
            step = statistics.median(r["median_s"] for r in good)
            rows[name] = {"s_per_step": round(step, 4), "rounds_s": [round(r["median_s"], 4) for r in good],
                          "speedup": round(base / step, 3),
                          "peak_rss_mb": round(statistics.median(r["peak_rss_mb"] for r in good))}
        print(f"{name:18s} {LEVERS[name][2]}: {json.dumps(rows[name])}", flush=True)
    print(json.dumps({"benchmark": "levers", "model": args.model, "batch": args.batch, "rounds": args.rounds,
                      "levers": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
