"""Where a training starts: the checkpoint it resumes (train_url's last one or another, staged from OBS when
needed), checked before any data is read, and the state it restores; or the pretrained weights it fine-tunes."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from wrn.builder.build import HEAD, Trainer
from wrn.config import Config
from wrn.core.step import EMA_PREFIX
from wrn.errors import CheckpointError, RunDirError
from wrn.output import checkpoint as ckpt
from wrn.output.rundir import RunDir
from wrn.platform import runtime
from wrn.platform.staging import StagingOptions, stage_checkpoint
from wrn.platform.storage import RemoteUrl, is_remote, storage_for
from wrn.run.resumecheck import changed_keys, check_epochs, trained_config

log = logging.getLogger("wrn")

# Recomputed from the config on resume (the position comes from global_step), so a longer run may resume.
_NOT_RESTORED = ("learning_rate",)


@dataclass(frozen=True)
class Resume:
    """The checkpoint a run resumes (none for a new run), as the user named it, and what it was trained with."""

    source: Path | None = None  # the local (staged) file
    params: dict[str, Any] | None = None
    named: str = ""
    into_new_run: bool = False  # another run's checkpoint, continued in this train_url
    trained_cfg: Config | None = None
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def resume_point(run: RunDir, cfg: Config, resume: str, topology: runtime.Topology,
                 options: StagingOptions) -> Resume:
    """`resume` ("auto", a checkpoint or "") read and checked against `cfg`; a resumed remote run's records are
    fetched back first."""
    source = _resume_source(resume, run, topology, options)
    if resume == "auto" and source is not None and run.remote and topology.is_main:
        fetch_remote(run, run.metrics)
        fetch_remote(run, run.history)
    params = ckpt.read(source) if source else None
    last = run.location(RunDir.LAST_CKPT)
    into_new_run = resume not in ("", "auto") and not _same_location(resume, last)
    named = last if resume == "auto" else resume  # as the user knows it
    if params is None:
        return Resume(source, None, named, into_new_run)
    # Before any data is read: a resume that would mislabel its epochs is refused at once.
    check_epochs(cfg, ckpt.train_state(params, named), named, into_new_run)
    trained_cfg = trained_config(params, named)
    changes = changed_keys(trained_cfg, cfg, named) if trained_cfg is not None else {}
    return Resume(source, params, named, into_new_run, trained_cfg, changes)


def starting_state(trainer: Trainer, resume: Resume, steps_per_epoch: int, pretrained: str | None,
                   topology: runtime.Topology, options: StagingOptions) -> ckpt.TrainState:
    """The trainer restored from `resume`, or started from `pretrained`'s weights, or as built; its position."""
    state = ckpt.TrainState(epoch=0, global_step=0, steps_per_epoch=steps_per_epoch)
    if resume.params is not None:
        state = _restore(trainer, resume.params, resume.source, steps_per_epoch)
        if resume.into_new_run:
            # Another run's checkpoint (a periodic one, say): this run's best is its own, among the epochs it trains.
            state = replace(state, best_top1=-1.0, best_epoch=0)
        if pretrained:
            log.info("resuming from %s: --pretrained %s is not applied again", resume.source, pretrained)
    elif pretrained:
        _start_from(trainer.net, pretrained, topology, options)
        if trainer.ema is not None:
            trainer.ema.restart_from_weights()
    return state


def _resume_source(resume: str, run: RunDir, topology: runtime.Topology, options: StagingOptions) -> Path | None:
    """The local checkpoint file to resume from (staged from OBS when needed), or None for a fresh run."""
    last = run.location(RunDir.LAST_CKPT)
    last_exists = storage_for(last).exists(last)
    if resume == "auto":
        if not last_exists:
            return None
        source = last
    elif resume:
        if last_exists and not _same_location(resume, last):
            raise RunDirError(f"train_url {run} already holds another run ({RunDir.LAST_CKPT}): resuming {resume} "
                              "there would replace its records and its best checkpoint; choose an empty train_url, or "
                              "--resume=auto to continue the run that is there")
        source = resume
    elif last_exists:
        raise RunDirError(f"train_url {run} already holds a run ({RunDir.LAST_CKPT}); pass --resume=auto to continue "
                          "it, or choose another train_url")
    else:
        return None
    return stage_checkpoint(source, topology.local_rank, options, kind="resume")


def _same_location(a: str, b: str) -> bool:
    if is_remote(a) != is_remote(b):
        return False
    if is_remote(a):
        return str(RemoteUrl.parse(a)) == str(RemoteUrl.parse(b))  # s3:// is obs://, trailing slashes don't count
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def fetch_remote(run: RunDir, path: Path) -> None:
    """A restarted job's scratch folder is new: bring one of the run's files back from train_url."""
    relative = path.relative_to(run.root).as_posix()
    storage = storage_for(run.remote)
    if storage.exists(run.location(relative)):
        storage.download_file(run.location(relative), path)


def _restore(trainer: Trainer, params: dict, source: Path, steps_per_epoch: int) -> ckpt.TrainState:
    state = ckpt.train_state(params, source)
    if state.steps_per_epoch != steps_per_epoch:
        raise CheckpointError(f"checkpoint {source} was written with {state.steps_per_epoch} steps per epoch, this run "
                              f"has {steps_per_epoch}: batch size, accumulation steps, data or device count changed; "
                              "resume would shift the learning-rate schedule")
    skip = list(_NOT_RESTORED)
    if not trainer.step.dynamic_scale:
        skip.append("scale_sense")  # a fixed scale is the config's
    start_ema = trainer.ema is not None and not ckpt.has_ema(params)
    if start_ema:
        skip += [p.name for p in trainer.step.get_parameters() if p.name.startswith(EMA_PREFIX)]
    ckpt.load_into(trainer.step, params, source, skip=tuple(skip))
    if start_ema:
        trainer.ema.restart_from_weights()
        log.info("%s holds no weight average: the EMA starts from its weights now", source)
    log.info("resumed from %s: epoch %d done, global step %d, best top1 %.4f", source, state.epoch,
             state.global_step, state.best_top1)
    return state


def _start_from(net, pretrained: str, topology: runtime.Topology, options: StagingOptions) -> None:
    params = ckpt.evaluation_weights(ckpt.read(stage_checkpoint(pretrained, topology.local_rank, options)))
    skipped = ckpt.load_pretrained(net, params, pretrained, head=HEAD)
    ckpt.check_finite(net, pretrained)
    if skipped:
        log.info("fine-tuning from %s: its classifier (%s) does not fit this run's %d classes and starts from its "
                 "initialisation", pretrained, ", ".join(skipped), net.fc.weight.shape[0])
    else:
        log.info("fine-tuning from %s: every weight loaded; epoch 1 with a fresh optimizer", pretrained)
