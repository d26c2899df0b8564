"""WRN-d-k (Zagoruyko & Komodakis, 2016): pre-activation basic blocks, widths 16k/32k/64k, depth = 6n + 4."""

from __future__ import annotations

import mindspore.nn as nn
import mindspore.ops as ops
from mindspore.common.initializer import HeNormal, Zero

from wrn.depth import blocks_per_group


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel, stride=stride, pad_mode="pad", padding=kernel // 2,
                     has_bias=False, weight_init=HeNormal(mode="fan_in", nonlinearity="relu"))


class BasicBlock(nn.Cell):
    """BN-ReLU-conv3x3-BN-ReLU-[dropout]-conv3x3, plus identity or a 1x1 conv shortcut when the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = _conv(in_channels, out_channels, 3, stride)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.dropout = nn.Dropout(p=dropout) if dropout > 0 else nn.Identity()
        self.conv2 = _conv(out_channels, out_channels, 3, 1)
        self.relu = nn.ReLU()
        self.projects = in_channels != out_channels or stride != 1
        # As in the original code, the projection reads the pre-activated input, which both paths share.
        self.shortcut = _conv(in_channels, out_channels, 1, stride) if self.projects else nn.Identity()

    def construct(self, x):
        activated = self.relu(self.bn1(x))
        out = self.conv1(activated)
        out = self.conv2(self.dropout(self.relu(self.bn2(out))))
        if self.projects:
            return out + self.shortcut(activated)
        return out + x


class WideResNet(nn.Cell):
    def __init__(self, depth: int, widen_factor: int, num_classes: int = 10, dropout: float = 0.0) -> None:
        super().__init__()
        n = blocks_per_group(depth)
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.depth, self.widen_factor = depth, widen_factor
        self.stem = _conv(3, widths[0], 3, 1)
        layers = []
        for group, stride in enumerate((1, 2, 2)):
            for i in range(n):
                in_channels = widths[group] if i == 0 else widths[group + 1]
                layers.append(BasicBlock(in_channels, widths[group + 1], stride if i == 0 else 1, dropout))
        self.blocks = nn.SequentialCell(layers)
        self.bn = nn.BatchNorm2d(widths[3])
        self.relu = nn.ReLU()
        self.fc = nn.Dense(widths[3], num_classes, weight_init=HeNormal(mode="fan_in"), bias_init=Zero())

    def construct(self, x):
        out = self.relu(self.bn(self.blocks(self.stem(x))))
        # A mean over H and W, not AdaptiveAvgPool2D: identical result, and MindSpore's ONNX exporter supports it.
        return self.fc(ops.mean(out, (2, 3)))


def create_model(*, depth: int, widen_factor: int, num_classes: int = 10, dropout: float = 0.0) -> WideResNet:
    """WRN-`depth`-`widen_factor` as in the paper (depth = 6n + 4), dropout between a block's two convolutions."""
    return WideResNet(depth, widen_factor, num_classes, dropout)


def count_trainable_parameters(net: nn.Cell) -> int:
    return sum(p.size for p in net.trainable_params())
