"""Inference images/s: the exported MINDIR through the CPU runner's GraphCell, the checkpoint network in MindSpore,
and the same WRN in PyTorch (eval mode, no_grad), at batch 1 and 32.

usage: python bench/infer.py [--models wrn16_4] [--seconds 5]   (last line: JSON; PyTorch optional)
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GLOG_v", "3")


def throughput(run, batch: int, seconds: float) -> float:
    run()
    run()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run()
        count += batch
    return count / (time.perf_counter() - start)


def mindspore_side(recipe: str, batch: int, seconds: float) -> dict:
    import mindspore as ms
    import mindspore.nn as nn

    from wrn.run import checkpoint as ckpt
    from wrn.run.build import build_network, setup_runtime
    from wrn.config import load_config
    from wrn.deploy.export import export

    cfg = load_config(recipe)
    setup_runtime(cfg)
    work = Path(tempfile.mkdtemp(prefix="wrn-bench-infer-"))
    net = build_network(cfg)
    ckpt.save(work / "random.ckpt", net)
    result = export(cfg, str(work / "random.ckpt"), "MINDIR", batch, str(work / "out"))
    net.set_train(False)
    x = ms.Tensor(np.random.default_rng(0).normal(size=(batch, 3, 32, 32)).astype(np.float32))
    graph = nn.GraphCell(ms.load(result["path"]))
    return {"mindir_images_per_s": throughput(lambda: graph(x).asnumpy(), batch, seconds),
            "checkpoint_net_images_per_s": throughput(lambda: net(x).asnumpy(), batch, seconds)}


def pytorch_side(recipe: str, batch: int, seconds: float) -> dict:
    import torch

    from bench.torch_wrn import WideResNet
    from wrn.config import load_config

    cfg = load_config(recipe)
    model = WideResNet(cfg.depth, cfg.widen_factor).eval()
    x = torch.randn(batch, 3, 32, 32)
    with torch.no_grad():
        return {"pytorch_images_per_s": throughput(lambda: model(x), batch, seconds)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="wrn16_4")
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--child", default="")
    parser.add_argument("--model", default="")
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()
    if args.child:
        side = mindspore_side if args.child == "mindspore" else pytorch_side
        print(json.dumps(side(args.model, args.batch, args.seconds)))
        return 0
    figures = {}
    for model in args.models.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            row = {}
            for side in ("mindspore", "pytorch"):
                done = subprocess.run([sys.executable, __file__, "--child", side, "--model", model, "--batch",
                                       str(batch), "--seconds", str(args.seconds)], capture_output=True, text=True,
                                      cwd=ROOT)
                if done.returncode == 0:
                    row.update({k: round(v, 1) for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()})
                else:
                    print(f"{side} failed: {done.stderr[-500:]}", file=sys.stderr)
            if "pytorch_images_per_s" in row and "mindir_images_per_s" in row:
                row["mindir_vs_pytorch"] = round(row["mindir_images_per_s"] / row["pytorch_images_per_s"], 3)
            figures[f"{model}_b{batch}"] = row
            print(f"{model} batch {batch}: {json.dumps(row)}", flush=True)
    print(json.dumps({"benchmark": "infer", "results": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
