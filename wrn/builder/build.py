"""The one place where the config meets the core: each factory is called with exactly the keys it needs.

`build_trainer` is what training (and bench/) runs; `load_network` is the checked network of a checkpoint that
evaluation, export and bench use. Everything below `wrn.core` takes explicit arguments, never the config.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import mindspore as ms
import mindspore.nn as nn
import numpy as np
from mindspore.train import Model

from wrn.cifar import Layout
from wrn.config import Config
from wrn.core.data import Augmentation, create_dataset
from wrn.core.loss import create_loss
from wrn.core.model import WideResNet, create_model
from wrn.core.optim import create_optimizer
from wrn.core.schedule import learning_rates, peak_lr
from wrn.core.step import LossOf, TrainStep, WeightEma
from wrn.errors import ConfigError
from wrn.output import checkpoint as ckpt
from wrn.platform import runtime
from wrn.platform.staging import StagingOptions, stage_checkpoint


# The classifier's parameter prefix: what fine-tuning may re-initialise and what freeze_backbone leaves trainable.
HEAD = "fc."


def setup_runtime(cfg: Config) -> runtime.Topology:
    """The process's device and topology for `cfg`, with the global seed set."""
    ms.set_seed(cfg.seed)
    return runtime.setup(cfg.device_target)


def build_network(cfg: Config) -> WideResNet:
    return create_model(depth=cfg.depth, widen_factor=cfg.widen_factor, num_classes=cfg.num_classes,
                        dropout=cfg.dropout)


def build_dataset(cfg: Config, layout: Layout, *, train: bool, rank: int = 0, world_size: int = 1):
    """The train pipeline (augmented, sharded) or the eval pipeline (every image once over the ranks)."""
    cores = os.cpu_count() or 1
    if cfg.num_workers > cores:  # MindSpore refuses more workers than cores, with a message naming no key
        raise ConfigError(f"config key 'num_workers' has value {cfg.num_workers}, expected at most {cores} "
                          f"(the CPU cores of this machine)")
    common = dict(num_classes=cfg.num_classes, mean=cfg.mean, std=cfg.std, seed=cfg.seed,
                  num_workers=cfg.num_workers, rank=rank, world_size=world_size)
    if train:  # with accumulation, a batch is one micro-batch
        augmentation = Augmentation(
            crop_padding=cfg.crop_padding, crop_padding_mode=cfg.crop_padding_mode, random_flip=cfg.random_flip,
            autoaugment=cfg.autoaugment, cutout=cfg.cutout, mixup=cfg.mixup, cutmix=cfg.cutmix,
            mix_probability=cfg.mix_probability)
        return create_dataset(layout, train=True, batch_size=cfg.batch_size, augmentation=augmentation, **common)
    return create_dataset(layout, train=False, batch_size=cfg.eval_batch_size, **common)


def run_peak_lr(cfg: Config, world_size: int) -> float:
    return peak_lr(cfg.lr, cfg.lr_scaling, world_size)


def build_schedule(cfg: Config, steps_per_epoch: int, world_size: int = 1) -> np.ndarray:
    return learning_rates(lr=run_peak_lr(cfg, world_size), epochs=cfg.epochs, steps_per_epoch=steps_per_epoch,
                          schedule=cfg.lr_schedule, milestones=cfg.lr_milestones, gamma=cfg.lr_gamma,
                          min_lr=cfg.min_lr, warmup_epochs=cfg.warmup_epochs)


def amp_level(cfg: Config, device_target: str) -> str:
    """`auto`: full precision on CPU (no float16 kernels worth having), O2 on Ascend and GPU."""
    if cfg.amp_level != "auto":
        return cfg.amp_level
    return "O0" if device_target == "CPU" else "O2"


def sink_mode(cfg: Config, device_target: str) -> bool:
    """`auto`: dataset sink on Ascend and GPU; MindSpore 2.x has no sink on CPU (Model.train runs it per step)."""
    if cfg.dataset_sink_mode != "auto":
        return cfg.dataset_sink_mode == "true"
    return device_target != "CPU"


@dataclass(frozen=True)
class Trainer:
    net: WideResNet
    step: TrainStep
    model: Model
    lrs: np.ndarray

    @property
    def ema(self) -> WeightEma | None:
        return self.step.ema


def build_trainer(cfg: Config, steps_per_epoch: int, topology: runtime.Topology) -> Trainer:
    """The network, its per-step learning rates and the train step (loss, optimizer, loss scale, accumulation,
    clipping, EMA, AMP) in a MindSpore Model. `steps_per_epoch` counts optimizer steps."""
    net = build_network(cfg)
    if cfg.freeze_backbone:  # fine-tuning the classifier only: the optimizer sees the trainable parameters alone
        for param in net.get_parameters():
            param.requires_grad = param.name.startswith(HEAD)
        for _, cell in net.cells_and_names():
            if isinstance(cell, nn.BatchNorm2d):  # normalise with the pretrained statistics and never update them
                cell.use_batch_statistics = False
    lrs = build_schedule(cfg, steps_per_epoch, topology.world_size)
    optimizer = create_optimizer(net, lrs, momentum=cfg.momentum, nesterov=cfg.nesterov,
                                 weight_decay=cfg.weight_decay)
    level = amp_level(cfg, topology.device_target)
    computed = ms.amp.auto_mixed_precision(net, level) if level != "O0" else net
    step = TrainStep(LossOf(computed, create_loss(label_smoothing=cfg.label_smoothing)), optimizer,
                     loss_scale=cfg.loss_scale, dynamic_scale=cfg.loss_scale_type == "dynamic",
                     accumulation_steps=cfg.accumulation_steps, clip_grad_norm=cfg.clip_grad_norm,
                     ema=WeightEma(net, cfg.ema_decay) if cfg.ema_decay > 0 else None,
                     scaled_gradients=level != "O0")
    step.set_train()
    return Trainer(net=net, step=step, model=Model(step), lrs=lrs)


def load_network(cfg: Config, checkpoint: str | Path, topology: runtime.Topology,
                 options: StagingOptions | None = None) -> WideResNet:
    """The network of `cfg` with the weights of `checkpoint` (a local path or obs://; its EMA weights when it has
    them), in inference mode; a checkpoint of another architecture is an error naming the first parameter that
    does not fit."""
    local = stage_checkpoint(str(checkpoint), topology.local_rank, options or StagingOptions.from_env())
    net = build_network(cfg)
    ckpt.load_into(net, ckpt.evaluation_weights(ckpt.read(local)), checkpoint)
    net.set_train(False)
    return net
