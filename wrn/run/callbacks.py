"""Training callbacks: `StepLogger` (step lines, throughput, the epoch's figures as `EpochStats`) and `EpochEnd`
(the explicit end of an epoch: evaluate when due -> metrics record -> checkpoints -> curves).

Both work from the train step's in-graph counters (`StepStats`), not from one call per step: in dataset sink mode
MindSpore calls a step callback once per sink, with the last step's outputs only."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
from mindspore.train import Callback

from wrn.core.metrics import EvalCounts
from wrn.core.step import TrainStep
from wrn.errors import TrainingError
from wrn.faults import kill_point
from wrn.output.rundir import RunDir
from wrn.run.curves import CurvesPlotter
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
    loss_scale: float
    overflow_steps: int  # steps whose gradients overflowed: skipped, and the dynamic scale halved


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
    """One log line every `log_interval` steps (epoch, step, loss, lr, images/s; in sink mode at the end of each
    sink); a progress bar on a TTY when tqdm is installed. Stops the run on a non-finite loss, and on overflowed
    gradients under a fixed loss scale. `epoch_stats` gives the running epoch's figures at any moment."""

    def __init__(self, step: TrainStep, lrs: np.ndarray, steps_per_epoch: int, epochs: int, images_per_step: int,
                 log_interval: int, global_step: int, progress_bar: bool | None = None) -> None:
        super().__init__()
        self.step = step
        self.lrs, self.steps_per_epoch, self.epochs = lrs, steps_per_epoch, epochs
        self.images_per_step, self.log_interval = images_per_step, log_interval
        self.global_step = global_step
        wanted = sys.stdout.isatty() if progress_bar is None else progress_bar
        # tqdm is optional (ModelArts images may lack it): without it the log lines are the progress report.
        self.progress_bar = wanted and importlib.util.find_spec("tqdm") is not None
        self._bar = None

    @property
    def lr(self) -> float:
        """The learning rate of the last applied step (steps skipped on overflow do not move the schedule)."""
        applied = int(self.step.optimizer.global_step.asnumpy().reshape(()))
        return float(self.lrs[min(max(applied - 1, 0), len(self.lrs) - 1)])

    def epoch_stats(self, epoch: int) -> EpochStats:
        seconds = time.perf_counter() - self.epoch_start
        counts = self.step.stats.read()
        return EpochStats(epoch=epoch, global_step=self.global_step,
                          train_loss=counts["loss_sum"] / max(counts["steps"], 1), lr=self.lr,
                          epoch_seconds=round(seconds, 3), step_seconds=round(self.step_seconds, 3),
                          images_per_second=round(counts["steps"] * self.images_per_step / max(seconds, 1e-9), 1),
                          loss_scale=self.step.loss_scale, overflow_steps=counts["overflows"])

    def on_train_epoch_begin(self, run_context) -> None:
        self.step.stats.reset()
        self.epoch_start = self.interval_start = time.perf_counter()
        self.steps_in_epoch = self.interval_steps = 0
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
        counts = self.step.stats.read()
        done = counts["steps"] - self.steps_in_epoch  # 1, or a whole sink's steps
        before = self.steps_in_epoch
        self.global_step += done
        self.steps_in_epoch = counts["steps"]
        self.interval_steps += done
        loss = loss_value(args.net_outputs)
        self._stop_if_broken(args.cur_epoch_num, counts)
        if self._bar is not None:
            self._bar.update(done)
            self._bar.set_postfix(loss=f"{loss:.4f}", lr=f"{self.lr:.5f}")
        crossed = self.steps_in_epoch // self.log_interval > before // self.log_interval
        if crossed or self.steps_in_epoch == self.steps_per_epoch:
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
        kill_point("step-end", self.global_step)  # a test's signal mid-epoch, at a known step

    def _stop_if_broken(self, epoch: int, counts: dict) -> None:
        # Training on would only write garbage weights over the last good checkpoint.
        diverged = ("training diverged; the checkpoints of the completed epochs are kept. Lower lr and resume, or "
                    "check the data")
        scale = self.step.loss_scale
        if counts["first_bad_loss"]:
            raise TrainingError(f"epoch {epoch} step {counts['first_bad_loss']}: the loss is not finite (lr "
                                f"{self.lr:g}): {diverged}")
        if counts["first_overflow"] and not self.step.dynamic_scale:
            step = f"epoch {epoch} step {counts['first_overflow']}"
            if scale == 1:
                raise TrainingError(f"{step}: the gradients are not finite (lr {self.lr:g}): {diverged}")
            raise TrainingError(f"{step}: the gradients overflowed (inf/nan) under the fixed loss scale {scale:g}; the "
                                "step was not applied and the checkpoints of the completed epochs are kept. Lower "
                                "loss_scale, or use loss_scale_type: dynamic, and resume")

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
        self.ema = steps.step.ema  # evaluation measures the averaged weights when the run keeps them
        self.records = records
        self.plotter = CurvesPlotter(run) if saver is not None else None

    def on_train_epoch_end(self, run_context) -> None:
        epoch = run_context.original_args().cur_epoch_num
        record = {**asdict(self.steps.epoch_stats(epoch)),
                  "top1": None, "top5": None, "eval_loss": None, "eval_images": None}
        if record["overflow_steps"] or self.steps.step.dynamic_scale:
            log.info("epoch %d: loss scale %g, %d step(s) with overflowed gradients skipped", epoch,
                     record["loss_scale"], record["overflow_steps"])
        if self.schedule.due(epoch):
            start = time.perf_counter()
            with self.ema.applied() if self.ema is not None else nullcontext():
                counts = self.evaluate()
            weights = "ema" if self.ema is not None else "weights"
            record.update(top1=counts.top1, top5=counts.top5, eval_loss=counts.as_dict()["loss"],
                          eval_images=counts.images, eval_seconds=round(time.perf_counter() - start, 3),
                          eval_weights=weights)
            log.info("epoch %d eval (%s): top1 %.4f top5 %.4f over %d images", epoch, weights, counts.top1,
                     counts.top5, counts.images)
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
