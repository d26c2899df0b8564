"""Which checkpoints a run keeps, and writing them: one object owns the policy.

- ckpt/last.ckpt, every epoch: the whole training state (weights, their EMA, optimizer moments, step, loss scale,
  position), so `--resume` continues exactly where the run stopped.
- ckpt/epoch_NNNN.ckpt, every `interval` epochs and after the final one, the newest `keep_max` of them (0 keeps
  none): that epoch's last.ckpt (a hard link, or a copy), so any kept epoch can be resumed from.
- ckpt/best.ckpt, when the eval top-1 improves: the weights that were evaluated (the EMA when the run keeps one)
  and the position.
Each carries the run's resolved config, so any copy of it knows its network.
last.ckpt is written first, so no kept file is ever ahead of the position a resume continues from.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import mindspore.nn as nn

from wrn.core.step import WeightEma
from wrn.faults import kill_point
from wrn.output import checkpoint as ckpt
from wrn.output.rundir import RunDir


class CheckpointSaver:
    def __init__(self, run: RunDir, net: nn.Cell, train_network: nn.Cell, steps_per_epoch: int, keep_max: int = 0,
                 best_top1: float = -1.0, best_epoch: int = 0, interval: int = 1, final_epoch: int = 0,
                 ema: WeightEma | None = None, config_text: str = "") -> None:
        self.run, self.net, self.train_network, self.ema = run, net, train_network, ema
        self.config_text = config_text  # every checkpoint carries its config: it describes its own network
        self.steps_per_epoch, self.keep_max = steps_per_epoch, keep_max
        self.interval, self.final_epoch = interval, final_epoch
        self.best_top1, self.best_epoch = best_top1, best_epoch

    def save(self, epoch: int, global_step: int, top1: float | None) -> tuple[float, int]:
        """Checkpoints for the end of `epoch`; returns the best (top-1, epoch) so far."""
        if top1 is not None and top1 > self.best_top1:
            self.best_top1, self.best_epoch = top1, epoch
        state = ckpt.TrainState(epoch=epoch, global_step=global_step, steps_per_epoch=self.steps_per_epoch,
                                best_top1=self.best_top1, best_epoch=self.best_epoch)
        self._write(self.run.last_ckpt, self.train_network, state)
        kill_point("after-last", epoch)
        self._write_kept(state)
        return self.best_top1, self.best_epoch

    def resumed(self, state: ckpt.TrainState) -> None:
        """After a resume from this run's last.ckpt: a kill between it and the kept files may have left those
        behind; when the resumed epoch is the best (or a periodic) one, write them now from what was restored. (A
        run resumed from another run's checkpoint keeps nothing of that epoch: it is the other run's.)"""
        if self.run.last_ckpt.exists():
            self._write_kept(state)

    def _write_kept(self, state: ckpt.TrainState) -> None:
        epoch = state.epoch
        if self.best_epoch == epoch:
            with self.ema.applied() if self.ema is not None else nullcontext():
                self._write(self.run.best_ckpt, self.net, state)
        if self.keep_max and (epoch % self.interval == 0 or epoch == self.final_epoch):
            self.run.link(self.run.last_ckpt, self.run.epoch_ckpt(epoch))
            for old in self.run.periodic_ckpts()[: -self.keep_max]:
                self.run.remove(old)

    def _write(self, path: Path, cell: nn.Cell, state: ckpt.TrainState) -> Path:
        return self.run.write(path, lambda temp: ckpt.write(temp, cell, state, self.config_text), suffix=".ckpt")
