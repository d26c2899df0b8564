"""Training step time: the package's MindSpore model and train cell vs the same WRN in PyTorch.

Each measurement runs in its own process (clean peak RSS), MindSpore and PyTorch alternate, and medians are taken
over --steps steps after --warmup warm-up steps. MindSpore's first step (graph compilation) is reported apart.
speed_ratio = PyTorch step time / MindSpore step time (above 1: MindSpore is faster); rss_ratio = MindSpore peak
RSS / PyTorch peak RSS. The `onestepcell` framework is MindSpore's own `nn.TrainOneStepCell` on the same network, loss
and optimizer (the step before the package's TrainStep): rss_vs_onestepcell = TrainStep peak / its peak.

usage: python bench/train_step.py [--models wrn16_4,wrn28_10,wrn40_10] [--steps 10] [--warmup 3] [--rounds 1]
       [--frameworks mindspore,onestepcell,pytorch]
PyTorch: pip install torch==2.13.0 (benchmark only). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def mindspore_steps(recipe: str, batch: int, steps: int, warmup: int, overrides: dict,
                    onestepcell: bool = False) -> dict:
    import numpy as np

    os.environ.setdefault("GLOG_v", "3")
    import mindspore as ms

    from wrn.config import load_config
    from wrn.core.model import count_trainable_parameters
    from wrn.builder.build import build_trainer, setup_runtime

    cfg = load_config(recipe, {"batch_size": batch, **overrides})
    trainer = build_trainer(cfg, steps + warmup + 1, setup_runtime(cfg))
    net = trainer.net
    cell = trainer.step
    if onestepcell:  # the same loss network and optimizer in MindSpore's plain cell
        cell = ms.nn.TrainOneStepCell(trainer.step.network, trainer.step.optimizer)
        del trainer
    cell.set_train(True)
    rng = np.random.default_rng(0)
    images = ms.Tensor(rng.normal(size=(batch, 3, 32, 32)).astype(np.float32))
    labels = ms.Tensor(rng.integers(0, 10, batch).astype(np.int32))
    start = time.perf_counter()
    _loss_of(cell(images, labels)).asnumpy()
    compile_s = time.perf_counter() - start
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        _loss_of(cell(images, labels)).asnumpy()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "compile_s": compile_s, "parameters": count_trainable_parameters(net),
            "peak_rss_mb": peak_rss_mb(), "mindspore": ms.__version__}


def _loss_of(output):
    return output[0] if isinstance(output, tuple) else output  # TrainStep gives (loss, scale), TrainOneStepCell loss


def onestepcell_steps(recipe: str, batch: int, steps: int, warmup: int, overrides: dict) -> dict:
    return mindspore_steps(recipe, batch, steps, warmup, overrides, onestepcell=True)


def pytorch_steps(recipe: str, batch: int, steps: int, warmup: int, overrides: dict) -> dict:
    import torch

    from bench.torch_wrn import WideResNet, trainable_parameters
    from wrn.config import load_config

    cfg = load_config(recipe, {"batch_size": batch, **overrides})
    model = WideResNet(cfg.depth, cfg.widen_factor, cfg.num_classes, cfg.dropout)
    decay = [p for p in model.parameters() if p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.dim() <= 1]
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": cfg.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, momentum=cfg.momentum,
                                nesterov=cfg.nesterov)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, 32, 32, generator=generator)
    labels = torch.randint(0, 10, (batch,), generator=generator)
    model.train()
    times = []
    for i in range(1 + warmup + steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
        loss.item()
        if i > warmup:
            times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "parameters": trainable_parameters(model),
            "peak_rss_mb": peak_rss_mb(), "torch": torch.__version__, "threads": torch.get_num_threads()}


def child(args) -> int:
    work = {"mindspore": mindspore_steps, "onestepcell": onestepcell_steps, "pytorch": pytorch_steps}[args.child]
    print(json.dumps(work(args.model, args.batch, args.steps, args.warmup, json.loads(args.overrides))))
    return 0


def measure(framework: str, model: str, args) -> dict:
    command = [sys.executable, __file__, "--child", framework, "--model", model, "--batch", str(args.batch),
               "--steps", str(args.steps), "--warmup", str(args.warmup), "--overrides", args.overrides]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{framework} {model} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="wrn16_4,wrn28_10,wrn40_10")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1, help="alternating MindSpore/PyTorch rounds")
    parser.add_argument("--overrides", default="{}", help="JSON config overrides for the MindSpore side, e.g. "
                                                          "'{\"amp_level\": \"O0\"}'")
    parser.add_argument("--frameworks", default="mindspore,pytorch")
    parser.add_argument("--child", default="")
    parser.add_argument("--model", default="")
    args = parser.parse_args()
    if args.child:
        return child(args)
    frameworks = args.frameworks.split(",")
    if "pytorch" in frameworks:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("PyTorch is not installed (pip install torch==2.13.0): measuring MindSpore only", file=sys.stderr)
            frameworks = [f for f in frameworks if f != "pytorch"]
    figures = {}
    for model in args.models.split(","):
        runs: dict[str, list[dict]] = {f: [] for f in frameworks}
        for _ in range(args.rounds):
            for framework in frameworks:
                runs[framework].append(measure(framework, model, args))
        row = {"batch": args.batch}
        for framework, results in runs.items():
            row[f"{framework}_median_s"] = round(statistics.median(r["median_s"] for r in results), 4)
            row[f"{framework}_peak_rss_mb"] = round(max(r["peak_rss_mb"] for r in results))
            row[f"{framework}_parameters"] = results[0]["parameters"]
        if "mindspore" in runs:
            row["mindspore_compile_s"] = round(statistics.median(r["compile_s"] for r in runs["mindspore"]), 2)
        if "mindspore" in runs and "pytorch" in runs:
            assert row["mindspore_parameters"] == row["pytorch_parameters"], "the two networks differ"
            row["speed_ratio"] = round(row["pytorch_median_s"] / row["mindspore_median_s"], 3)
            row["rss_ratio"] = round(row["mindspore_peak_rss_mb"] / row["pytorch_peak_rss_mb"], 3)
        if "mindspore" in runs and "onestepcell" in runs:
            row["rss_vs_onestepcell"] = round(row["mindspore_peak_rss_mb"] / row["onestepcell_peak_rss_mb"], 3)
        row["load_average"] = round(os.getloadavg()[0], 2)
        figures[model] = row
        print(model, json.dumps(row), flush=True)
    print(json.dumps({"benchmark": "train_step", "overrides": json.loads(args.overrides), "models": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
