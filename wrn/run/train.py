"""train(cfg, data_url, train_url) -> run summary: the whole training run, reading top-down."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import mindspore as ms

from wrn import signals
from wrn.builder.build import Trainer, build_dataset, build_trainer, run_peak_lr, setup_runtime, sink_mode
from wrn.cifar import Layout, find_eval_file, find_layout
from wrn.config import Config
from wrn.core.metrics import EvalCounts, evaluate
from wrn.core.model import count_trainable_parameters
from wrn.errors import DataError
from wrn.output import checkpoint as ckpt
from wrn.output import records as metrics_records
from wrn.output.ckptconfig import embedded
from wrn.output.logs import launch_line, launch_number, setup_logging
from wrn.output.rundir import RunDir, open_run
from wrn.platform import runtime
from wrn.platform.staging import StagingOptions, stage_in
from wrn.platform.storage import is_remote, storage_for
from wrn.run.callbacks import EpochEnd, EvalSchedule, StepLogger
from wrn.run.resumecheck import describe_changes, record_history
from wrn.run.saver import CheckpointSaver
from wrn.run.startpoint import Resume, fetch_remote, resume_point, starting_state
from wrn.run.watch import watchers

log = logging.getLogger("wrn")


@dataclass(frozen=True)
class Sources:
    """What a run reads: its data, optionally a separate eval set, and where its weights start from."""

    data_url: str
    eval_data_url: str | None = None
    resume: str = ""  # "auto", a checkpoint to continue, or "" for a new run
    pretrained: str | None = None  # fine-tuning: weights only, epoch 1, a fresh optimizer


@dataclass(frozen=True)
class Prepared:
    """What the setup hands the epochs and the end: the trainer, its data and where it starts."""

    trainer: Trainer
    train_data: Any  # the MindSpore training pipeline, whole optimizer steps per epoch
    steps_per_epoch: int
    evaluate_now: Callable[[Any], EvalCounts]
    resume: Resume
    state: ckpt.TrainState
    records: list[dict]  # metrics.jsonl's kept records (rank 0; empty elsewhere)
    images_per_step: int
    sink: bool


def train(cfg: Config, data_url: str | Path, train_url: str | Path, resume: str = "",
          scratch: str | None = None, eval_data_url: str | Path | None = None,
          pretrained: str | Path | None = None) -> dict:
    """Train `cfg` on data_url into the run directory train_url (each a local path or an obs:// URL); evaluate on
    eval_data_url's eval file (test_batch.bin, CIFAR-100: test.bin) when given, else on data_url's eval split; start
    from `pretrained`'s weights (fine-tuning) unless the run resumes."""
    started = time.perf_counter()
    topology = setup_runtime(cfg)
    options = StagingOptions.from_env(scratch)
    with open_run(str(train_url), topology.rank, options, claim=True) as run:
        if run.remote and resume == "auto":
            fetch_remote(run, run.log)  # a restarted job's log goes on where the last launch's stopped
        launch = launch_number(run.log)
        setup_logging(run.log, topology.rank)
        log.info("%s", launch_line(launch, topology.describe()))
        remote = next((str(url) for url in (train_url, data_url) if is_remote(url)), None)
        if remote is not None:
            log.info("remote storage through %r", storage_for(remote))
        runtime.warn_if_slow_cpu_build(topology.device_target)
        sources = Sources(str(data_url), str(eval_data_url) if eval_data_url else None, resume,
                          str(pretrained) if pretrained else None)
        return _train_in(run, cfg, sources, topology, options, started)


def _train_in(run: RunDir, cfg: Config, sources: Sources, topology: runtime.Topology, options: StagingOptions,
              started: float) -> dict:
    """Set up, train the epochs left, finish: the run inside its claimed, logging run directory."""
    prepared = _set_up(run, cfg, sources, topology, options)
    _train_epochs(run, cfg, prepared, topology)
    return _finish(run, cfg, prepared, topology, started)


def _set_up(run: RunDir, cfg: Config, sources: Sources, topology: runtime.Topology,
            options: StagingOptions) -> Prepared:
    """Where to resume from (checked first), the data, the trainer and its starting state, the config recorded."""
    resume = resume_point(run, cfg, sources.resume, topology, options)
    layout = find_layout(stage_in(sources.data_url, topology.local_rank, options), cfg.dataset, cfg.label)
    if sources.eval_data_url:
        layout = replace(layout, eval_file=find_eval_file(stage_in(sources.eval_data_url, topology.local_rank,
                                                                   options, kind="eval-data"), cfg.dataset))
    train_data, steps_per_epoch = _train_data(cfg, layout, topology)
    evaluate_now = _evaluator(cfg, layout, topology)
    trainer = build_trainer(cfg, steps_per_epoch, topology)
    state = starting_state(trainer, resume, steps_per_epoch, sources.pretrained, topology, options)
    # Nothing newer than the checkpoint survives: records of epochs it does not hold (a kill between a metrics line
    # and its checkpoint, or a run that died before its first checkpoint) are dropped, and so is damage.
    records = metrics_records.kept_until(run, state.epoch) if topology.is_main else []
    if resume.changes:
        log.warning("resuming %s with changed keys: %s (%s holds the new values, %s both)", resume.named,
                    describe_changes(resume.changes), RunDir.CONFIG, RunDir.CONFIG_HISTORY)
    if topology.is_main:
        # Uploaded before any training: an unwritable train_url fails now, not after the first epoch.
        run.write_text(run.config, cfg.to_yaml(), upload_now=True)
        record_history(run, cfg, state.epoch, resume.trained_cfg)
    images_per_step = cfg.batch_size * cfg.accumulation_steps * topology.world_size
    sink = sink_mode(cfg, topology.device_target)
    log.info("WRN-%d-%d (%s parameters) on %s, MindSpore %s, %d process(es); batch %d per device%s, %d global; "
             "lr rule %s: peak lr %g; %d optimizer steps/epoch; epochs %d..%d", cfg.depth, cfg.widen_factor,
             f"{count_trainable_parameters(trainer.net):,}", topology.device_target, ms.__version__,
             topology.world_size, cfg.batch_size,
             f" x {cfg.accumulation_steps} accumulated" if cfg.accumulation_steps > 1 else "", images_per_step,
             cfg.lr_scaling, run_peak_lr(cfg, topology.world_size), steps_per_epoch, state.epoch + 1, cfg.epochs)
    _log_step_options(cfg, sink, topology.device_target)
    return Prepared(trainer, train_data, steps_per_epoch, evaluate_now, resume, state, records, images_per_step, sink)


def _train_data(cfg: Config, layout: Layout, topology: runtime.Topology) -> tuple[Any, int]:
    """This rank's training pipeline, cut to whole optimizer steps, and the optimizer steps of an epoch."""
    train_data = build_dataset(cfg, layout, train=True, rank=topology.rank, world_size=topology.world_size)
    micro_batches = train_data.get_dataset_size()
    steps_per_epoch = micro_batches // cfg.accumulation_steps  # optimizer steps
    if micro_batches % cfg.accumulation_steps and steps_per_epoch:
        # Every epoch ends on an optimizer step: nothing accumulated is carried into the next epoch or a checkpoint.
        train_data = train_data.take(steps_per_epoch * cfg.accumulation_steps)
        log.info("the last %d of %d micro-batches per epoch make no whole optimizer step and are left out",
                 micro_batches % cfg.accumulation_steps, micro_batches)
    if steps_per_epoch == 0:
        raise DataError(f"{layout.root}: too few training images for one batch of {cfg.batch_size} per device "
                        f"(x {cfg.accumulation_steps} accumulation steps x {topology.world_size} devices); lower "
                        "batch_size or accumulation_steps")
    return train_data, steps_per_epoch


def _train_epochs(run: RunDir, cfg: Config, prepared: Prepared, topology: runtime.Topology) -> None:
    """The epochs left, with the step log, the checkpoints (rank 0), evaluation and the watchers; a signal from here
    on stops the run cleanly at the next step."""
    signals.graceful_from_here()
    trainer, state, steps_per_epoch = prepared.trainer, prepared.state, prepared.steps_per_epoch
    steps = StepLogger(trainer.step, trainer.lrs, steps_per_epoch, cfg.epochs, prepared.images_per_step,
                       cfg.log_interval, state.global_step)
    saver = CheckpointSaver(run, trainer.net, trainer.step, steps_per_epoch, cfg.keep_checkpoint_max,
                            state.best_top1, state.best_epoch, cfg.checkpoint_interval, cfg.epochs, trainer.ema,
                            config_text=embedded(cfg)) \
        if topology.is_main else None
    if saver is not None and prepared.resume.params is not None:
        saver.resumed(state)
    epoch_end = EpochEnd(run, steps, lambda: prepared.evaluate_now(trainer.net),
                         EvalSchedule(cfg.eval_start_epoch, cfg.eval_interval, cfg.epochs), saver, prepared.records)
    callbacks = [steps, epoch_end, *watchers(cfg, run, topology.is_main, steps, prepared.records, state,
                                             prepared.sink)]
    if state.epoch < cfg.epochs:
        # One sink is one epoch: epochs, the LR position, checkpoints and resume stay where they are without sink.
        trainer.model.train(cfg.epochs, prepared.train_data, callbacks=callbacks, dataset_sink_mode=prepared.sink,
                            sink_size=steps_per_epoch * cfg.accumulation_steps if prepared.sink else -1,
                            initial_epoch=state.epoch)
    else:
        log.info("checkpoint %s already finished all %d epochs: nothing to train", prepared.resume.source,
                 cfg.epochs)


def _finish(run: RunDir, cfg: Config, prepared: Prepared, topology: runtime.Topology, started: float) -> dict:
    """The weights' checksum in the log and the run's summary, written by rank 0 and returned."""
    log.info("trainable weights checksum %s (identical on every rank in data-parallel training)",
             weights_checksum(prepared.trainer.net))
    summary = _summary(cfg, run, prepared.state, prepared.records, topology, time.perf_counter() - started)
    if topology.is_main:
        run.write_json(run.summary, summary)
    log.info("done: best top1 %.4f at epoch %d; run directory %s", summary["best_top1"], summary["best_epoch"], run)
    return summary


def _evaluator(cfg: Config, layout: Layout, topology: runtime.Topology):
    """Evaluation over the whole eval split: sharded over ranks with summed counts, or all of it on every rank."""
    sharded = not cfg.eval_on_every_rank and topology.world_size > 1
    data = build_dataset(cfg, layout, train=False, rank=topology.rank if sharded else 0,
                         world_size=topology.world_size if sharded else 1)

    def run(net) -> EvalCounts:
        counts = evaluate(net, data)
        return counts.summed(runtime.all_reduce_sum) if sharded else counts

    return run


def weights_checksum(net) -> str:
    digest = hashlib.sha256()
    # BatchNorm's moving statistics are per rank (no SyncBN), as in other data-parallel frameworks.
    for param in sorted(net.trainable_params(), key=lambda p: p.name):
        digest.update(param.name.encode())
        digest.update(param.asnumpy().tobytes())
    return digest.hexdigest()[:16]


def _log_step_options(cfg: Config, sink: bool, device_target: str) -> None:
    if cfg.clip_grad_norm:
        log.info("gradients clipped to a global norm of %g", cfg.clip_grad_norm)
    if cfg.ema_decay:
        log.info("EMA of the weights with decay %g: evaluation, best.ckpt and export use the average", cfg.ema_decay)
    if sink and device_target == "CPU":
        log.info("dataset_sink_mode true: MindSpore has no dataset sink on CPU and feeds each step from the host")
    elif sink:
        log.info("dataset sink mode: one sink per epoch, so step lines come at the end of each epoch")


def _summary(cfg: Config, run: RunDir, resumed: ckpt.TrainState, records: list[dict], topology: runtime.Topology,
             seconds: float) -> dict:
    """The run in one JSON object; the best epoch is the restored one unless a later record beat it (the same
    rule as the checkpoint saver's)."""
    best_top1, best_epoch = resumed.best_top1, resumed.best_epoch
    for record in records:
        if record["epoch"] > resumed.epoch and record.get("top1") is not None and record["top1"] > best_top1:
            best_top1, best_epoch = record["top1"], record["epoch"]
    evaluated = [r for r in records if r.get("top1") is not None]
    last = records[-1] if records else {"epoch": resumed.epoch, "global_step": resumed.global_step}
    return {
        "config": cfg.name, "depth": cfg.depth, "widen_factor": cfg.widen_factor,
        "epochs": last["epoch"], "global_step": last["global_step"],
        "best_top1": best_top1, "best_epoch": best_epoch,
        "final_top1": evaluated[-1]["top1"] if evaluated else None,
        "eval_images": evaluated[-1]["eval_images"] if evaluated else None,
        "seconds": round(seconds, 1), "run_dir": str(run),
        "best_checkpoint": run.location(RunDir.BEST_CKPT) if best_epoch else None,
        "device": topology.device_target, "world_size": topology.world_size, "mindspore": ms.__version__,
    }
