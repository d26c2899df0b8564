"""Top-1 / top-5 over a whole evaluation pipeline, counting every image exactly once."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class EvalCounts:
    correct1: int = 0
    correct5: int = 0
    images: int = 0
    loss_sum: float = 0.0

    def add(self, other: "EvalCounts") -> "EvalCounts":
        return EvalCounts(self.correct1 + other.correct1, self.correct5 + other.correct5,
                          self.images + other.images, self.loss_sum + other.loss_sum)

    @property
    def top1(self) -> float:
        return self.correct1 / self.images if self.images else 0.0

    @property
    def top5(self) -> float:
        return self.correct5 / self.images if self.images else 0.0

    def summed_over_ranks(self) -> "EvalCounts":
        from wrn.runtime import all_reduce_sum

        correct1, correct5, images, loss_sum = all_reduce_sum([self.correct1, self.correct5, self.images,
                                                               self.loss_sum])
        return EvalCounts(round(correct1), round(correct5), round(images), loss_sum)

    def as_dict(self) -> dict:
        return {"top1": self.top1, "top5": self.top5, "images": self.images,
                "loss": self.loss_sum / self.images if self.images else 0.0}


def count_correct(logits: np.ndarray, labels: np.ndarray) -> EvalCounts:
    k = min(5, logits.shape[1])
    topk = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    best = logits.argmax(axis=1)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(len(labels)), labels].sum()
    return EvalCounts(int((best == labels).sum()), int((topk == labels[:, None]).any(axis=1).sum()),
                      len(labels), float(loss))


def evaluate(net, dataset) -> EvalCounts:
    """Run `net` in inference mode over `dataset` (batches of image, label); restores the training flag."""
    was_training = net.training
    net.set_train(False)
    counts = EvalCounts()
    try:
        for images, labels in dataset.create_tuple_iterator(num_epochs=1):
            counts = counts.add(count_correct(net(images).asnumpy(), labels.asnumpy()))
    finally:
        net.set_train(was_training)
    return counts


def evaluate_checkpoint(cfg, data_url: str, checkpoint: str, output: str | None = None) -> dict:
    """Build the network of `cfg`, load `checkpoint` and evaluate it on the eval split of `data_url`."""
    from wrn import checkpoint as ckpt
    from wrn import runtime
    from wrn.data import create_dataset, find_layout
    from wrn.errors import CheckpointError
    from wrn.staging import StagingOptions, stage_in
    from wrn.storage import StorageError
    from wrn.fileio import atomic_write_json
    from wrn.model import create_model

    topology = runtime.setup(cfg)
    options = StagingOptions.from_env()
    layout = find_layout(stage_in(data_url, topology.local_rank, options))
    try:
        local_checkpoint = stage_in(checkpoint, topology.local_rank, options, kind="checkpoint")
    except StorageError as exc:
        raise CheckpointError(f"checkpoint {checkpoint}: {exc}") from None
    params = ckpt.read(local_checkpoint)
    net = create_model(cfg)
    ckpt.load_into(net, params, checkpoint)
    start = time.perf_counter()
    counts = evaluate(net, create_dataset(cfg, layout, train=False))
    result = {**counts.as_dict(), "seconds": round(time.perf_counter() - start, 3), "checkpoint": str(checkpoint),
              "data_url": str(data_url), "config": cfg.name, "device": topology.device_target}
    if output:
        atomic_write_json(Path(output), result)
    return result

