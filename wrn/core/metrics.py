"""Top-1 / top-5 / loss counts over a whole evaluation pipeline, every image counted exactly once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

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

    def summed(self, reduce: Callable[[list[float]], list[float]]) -> "EvalCounts":
        """The counts summed by `reduce` (e.g. an all-reduce over the data-parallel ranks)."""
        correct1, correct5, images, loss_sum = reduce([self.correct1, self.correct5, self.images, self.loss_sum])
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
