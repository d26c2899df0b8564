"""A quick probe for the slow CPU convolution kernel: time a 3x3 conv against a 1x1 conv of the same shape.

The 3x3 conv does 9x the arithmetic; with oneDNN's fast kernels it costs a few times the 1x1, with its reference
kernel (MindSpore 2.9/2.10 on some CPUs) hundreds of times. Used by bench/conv_regression.py and by training's
one-line warning on CPU.
"""

from __future__ import annotations

import time

import numpy as np

SLOW_RATIO = 40.0  # healthy builds measure ~2-12 here; the reference kernel measures several hundred


def conv_ratio(batch: int = 32, channels: int = 64, size: int = 32, repeats: int = 3) -> dict:
    import mindspore as ms
    import mindspore.ops as ops

    x = ms.Tensor(np.random.default_rng(0).normal(size=(batch, channels, size, size)).astype(np.float32))
    kernels = {k: ms.Tensor(np.random.default_rng(k).normal(size=(channels, channels, k, k)).astype(np.float32))
               for k in (1, 3)}

    def best_of(k: int) -> float:
        ops.conv2d(x, kernels[k], pad_mode="same").asnumpy()  # warm-up / kernel selection
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            ops.conv2d(x, kernels[k], pad_mode="same").asnumpy()
            times.append(time.perf_counter() - start)
        return min(times)

    conv1, conv3 = best_of(1), best_of(3)
    ratio = conv3 / max(conv1, 1e-9)
    return {"conv3x3_s": conv3, "conv1x1_s": conv1, "ratio": ratio, "slow": ratio > SLOW_RATIO,
            "mindspore": ms.__version__}
