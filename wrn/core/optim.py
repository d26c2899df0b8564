"""Momentum SGD with weight decay on conv and dense weights only."""

from __future__ import annotations

import mindspore as ms
import mindspore.nn as nn
import numpy as np


def decays(param) -> bool:
    """Conv kernels and dense matrices decay; BatchNorm gamma/beta and biases (all 1-D) do not."""
    return len(param.shape) > 1


def create_optimizer(net: nn.Cell, lrs: np.ndarray, *, momentum: float, nesterov: bool,
                     weight_decay: float) -> nn.Momentum:
    """`lrs` holds one learning rate per optimizer step; the gradients it gets are unscaled (`TrainStep`)."""
    params = net.trainable_params()
    groups = [
        {"params": [p for p in params if decays(p)], "weight_decay": weight_decay},
        {"params": [p for p in params if not decays(p)], "weight_decay": 0.0},
    ]
    return nn.Momentum(groups, learning_rate=ms.Tensor(lrs), momentum=momentum, use_nesterov=nesterov)
