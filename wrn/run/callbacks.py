"""Training callbacks: `StepLogger` (step lines, throughput, the epoch's figures as `EpochStats`) and `EpochEnd`
(the explicit end of an epoch: evaluate when due -> metrics record -> checkpoints -> curves)."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
from mindspore.train import Callback

from wrn.core.metrics import EvalCounts
from wrn.errors import TrainingError
from wrn.faults import kill_point
from wrn.run.curves import CurvesPlotter
from wrn.run.rundir import RunDir
from wrn.run.saver import CheckpointSaver

log = logging.getLogger("wrn")


def loss_value(net_outputs) -> float:
    """A train step returns the loss, or (loss, overflow, scale) with a dynamic loss scale."""
    if isinstance(net_outputs, (tuple, list)):
        net_outputs = net_outputs[0]
    return float(net_outputs.asnumpy())


@dataclass(frozen=True)
class EpochStats:
    """One epoch's training figures (the first columns of its metrics.jsonl record)."""

    epoch: int
    global_step: int
    train_loss: float
    lr: float
    epoch_seconds: float
    step_seconds: float
    images_per_second: float


@dataclass(frozen=True)
class EvalSchedule:
    """Evaluate from `start` every `interval` epochs, and always after the last epoch."""

    start: int
    interval: int
    epochs: int

    def due(self, epoch: int) -> bool:
        on_interval = epoch >= self.start and (epoch - self.start) % self.interval == 0
        return on_interval or epoch == self.epochs


class StepLogger(Callback):
    """One log line every `log_interval` steps (epoch, step, loss, lr, images/s); a progress bar on a TTY when tqdm is
    installed. `epoch_stats` gives the running epoch's figures at any moment."""

    def __init__(self, lrs: np.ndarray, steps_per_epoch: int, epochs: int, images_per_step: int,
                 log_interval: int, global_step: int, progress_bar: bool | None = None) -> None:
        super().__init__()
        self.lrs, self.steps_per_epoch, self.epochs = lrs, steps_per_epoch, epochs
        self.images_per_step, self.log_interval = images_per_step, log_interval
        self.global_step = global_step
        wanted = sys.stdout.isatty() if progress_bar is None else progress_bar
        # tqdm is optional (ModelArts images may lack it): without it the log lines are the progress report.
        self.progress_bar = wanted and importlib.util.find_spec("tqdm") is not None
        self._bar = None

    @property
    def lr(self) -> float:
        return float(self.lrs[min(max(self.global_step - 1, 0), len(self.lrs) - 1)])

    def epoch_stats(self, epoch: int) -> EpochStats:
        seconds = time.perf_counter() - self.epoch_start
        return EpochStats(epoch=epoch, global_step=self.global_step,
                          train_loss=self.loss_sum / max(self.steps_in_epoch, 1), lr=self.lr,
                          epoch_seconds=round(seconds, 3), step_seconds=round(self.step_seconds, 3),
                          images_per_second=round(self.steps_in_epoch * self.images_per_step / max(seconds, 1e-9), 1))

    def on_train_epoch_begin(self, run_context) -> None:
        self.epoch_start = self.interval_start = time.perf_counter()
        self.loss_sum, self.steps_in_epoch, self.interval_steps = 0.0, 0, 0
        self.step_seconds = 0.0  # time inside train steps; the rest of the epoch is data wait and callbacks
        if self.progress_bar:
            from tqdm import tqdm

            epoch = run_context.original_args().cur_epoch_num
            self._bar = tqdm(total=self.steps_per_epoch, desc=f"epoch {epoch}/{self.epochs}", leave=False)

    def on_train_step_begin(self, run_context) -> None:
        self._step_start = time.perf_counter()

    def on_train_step_end(self, run_context) -> None:
        self.step_seconds += time.perf_counter() - self._step_start
        args = run_context.original_args()
        loss = loss_value(args.net_outputs)
        self.global_step += 1
        self.steps_in_epoch += 1
        self.interval_steps += 1
        self.loss_sum += loss
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{loss:.4f}", lr=f"{self.lr:.5f}")
        if not np.isfinite(loss):
            # Training on would only write nan weights over the last good checkpoint.
            raise TrainingError(f"epoch {args.cur_epoch_num} step {self.steps_in_epoch}: the loss is {loss} (lr "
                                f"{self.lr:g}): training diverged; the checkpoints of the completed epochs are kept. "
                                "Lower lr (or loss_scale) and resume, or check the data")
        if self.steps_in_epoch % self.log_interval == 0 or self.steps_in_epoch == self.steps_per_epoch:
            now = time.perf_counter()
            speed = self.interval_steps * self.images_per_step / max(now - self.interval_start, 1e-9)
            self.interval_start, self.interval_steps = now, 0
            line = (f"epoch {args.cur_epoch_num}/{self.epochs} step {self.steps_in_epoch}/{self.steps_per_epoch} "
                    f"loss {loss:.4f} lr {self.lr:.6f} {speed:.1f} img/s")
            if self._bar is not None:
                self._bar.write(line)
                logging.getLogger("wrn.file").info(line)
            else:
                log.info(line)

    def on_train_epoch_end(self, run_context) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class EpochEnd(Callback):
    """The end of each epoch, in this order: evaluate when due, the metrics record (kept in `records`; rank 0 appends
    it to metrics.jsonl), checkpoints (`saver`, rank 0 only), curves.png.

    The metrics line is written before last.ckpt, so a crash between the two is healed on resume by dropping
    records newer than the checkpoint; nothing newer than last.ckpt ever survives a resume.
    """

    def __init__(self, run: RunDir, steps: StepLogger, evaluate: Callable[[], EvalCounts], schedule: EvalSchedule,
                 saver: CheckpointSaver | None, records: list[dict]) -> None:
        super().__init__()
        self.run, self.steps, self.evaluate, self.schedule, self.saver = run, steps, evaluate, schedule, saver
        self.records = records
        self.plotter = CurvesPlotter(run) if saver is not None else None

    def on_train_epoch_end(self, run_context) -> None:
        epoch = run_context.original_args().cur_epoch_num
        record = {**asdict(self.steps.epoch_stats(epoch)),
                  "top1": None, "top5": None, "eval_loss": None, "eval_images": None}
        if self.schedule.due(epoch):
            start = time.perf_counter()
            counts = self.evaluate()
            record.update(top1=counts.top1, top5=counts.top5, eval_loss=counts.as_dict()["loss"],
                          eval_images=counts.images, eval_seconds=round(time.perf_counter() - start, 3))
            log.info("epoch %d eval: top1 %.4f top5 %.4f over %d images", epoch, counts.top1, counts.top5, counts.images)
        self.records.append(record)
        self.run.publish_log()
        if self.saver is None:
            return
        self.run.append_line(self.run.metrics, json.dumps(record, sort_keys=True))
        kill_point("after-metrics", epoch)
        self.saver.save(epoch, record["global_step"], record["top1"])
        self.plotter.update(self.records)

    def on_train_end(self, run_context) -> None:
        if self.plotter is not None:
            self.plotter.finish(self.records)
