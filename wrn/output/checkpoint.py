"""Checkpoint files: atomic save of the full training state, checked loading of weights or state."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mindspore as ms
import numpy as np
import mindspore.nn as nn

from wrn.core.step import EMA_PREFIX, is_transient
from wrn.errors import CheckpointError
from wrn.fileio import atomic_path
from wrn.output.rundir import RunDir

# TrainState fields, stored in append_dict under a prefix (the optimizer has its own `global_step` parameter).
_FIELDS = ("epoch", "global_step", "steps_per_epoch", "best_top1", "best_epoch")
_PREFIX = "run_"
# The resolved config the weights were trained with (YAML text): the checkpoint describes its own network.
CONFIG_KEY = "wrn_config"
_META_KEYS = (*(_PREFIX + f for f in _FIELDS), CONFIG_KEY)


@dataclass(frozen=True)
class TrainState:
    """Where a run stands after `epoch` epochs; stored in every checkpoint so resume continues exactly there."""

    epoch: int
    global_step: int
    steps_per_epoch: int
    best_top1: float = -1.0
    best_epoch: int = 0


def write(path: Path, cell: nn.Cell, state: TrainState | None = None, config_text: str = "") -> None:
    """Write `cell`'s parameters (for a train network: weights, optimizer moments, global step, loss scale), the
    run's position and the config it was trained with (`config_text`, YAML) to `path` as it is (RunDir.write makes
    it atomic)."""
    append: dict[str, Any] = {} if state is None else {_PREFIX + f: getattr(state, f) for f in _FIELDS}
    if config_text:
        append[CONFIG_KEY] = config_text
    kept = [{"name": p.name, "data": p} for p in cell.get_parameters() if not is_transient(p.name)]
    ms.save_checkpoint(kept, str(path), append_dict=append)


def save(path: Path, cell: nn.Cell, state: TrainState | None = None, config_text: str = "") -> None:
    """`write`, atomically, outside a run directory."""
    with atomic_path(path, suffix=".ckpt") as tmp:
        write(tmp, cell, state, config_text)


def stored_config_text(params: dict[str, Any]) -> str | None:
    """The config text a checkpoint carries (None for checkpoints written before they carried one)."""
    value = params.get(CONFIG_KEY)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value.asnumpy().item() if hasattr(value, "asnumpy") else value)


def read_config_text(path: Path | str) -> str | None:
    """Only the config of the checkpoint at `path` (its tensors are not built)."""
    path = Path(path)
    if not path.is_file():
        read(path)  # raises its one-line error
    try:
        params = ms.load_checkpoint(str(path), choice_func=lambda name: name == CONFIG_KEY)
    except (ValueError, RuntimeError, OSError):
        # MindSpore refuses a selection that matches nothing (an older checkpoint): read it whole, which also
        # names a damaged file in one line.
        params = read(path)
    return stored_config_text(params)


def read(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist" if not path.exists() else f"checkpoint {path} is not a file")
    try:
        return ms.load_checkpoint(str(path))
    except (ValueError, RuntimeError, OSError) as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read (corrupt or not a MindSpore checkpoint): "
                              f"{str(exc).splitlines()[0]}") from None


def train_state(params: dict[str, Any], path: Path | str) -> TrainState:
    missing = [k for k in (*_META_KEYS, "global_step") if k not in params]
    if missing:
        raise CheckpointError(f"checkpoint {path} holds weights only (no {', '.join(missing)}): --resume needs "
                              f"{RunDir.LAST_CKPT} or a periodic {RunDir.CKPT}/epoch_NNNN.ckpt; to start a new run "
                              "from these weights use --pretrained")
    values = {f: params[_PREFIX + f].asnumpy().item() for f in _FIELDS}
    return TrainState(epoch=int(values["epoch"]), global_step=int(values["global_step"]),
                      steps_per_epoch=int(values["steps_per_epoch"]), best_top1=float(values["best_top1"]),
                      best_epoch=int(values["best_epoch"]))


def evaluation_weights(params: dict[str, Any]) -> dict[str, Any]:
    """The weights a checkpoint is evaluated, exported and fine-tuned with: its EMA copy (`ema.<name>`, in the
    last and periodic checkpoints of a run with ema_decay) in place of the raw weights when it has one."""
    averaged = {name[len(EMA_PREFIX):]: value for name, value in params.items() if name.startswith(EMA_PREFIX)}
    if not averaged:
        return params
    return {**{k: v for k, v in params.items() if not k.startswith(EMA_PREFIX)}, **averaged}


def has_ema(params: dict[str, Any]) -> bool:
    return any(name.startswith(EMA_PREFIX) for name in params)


def load_into(cell: nn.Cell, params: dict[str, Any], path: Path | str, skip: tuple[str, ...] = ()) -> None:
    """Load every parameter of `cell` (but `skip`) from `params`, or name the first one missing or mis-shaped."""
    if is_modelzoo_checkpoint(params):
        raise CheckpointError(
            f"checkpoint {path} comes from the MindSpore ModelZoo WideResNet, whose network differs from the paper's "
            "and this package's (a BN-ReLU after the stem convolution, biases on every convolution, dropout before "
            "a block's first convolution, the shortcut taken from the block's raw input): its weights do not fit. "
            "Train with this package; a ModelZoo config file works as --config PATH")
    for param in cell.get_parameters():
        name = param.name
        if name in skip or is_transient(name):  # never in a checkpoint
            continue
        if name not in params:
            raise CheckpointError(f"checkpoint {path} does not match this network: no parameter {name!r} "
                                  f"(shape {tuple(param.shape)}); is it of another depth/width or another recipe?")
        saved = tuple(params[name].shape)
        if saved != tuple(param.shape):
            raise CheckpointError(f"checkpoint {path} does not match this network: parameter {name!r} has shape "
                                  f"{saved} in the checkpoint, {tuple(param.shape)} in the network (another depth/width?)")
    ms.load_param_into_net(cell, {k: v for k, v in params.items() if k not in _META_KEYS and k not in skip})


def is_modelzoo_checkpoint(params: dict[str, Any]) -> bool:
    """The ModelZoo WideResNet names its classifier `linear` and its groups conv2..conv4 of blocks with biases."""
    return "linear.weight" in params and any(name.startswith("conv2.0.conv1.bias") for name in params)


def load_pretrained(net: nn.Cell, params: dict[str, Any], path: Path | str, head: str = "fc.") -> list[str]:
    """Fine-tuning: the network's weights from any checkpoint of this package (optimizer state and position are
    ignored). The classifier (`head`) is skipped when its shape differs (another num_classes) and stays at its
    initialisation; any other missing or mis-shaped parameter is an error naming it. Returns the skipped names."""
    if is_modelzoo_checkpoint(params):
        load_into(net, params, path)  # raises with the reason
    skipped = []
    for param in net.get_parameters():
        saved = params.get(param.name)
        fits = saved is not None and tuple(saved.shape) == tuple(param.shape)
        if not fits and param.name.startswith(head):
            skipped.append(param.name)
        elif saved is None:
            raise CheckpointError(f"pretrained checkpoint {path} does not match this network: no parameter "
                                  f"{param.name!r} (shape {tuple(param.shape)}); is it of another depth/width?")
        elif not fits:
            raise CheckpointError(f"pretrained checkpoint {path} does not match this network: parameter "
                                  f"{param.name!r} has shape {tuple(saved.shape)} in the checkpoint, "
                                  f"{tuple(param.shape)} in the network (another depth/width?)")
    names = {p.name for p in net.get_parameters()} - set(skipped)
    ms.load_param_into_net(net, {k: v for k, v in params.items() if k in names})
    return skipped


def check_finite(net: nn.Cell, path: Path | str) -> None:
    """Weights with nan or inf would train to nan: refused before the first step, naming the first such one."""
    for param in net.get_parameters():
        if not np.isfinite(param.asnumpy()).all():
            raise CheckpointError(f"checkpoint {path}: parameter {param.name!r} holds nan or inf values; "
                                  "these weights cannot be trained from")
