"""What watches a training run besides its log and metrics: TensorBoard events (`tensorboard`) and the Profiler
(`profile_steps`, `profile_epoch`), both on rank 0 only."""

from __future__ import annotations

import logging

from mindspore.train import Callback

from wrn.config import Config
from wrn.output import checkpoint as ckpt
from wrn.output.rundir import RunDir
from wrn.run.board import TensorBoardLogger, open_events
from wrn.run.callbacks import StepLogger
from wrn.run.profiling import StepProfiler, check_profile_steps

log = logging.getLogger("wrn")


def watchers(cfg: Config, run: RunDir, is_main: bool, steps: StepLogger, records: list[dict],
             state: ckpt.TrainState, sink: bool) -> list[Callback]:
    """The callbacks to append after `StepLogger` and `EpochEnd`, whose figures they read; `state` is where the run
    starts (a resume's checkpoint)."""
    check_profile_steps(cfg.profile_steps, state.steps_per_epoch)  # every rank refuses a range beyond the epoch
    if not is_main:
        return []
    found: list[Callback] = []
    events = open_events(run, cfg.tensorboard, state.global_step)
    if events is not None:
        found.append(TensorBoardLogger(events, steps, records))
    if cfg.profile_steps and cfg.profile_epoch > state.epoch:
        found.append(StepProfiler(run, cfg.profile_steps, cfg.profile_epoch, steps, sink))
    elif cfg.profile_steps:
        log.info("profile_epoch %d was trained before this resume: not profiled again", cfg.profile_epoch)
    return found
