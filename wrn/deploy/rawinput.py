"""What an exported model takes as input: the network's normalised float32 NCHW batch, or raw pixels as decoded from
an image file (uint8 NHWC) with the recipe's normalisation and the layout change inside the exported graph."""

from __future__ import annotations

import numpy as np

from wrn.errors import WrnError
from wrn.serving.sidecar import Normalisation

NORMALISED, RAW = "normalised", "raw"
INPUT_KINDS = (NORMALISED, RAW)
IMAGE_SIZE, CHANNELS = 32, 3


class InputKindError(WrnError):
    """An input kind other than `normalised` or `raw`."""


def check_input_kind(input_kind: str) -> str:
    kind = str(input_kind).lower()
    if kind not in INPUT_KINDS:
        raise InputKindError(f"input {input_kind!r}: expected one of {', '.join(INPUT_KINDS)}")
    return kind


def input_spec(input_kind: str, batch_size: int) -> dict:
    """The sidecar fields (`Sidecar` keywords) that describe the model's input."""
    if check_input_kind(input_kind) == RAW:
        return {"input_kind": RAW, "input_shape": (batch_size, IMAGE_SIZE, IMAGE_SIZE, CHANNELS),
                "input_dtype": "uint8", "input_layout": "NHWC"}
    return {"input_kind": NORMALISED, "input_shape": (batch_size, CHANNELS, IMAGE_SIZE, IMAGE_SIZE),
            "input_dtype": "float32", "input_layout": "NCHW"}


def normalisation_record(input_kind: str, mean: list[float], std: list[float]) -> Normalisation:
    """The sidecar's `normalisation`: the recipe's mean/std, and whether the graph applies them (`in_graph`) or the
    caller must."""
    if check_input_kind(input_kind) == RAW:
        return Normalisation(mean=tuple(mean), std=tuple(std), in_graph=True,
                             scale="inside the graph: uint8 NHWC pixel -> float32, / 255, then (x - mean) / std, "
                                   "then NCHW")
    return Normalisation(mean=tuple(mean), std=tuple(std), in_graph=False, scale="pixel / 255, then (x - mean) / std")


def normalised(images: np.ndarray, mean: list[float], std: list[float]) -> np.ndarray:
    """uint8 NHWC images as float32 NCHW, normalised per RGB channel (`mean`/`std` in [0, 1])."""
    mean_nchw = np.asarray(mean, np.float32).reshape(1, 3, 1, 1)
    std_nchw = np.asarray(std, np.float32).reshape(1, 3, 1, 1)
    return ((images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0) - mean_nchw) / std_nchw
