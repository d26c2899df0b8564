"""Per-step learning rates: linear warmup, then multistep decay or cosine annealing."""

from __future__ import annotations

import numpy as np


def peak_lr(cfg, world_size: int) -> float:
    """`lr` is for one device's batch; lr_scaling=linear multiplies it by the device count (Goyal et al., 2017)."""
    return cfg.lr * world_size if cfg.lr_scaling == "linear" else cfg.lr


def learning_rates(cfg, steps_per_epoch: int, world_size: int = 1) -> np.ndarray:
    """One float32 LR per optimizer step of the whole run (epochs x steps_per_epoch).

    Warmup rises linearly from lr/warmup_steps to lr; multistep multiplies by lr_gamma at each milestone epoch;
    cosine falls from lr to min_lr over the steps after warmup.
    """
    lr = peak_lr(cfg, world_size)
    total = cfg.epochs * steps_per_epoch
    steps = np.arange(total, dtype=np.float64)
    warmup = cfg.warmup_epochs * steps_per_epoch
    if cfg.lr_schedule == "multistep":
        drops = np.searchsorted(np.asarray(cfg.lr_milestones, dtype=np.float64) * steps_per_epoch, steps, side="right")
        lrs = lr * cfg.lr_gamma ** drops
    else:
        progress = np.clip((steps - warmup) / max(total - warmup, 1), 0.0, 1.0)
        lrs = cfg.min_lr + 0.5 * (lr - cfg.min_lr) * (1.0 + np.cos(np.pi * progress))
    if warmup:
        lrs[:warmup] = lr * (steps[:warmup] + 1) / warmup
    return lrs.astype(np.float32)
