"""The network behind a cell that takes raw pixels (uint8 NHWC, as decoded from an image file), for `export
--input raw`: the recipe's normalisation and the NHWC -> NCHW transpose become part of the exported graph."""

from __future__ import annotations

import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops
import numpy as np

from wrn.deploy.rawinput import CHANNELS


class RawImageNetwork(nn.Cell):
    """cast to float32, / 255, (x - mean) / std per RGB channel, NHWC -> NCHW, then `network`: the order
    `rawinput.normalised` applies them in numpy, so the exported graph computes what the runners' numpy path does."""

    def __init__(self, network: nn.Cell, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.network = network
        # Constants of the graph (Tensors, not Parameters): exported as initialisers, never trained or loaded.
        self.mean = ms.Tensor(np.asarray(mean, np.float32).reshape(1, 1, 1, CHANNELS))
        self.std = ms.Tensor(np.asarray(std, np.float32).reshape(1, 1, 1, CHANNELS))
        self.scale = ms.Tensor(np.float32(255.0))
        self.cast = ops.Cast()
        self.transpose = ops.Transpose()
        self.set_train(False)

    def construct(self, x):
        pixels = self.cast(x, ms.float32) / self.scale
        return self.network(self.transpose((pixels - self.mean) / self.std, (0, 3, 1, 2)))
