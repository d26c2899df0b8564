"""Which checkpoints a run keeps, and writing them: one object owns the policy.

- ckpt/last.ckpt, every epoch: the whole training state (weights, optimizer moments, step, loss scale, position), so
  `--resume` continues exactly where the run stopped.
- ckpt/best.ckpt, when the eval top-1 improves: the network's weights and the position.
- ckpt/epoch_NNNN.ckpt, every `interval` epochs and after the final one, the newest `keep_max` of them (0 keeps
  none): the same weights file as best.ckpt would hold.
The weights are written once per epoch and hard-linked (or copied) to every other name that needs them, after
last.ckpt, so no kept file is ever ahead of the position a resume continues from.
"""

from __future__ import annotations

from pathlib import Path

import mindspore.nn as nn

from wrn.faults import kill_point
from wrn.run import checkpoint as ckpt
from wrn.run.rundir import RunDir


class CheckpointSaver:
    def __init__(self, run: RunDir, net: nn.Cell, train_network: nn.Cell, steps_per_epoch: int, keep_max: int = 0,
                 best_top1: float = -1.0, best_epoch: int = 0, interval: int = 1, final_epoch: int = 0) -> None:
        self.run, self.net, self.train_network = run, net, train_network
        self.steps_per_epoch, self.keep_max = steps_per_epoch, keep_max
        self.interval, self.final_epoch = interval, final_epoch
        self.best_top1, self.best_epoch = best_top1, best_epoch

    def save(self, epoch: int, global_step: int, top1: float | None) -> tuple[float, int]:
        """Checkpoints for the end of `epoch`; returns the best (top-1, epoch) so far."""
        if top1 is not None and top1 > self.best_top1:
            self.best_top1, self.best_epoch = top1, epoch
        state = ckpt.TrainState(epoch=epoch, global_step=global_step, steps_per_epoch=self.steps_per_epoch,
                                best_top1=self.best_top1, best_epoch=self.best_epoch)
        # last.ckpt first: best and periodic files are never ahead of the position a resume continues from.
        self._write(self.run.last_ckpt, self.train_network, state)
        kill_point("after-last", epoch)
        self._write_weights(state)
        return self.best_top1, self.best_epoch

    def resumed(self, state: ckpt.TrainState) -> None:
        """After a resume from `state`: a kill between last.ckpt and the weights files may have left those behind;
        when the resumed epoch is the best (or a periodic) one, its weights are the network's now: write them."""
        self._write_weights(state)

    def _write_weights(self, state: ckpt.TrainState) -> None:
        epoch = state.epoch
        periodic = self.keep_max and (epoch % self.interval == 0 or epoch == self.final_epoch)
        weights_for = ([self.run.best_ckpt] if self.best_epoch == epoch else []) + (
            [self.run.epoch_ckpt(epoch)] if periodic else [])
        if weights_for:
            first = self._write(weights_for[0], self.net, state)
            for other in weights_for[1:]:
                self.run.link(first, other)
        if self.keep_max:
            for old in self.run.periodic_ckpts()[: -self.keep_max]:
                self.run.remove(old)

    def _write(self, path: Path, cell: nn.Cell, state: ckpt.TrainState) -> Path:
        return self.run.write(path, lambda temp: ckpt.write(temp, cell, state), suffix=".ckpt")
