"""Training callbacks: step logging with throughput, and the per-epoch record (eval, checkpoints, metrics, curves)."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Callable

import numpy as np
from mindspore.train import Callback

from wrn import checkpoint as ckpt
from wrn.curves import can_plot, plot_curves
from wrn.evaluate import EvalCounts
from wrn.fileio import append_line
from wrn.rundir import RunDir

log = logging.getLogger("wrn")


def loss_value(net_outputs) -> float:
    """A train step returns the loss, or (loss, overflow, scale) with a dynamic loss scale."""
    if isinstance(net_outputs, (tuple, list)):
        net_outputs = net_outputs[0]
    return float(net_outputs.asnumpy())


class StepLogger(Callback):
    """One log line every `log_interval` steps (epoch, step, loss, lr, images/s); a progress bar on a TTY when tqdm is
    installed."""

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
            log.warning("epoch %d step %d: loss is %s", args.cur_epoch_num, self.steps_in_epoch, loss)
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
        self.epoch_seconds = time.perf_counter() - self.epoch_start
        self.epoch_loss = self.loss_sum / max(self.steps_in_epoch, 1)


class EpochRecorder(Callback):
    """After each epoch: evaluate when due, then metrics.jsonl, best/last/periodic checkpoints and curves.png.

    The metrics line is written before last.ckpt, so a crash between the two is healed on resume by dropping
    records newer than the checkpoint; nothing newer than last.ckpt ever survives a resume.
    """

    def __init__(self, cfg, run: RunDir, net, train_network, evaluate: Callable[[], EvalCounts],
                 steps: StepLogger, state: ckpt.TrainState, is_main: bool, records: list[dict]) -> None:
        super().__init__()
        self.cfg, self.run, self.net, self.train_network = cfg, run, net, train_network
        self.evaluate, self.steps, self.state, self.is_main = evaluate, steps, state, is_main
        self.records = records
        self.keep = cfg.keep_checkpoint_max
        # curves.png is drawn off the training thread (~0.35 s per drawing); on_train_end draws the final one.
        plotting = is_main and can_plot()
        if is_main and not plotting:
            log.info("matplotlib is not installed: curves.png is skipped (metrics.jsonl has every figure)")
        self._plotter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wrn-curves") if plotting else None
        self._plot_pending: Future | None = None

    def due_for_eval(self, epoch: int) -> bool:
        cfg = self.cfg
        started = epoch >= cfg.eval_start_epoch
        on_interval = (epoch - cfg.eval_start_epoch) % cfg.eval_interval == 0
        return (started and on_interval) or epoch == cfg.epochs

    def on_train_epoch_end(self, run_context) -> None:
        epoch = run_context.original_args().cur_epoch_num
        record = {"epoch": epoch, "global_step": self.steps.global_step, "train_loss": self.steps.epoch_loss,
                  "lr": self.steps.lr, "epoch_seconds": round(self.steps.epoch_seconds, 3),
                  "step_seconds": round(self.steps.step_seconds, 3),
                  "images_per_second": round(self.steps.steps_per_epoch * self.steps.images_per_step
                                             / max(self.steps.epoch_seconds, 1e-9), 1),
                  "top1": None, "top5": None, "eval_loss": None, "eval_images": None}
        if self.due_for_eval(epoch):
            start = time.perf_counter()
            counts = self.evaluate()
            record.update(top1=counts.top1, top5=counts.top5, eval_loss=counts.as_dict()["loss"],
                          eval_images=counts.images, eval_seconds=round(time.perf_counter() - start, 3))
            log.info("epoch %d eval: top1 %.4f top5 %.4f over %d images", epoch, counts.top1, counts.top5, counts.images)
        improved = record["top1"] is not None and record["top1"] > self.state.best_top1
        if improved:
            self.state = replace(self.state, best_top1=record["top1"], best_epoch=epoch)
        self.state = replace(self.state, epoch=epoch, global_step=self.steps.global_step)
        self.records.append(record)
        self.run.written(self.run.log)
        if not self.is_main:
            return
        append_line(self.run.metrics, json.dumps(record, sort_keys=True))
        self.run.written(self.run.metrics)
        if improved:
            ckpt.save(self.run.best_ckpt, self.net, self.state)
            self.run.written(self.run.best_ckpt)
        ckpt.save(self.run.last_ckpt, self.train_network, self.state)
        self.run.written(self.run.last_ckpt)
        if self.keep:
            ckpt.save(self.run.epoch_ckpt(epoch), self.net, self.state)
            self.run.written(self.run.epoch_ckpt(epoch))
            for old in self.run.periodic_ckpts()[: -self.keep]:
                old.unlink()  # only this run's own periodic checkpoints: never user data
        if self._plotter is not None and (self._plot_pending is None or self._plot_pending.done()):
            self._plot_pending = self._plotter.submit(self._draw, list(self.records))

    def _draw(self, records: list[dict]) -> None:
        plot_curves(records, self.run.curves)
        self.run.written(self.run.curves)

    def on_train_end(self, run_context) -> None:
        if self._plotter is None:
            return
        self._plotter.shutdown(wait=True)
        if self.records:
            self._draw(self.records)
