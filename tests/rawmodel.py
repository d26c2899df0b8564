"""A raw-input ONNX model for the serving tests, until `export --input raw` (issue 19 item 1) is in: the packaged
checkpoint's network behind a uint8 NHWC input whose transpose and normalisation are in the graph, with a sidecar
saying so (`input_dtype` uint8, `input_layout` NHWC), as that export records it.

usage: python tests/rawmodel.py CHECKPOINT FLOAT_SIDECAR OUT.onnx   (MindSpore compiles the Cell from this file)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wrn.config import load_config  # noqa: E402
from wrn.run.build import load_network, setup_runtime  # noqa: E402


class RawInput(nn.Cell):
    def __init__(self, net: nn.Cell, mean: list, std: list) -> None:
        super().__init__()
        self.net = net
        self.mean = ms.Tensor(np.asarray(mean, np.float32).reshape(1, 3, 1, 1))
        self.std = ms.Tensor(np.asarray(std, np.float32).reshape(1, 3, 1, 1))

    def construct(self, x):
        x = ops.transpose(ops.cast(x, ms.float32), (0, 3, 1, 2)) / 255.0
        return self.net((x - self.mean) / self.std)


def main(checkpoint: str, float_sidecar: str, out: str) -> None:
    sidecar = json.loads(Path(float_sidecar).read_text())
    cfg = load_config(sidecar["config"], {"depth": sidecar["depth"], "widen_factor": sidecar["widen_factor"]})
    net = RawInput(load_network(cfg, checkpoint, setup_runtime(cfg)), cfg.mean, cfg.std)
    net.set_train(False)
    ms.export(net, ms.Tensor(np.zeros((1, 32, 32, 3), np.uint8)), file_name=str(Path(out).with_suffix("")),
              file_format="ONNX")
    sidecar.update(file=Path(out).name, input_shape=[1, 32, 32, 3], input_dtype="uint8", input_layout="NHWC")
    Path(out + ".json").write_text(json.dumps(sidecar, indent=2))


if __name__ == "__main__":
    main(*sys.argv[1:4])
