"""What a resume may change. Keys that change what the completed epochs mean (the network, the data, the batch,
the augmentations, the loss) are refused, naming the key; the others (the schedule, bookkeeping) are accepted with
one warning line, and the run's config_history.jsonl keeps every config with the epoch it took effect from, so
config.yaml (the latest) never disagrees silently with metrics.jsonl."""

from __future__ import annotations

import json
from typing import Any

import yaml

from wrn.config import Config, build_config
from wrn.errors import CheckpointError, ConfigError
from wrn.output import checkpoint as ckpt
from wrn.output.rundir import RunDir

FIXED_ON_RESUME = ("dataset", "label", "depth", "widen_factor", "num_classes", "dropout", "freeze_backbone", "mean",
                   "std", "crop_padding", "crop_padding_mode", "random_flip", "autoaugment", "cutout", "mixup",
                   "cutmix", "mix_probability", "batch_size", "accumulation_steps", "label_smoothing", "ema_decay")


def trained_config(params: dict[str, Any], source: str) -> Config | None:
    """The config a checkpoint was trained with; None for a checkpoint written before checkpoints carried it."""
    text = ckpt.stored_config_text(params)
    if text is None:
        return None
    values = yaml.safe_load(text)
    if not isinstance(values, dict):
        raise CheckpointError(f"checkpoint {source}: its stored config is not a mapping of key: value")
    return build_config(values, source=f"the config stored in checkpoint {source}")


def check_epochs(cfg: Config, state: ckpt.TrainState, source: str, into_new_run: bool) -> None:
    """`epochs` below what the checkpoint completed is an error; so is continuing a finished checkpoint into a new
    run, which would train nothing and leave a run folder without a best checkpoint."""
    if cfg.epochs < state.epoch:
        raise ConfigError(f"config key 'epochs' has value {cfg.epochs}, but checkpoint {source} already completed "
                          f"{state.epoch} epochs: expected epochs >= {state.epoch}")
    if into_new_run and cfg.epochs == state.epoch:
        raise ConfigError(f"checkpoint {source} completed all {state.epoch} epochs of its run: resuming it into a new "
                          f"train_url would train nothing; pass --epochs=N with N > {state.epoch} to train on, or "
                          f"--pretrained={source} to start a new run from its weights")


def changed_keys(trained: Config, cfg: Config, source: str) -> dict[str, tuple[Any, Any]]:
    """The keys `cfg` changes from the checkpoint's config (old, new); a key of FIXED_ON_RESUME is an error."""
    old, new = trained.to_dict(), cfg.to_dict()
    fixed = [key for key in FIXED_ON_RESUME if old[key] != new[key]]
    if fixed:
        key, others = fixed[0], describe_changes({k: (old[k], new[k]) for k in fixed[1:]})
        raise ConfigError(f"config key {key!r} has value {new[key]!r}, but checkpoint {source} was trained with "
                          f"{old[key]!r}{f' (also changed: {others})' if others else ''}: changing it on resume "
                          f"changes what the completed epochs mean; keep {old[key]!r}, or start a new run "
                          f"(--pretrained={source} starts from its weights)")
    return {key: (old[key], new[key]) for key in new if old[key] != new[key]}


def describe_changes(changes: dict[str, tuple[Any, Any]]) -> str:
    return ", ".join(f"{key} {old!r} -> {new!r}" for key, (old, new) in changes.items())


def record_history(run: RunDir, cfg: Config, resumed_epoch: int, trained: Config | None) -> None:
    """config_history.jsonl: one {"from_epoch", "config"} line per config the run's kept epochs were trained with.
    Entries of epochs the checkpoint does not hold are dropped (their launch was killed before them)."""
    path = run.history
    entries = []
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a damaged line: the checkpoint's own config below still records what trained
            if isinstance(entry, dict) and isinstance(entry.get("from_epoch"), int) and \
                    isinstance(entry.get("config"), dict) and entry["from_epoch"] <= resumed_epoch:
                entries.append(entry)
    if not entries and trained is not None and resumed_epoch > 0:
        entries.append({"from_epoch": 1, "config": trained.to_dict()})
    if not entries or entries[-1]["config"] != cfg.to_dict():
        entries.append({"from_epoch": resumed_epoch + 1, "config": cfg.to_dict()})
    run.write_text(path, "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))
