"""train(cfg, data_url, train_url) -> run summary: the whole training run, reading top-down."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import mindspore as ms
from mindspore.train import Model
from mindspore.train.loss_scale_manager import DynamicLossScaleManager, FixedLossScaleManager

from wrn import checkpoint as ckpt
from wrn import runtime
from wrn.callbacks import EpochRecorder, StepLogger
from wrn.data import create_dataset, find_layout
from wrn.errors import CheckpointError, ConfigError, DataError, RunDirError
from wrn.evaluate import EvalCounts, evaluate
from wrn.fileio import atomic_write_json, atomic_write_text
from wrn.logs import setup_logging
from wrn.loss import create_loss
from wrn.model import count_trainable_parameters, create_model
from wrn.optim import create_optimizer
from wrn.rundir import RunDir
from wrn.schedule import learning_rates, peak_lr
from wrn.staging import StagingOptions, open_run, stage_in
from wrn.storage import StorageError, is_remote, storage_for

log = logging.getLogger("wrn")

# Recomputed from the config on resume (the position comes from global_step), so a longer run may resume.
_NOT_RESTORED = ("learning_rate",)


def train(cfg, data_url: str | Path, train_url: str | Path, resume: str = "", scratch: str | None = None) -> dict:
    """Train `cfg` on data_url into the run directory train_url (each a local path or an obs:// URL)."""
    started = time.perf_counter()
    topology = runtime.setup(cfg)
    options = StagingOptions.from_env(scratch)
    with open_run(str(train_url), topology.rank, options) as run:
        setup_logging(run.log, topology.rank)
        log.info("%s", topology.describe())
        remote = next((str(url) for url in (train_url, data_url) if is_remote(url)), None)
        if remote is not None:
            log.info("remote storage through %r", storage_for(remote))
        runtime.warn_if_slow_cpu_build(topology.device_target)
        return _train_in(run, cfg, str(data_url), resume, topology, options, started)


def _train_in(run: RunDir, cfg, data_url: str, resume: str, topology: runtime.Topology, options: StagingOptions,
              started: float) -> dict:
    resume_from = _resume_source(resume, run, topology, options)
    resume_params = ckpt.read(resume_from) if resume_from else None
    layout = find_layout(stage_in(data_url, topology.local_rank, options))

    train_data = create_dataset(cfg, layout, train=True, rank=topology.rank, world_size=topology.world_size)
    steps_per_epoch = train_data.get_dataset_size()
    if steps_per_epoch == 0:
        raise DataError(f"{layout.root}: too few training images for one batch of {cfg.batch_size} per device "
                        f"(x {topology.world_size} devices); lower batch_size")
    evaluate_now = _evaluator(cfg, layout, topology)

    net = create_model(cfg)
    lrs = learning_rates(cfg, steps_per_epoch, topology.world_size)
    model = _create_model(cfg, net, lrs, topology)
    state = ckpt.TrainState(epoch=0, global_step=0, steps_per_epoch=steps_per_epoch, best_top1=-1.0, best_epoch=0)
    records: list[dict] = []
    if resume_params is not None:
        state, records = _restore(model.train_network, resume_params, resume_from, steps_per_epoch, run)

    if topology.is_main:
        cfg.save(run.config)
        run.written(run.config, wait=True)  # proves train_url is writable before any training
    images_per_step = cfg.batch_size * topology.world_size
    log.info("WRN-%d-%d (%s parameters) on %s, MindSpore %s, %d process(es); batch %d per device, %d global; "
             "lr rule %s: peak lr %g; %d steps/epoch; epochs %d..%d", cfg.depth, cfg.widen_factor,
             f"{count_trainable_parameters(net):,}", topology.device_target, ms.__version__, topology.world_size,
             cfg.batch_size, images_per_step, cfg.lr_scaling, peak_lr(cfg, topology.world_size), steps_per_epoch,
             state.epoch + 1, cfg.epochs)

    steps = StepLogger(lrs, steps_per_epoch, cfg.epochs, images_per_step, cfg.log_interval, state.global_step)
    recorder = EpochRecorder(cfg, run, net, model.train_network, lambda: evaluate_now(net), steps, state,
                             topology.is_main, records)
    if state.epoch < cfg.epochs:
        model.train(cfg.epochs, train_data, callbacks=[steps, recorder], dataset_sink_mode=False,
                    initial_epoch=state.epoch)
    else:
        log.info("checkpoint %s already finished all %d epochs: nothing to train", resume_from, cfg.epochs)

    log.info("trainable weights checksum %s (identical on every rank in data-parallel training)",
             weights_checksum(net))
    summary = _summary(cfg, run, recorder, topology, time.perf_counter() - started)
    if topology.is_main:
        atomic_write_json(run.summary, summary)
        run.written(run.summary)
    log.info("done: best top1 %.4f at epoch %d; run directory %s", recorder.state.best_top1,
             recorder.state.best_epoch, run)
    return summary


def _evaluator(cfg, layout, topology: runtime.Topology):
    """Evaluation over the whole eval split: sharded over ranks with summed counts, or all of it on every rank."""
    sharded = not cfg.eval_on_every_rank and topology.world_size > 1
    data = create_dataset(cfg, layout, train=False, rank=topology.rank if sharded else 0,
                          world_size=topology.world_size if sharded else 1)

    def run(net) -> EvalCounts:
        counts = evaluate(net, data)
        return counts.summed_over_ranks() if sharded else counts

    return run


def weights_checksum(net) -> str:
    digest = hashlib.sha256()
    # BatchNorm's moving statistics are per rank (no SyncBN), as in other data-parallel frameworks.
    for param in sorted(net.trainable_params(), key=lambda p: p.name):
        digest.update(param.name.encode())
        digest.update(param.asnumpy().tobytes())
    return digest.hexdigest()[:16]


def _resume_source(resume: str, run: RunDir, topology: runtime.Topology, options: StagingOptions) -> Path | None:
    """The local checkpoint file to resume from (staged from OBS when needed), or None for a fresh run."""
    last = run.location("ckpt/last.ckpt")
    storage = storage_for(last)
    last_exists = storage.exists(last)
    if resume == "auto":
        if not last_exists:
            return None
        source = last
        if run.remote and topology.is_main and storage.exists(run.location("metrics.jsonl")):
            storage.download_file(run.location("metrics.jsonl"), run.metrics)
    elif resume:
        source = resume
    elif last_exists:
        raise RunDirError(f"train_url {run} already holds a run (ckpt/last.ckpt); pass --resume=auto to continue "
                          "it, or choose another train_url")
    else:
        return None
    try:
        return stage_in(source, topology.local_rank, options, kind="resume")
    except StorageError as exc:
        raise CheckpointError(f"checkpoint {source}: {exc}") from None


def _create_model(cfg, net, lrs, topology: runtime.Topology) -> Model:
    if cfg.loss_scale_type == "dynamic" and topology.device_target == "CPU":
        raise ConfigError("config key 'loss_scale_type' has value 'dynamic', expected 'fixed' on CPU "
                          "(MindSpore supports a dynamic loss scale on Ascend and GPU only)")
    if cfg.loss_scale_type == "dynamic":
        manager, optimizer_scale = DynamicLossScaleManager(init_loss_scale=cfg.loss_scale), 1.0
    else:
        manager, optimizer_scale = FixedLossScaleManager(cfg.loss_scale, drop_overflow_update=False), cfg.loss_scale
    optimizer = create_optimizer(cfg, net, lrs, optimizer_scale)
    return Model(net, loss_fn=create_loss(cfg), optimizer=optimizer, loss_scale_manager=manager,
                 amp_level=runtime.amp_level(cfg, topology))


def _restore(train_network, params: dict, source: Path, steps_per_epoch: int, run: RunDir):
    state = ckpt.train_state(params, source)
    if state.steps_per_epoch != steps_per_epoch:
        raise CheckpointError(f"checkpoint {source} was written with {state.steps_per_epoch} steps per epoch, this run "
                              f"has {steps_per_epoch}: batch size, data or device count changed; resume would shift "
                              "the learning-rate schedule")
    ckpt.load_into(train_network, {k: v for k, v in params.items() if k not in _NOT_RESTORED}, source,
                   skip=_NOT_RESTORED)
    records = _records_until(run.metrics, state.epoch)
    atomic_write_text(run.metrics, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    log.info("resumed from %s: epoch %d done, global step %d, best top1 %.4f", source, state.epoch,
             state.global_step, state.best_top1)
    return state, records


def _records_until(metrics: Path, epoch: int) -> list[dict]:
    if not metrics.exists():
        return []
    records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    return [r for r in records if r["epoch"] <= epoch]


def _summary(cfg, run: RunDir, recorder: EpochRecorder, topology: runtime.Topology, seconds: float) -> dict:
    evaluated = [r for r in recorder.records if r.get("top1") is not None]
    return {
        "config": cfg.name, "depth": cfg.depth, "widen_factor": cfg.widen_factor,
        "epochs": recorder.state.epoch, "global_step": recorder.state.global_step,
        "best_top1": recorder.state.best_top1, "best_epoch": recorder.state.best_epoch,
        "final_top1": evaluated[-1]["top1"] if evaluated else None,
        "eval_images": evaluated[-1]["eval_images"] if evaluated else None,
        "seconds": round(seconds, 1), "run_dir": str(run), "best_checkpoint": run.location("ckpt/best.ckpt"),
        **({"local_copy": str(run.root)} if run.remote else {}),
        "device": topology.device_target, "world_size": topology.world_size, "mindspore": ms.__version__,
    }
