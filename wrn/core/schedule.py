"""Per-step learning rates: linear warmup, then multistep decay or cosine annealing."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def peak_lr(lr: float, lr_scaling: str, world_size: int) -> float:
    """`lr` is for one device's batch; lr_scaling=linear multiplies it by the device count (Goyal et al., 2017)."""
    return lr * world_size if lr_scaling == "linear" else lr


def learning_rates(*, lr: float, epochs: int, steps_per_epoch: int, schedule: str = "multistep",
                   milestones: Sequence[int] = (), gamma: float = 0.2, min_lr: float = 0.0,
                   warmup_epochs: int = 0) -> np.ndarray:
    """One float32 LR per optimizer step of the whole run (epochs x steps_per_epoch).

    Warmup rises linearly from lr/warmup_steps to lr; multistep multiplies by `gamma` at each milestone epoch;
    cosine falls from lr to min_lr over the steps after warmup.
    """
    total = epochs * steps_per_epoch
    steps = np.arange(total, dtype=np.float64)
    warmup = warmup_epochs * steps_per_epoch
    if schedule == "multistep":
        drops = np.searchsorted(np.asarray(milestones, dtype=np.float64) * steps_per_epoch, steps, side="right")
        lrs = lr * gamma ** drops
    else:
        progress = np.clip((steps - warmup) / max(total - warmup, 1), 0.0, 1.0)
        lrs = min_lr + 0.5 * (lr - min_lr) * (1.0 + np.cos(np.pi * progress))
    if warmup:
        lrs[:warmup] = lr * (steps[:warmup] + 1) / warmup
    return lrs.astype(np.float32)
