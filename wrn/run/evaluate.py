"""evaluate_checkpoint(cfg, data_url, checkpoint): top-1/top-5 of a checkpoint (local or obs://) on the eval split."""

from __future__ import annotations

import time
from pathlib import Path

from wrn import signals
from wrn.builder.build import build_dataset, load_network, setup_runtime
from wrn.cifar import find_layout
from wrn.config import Config
from wrn.core.metrics import evaluate
from wrn.fileio import atomic_write_json, check_writable
from wrn.output.rundir import RunDir, open_run
from wrn.platform.staging import StagingOptions, stage_in


def evaluate_checkpoint(cfg: Config, data_url: str, checkpoint: str, output: str | None = None) -> dict:
    """Build the network of `cfg`, load `checkpoint` and evaluate it on every image of data_url's eval split."""
    if output:
        check_writable(Path(output))
    topology = setup_runtime(cfg)
    signals.graceful_from_here()  # MindSpore is up: a signal now stops the evaluation cleanly
    options = StagingOptions.from_env()
    layout = find_layout(stage_in(data_url, topology.local_rank, options), cfg.dataset, cfg.label)
    net = load_network(cfg, checkpoint, topology, options)
    start = time.perf_counter()
    counts = evaluate(net, build_dataset(cfg, layout, train=False))
    result = {**counts.as_dict(), "seconds": round(time.perf_counter() - start, 3), "checkpoint": str(checkpoint),
              "data_url": str(data_url), "config": cfg.name, "device": topology.device_target}
    if output:
        atomic_write_json(Path(output), result)
    return result


def evaluate_into(cfg: Config, data_url: str, checkpoint: str, train_url: str) -> dict:
    """`evaluate_checkpoint`, with the result written to train_url/eval.json (uploaded when train_url is obs://)."""
    result = evaluate_checkpoint(cfg, data_url, checkpoint)
    topology = setup_runtime(cfg)  # already set up: returns the same topology
    with open_run(train_url, topology.rank, StagingOptions.from_env()) as run:
        if topology.is_main:
            run.write_json(run.eval_result, result)
    return {**result, "eval_json": run.location(RunDir.EVAL)}
