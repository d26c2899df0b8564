"""Self-describing checkpoints: every checkpoint carries the resolved config it was trained with (inside the file,
`checkpoint.CONFIG_KEY`, so it survives any copy), and the commands that read a checkpoint build its network from it
when no `--config` is given. A `--config` that disagrees on the architecture is refused, naming both."""

from __future__ import annotations

from typing import Any

import yaml

from wrn.config import Config, build_config, load_config
from wrn.errors import CheckpointError, ConfigError
from wrn.output import checkpoint as ckpt
from wrn.platform.staging import StagingOptions, stage_checkpoint

# The ModelZoo WideResNet's default, for commands given neither --config nor a checkpoint that names its own.
DEFAULT_RECIPE = "wrn40_10"
# The keys that shape the network's weights: a checkpoint fits a config only when these agree.
ARCHITECTURE_KEYS = ("depth", "widen_factor", "num_classes")
# Keys that describe the machine a run used, not its recipe: a config read from a checkpoint leaves them at their
# defaults (a checkpoint trained on 8 Ascend cards is evaluated on a 2-core laptop).
MACHINE_KEYS = ("device_target", "num_workers", "amp_level", "dataset_sink_mode")


def architecture(cfg: Config) -> str:
    return f"WRN-{cfg.depth}-{cfg.widen_factor} with {cfg.num_classes} classes"


def stored_values(checkpoint: str, options: StagingOptions | None = None) -> dict[str, Any] | None:
    """The recipe keys of the config `checkpoint` (local or obs://) carries, without the machine keys; None for an
    older checkpoint that carries none."""
    from wrn.platform.runtime import detect_launch

    local = stage_checkpoint(checkpoint, detect_launch().local_rank, options or StagingOptions.from_env())
    text = ckpt.read_config_text(local)
    if text is None:
        return None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError:
        values = None
    if not isinstance(values, dict):
        raise CheckpointError(f"checkpoint {checkpoint}: its stored config ({ckpt.CONFIG_KEY}) is not a mapping of "
                              "key: value; give --config")
    return {key: value for key, value in values.items() if key not in MACHINE_KEYS}


def resolve(config: str | None, overrides: dict[str, Any], checkpoint: str | None, notes: list[str],
            check_architecture: bool = True) -> Config:
    """The config for a command reading `checkpoint`: `--config` when given (with `check_architecture`, refused
    when it builds another network than the checkpoint's), else the checkpoint's own, else DEFAULT_RECIPE; the
    command line's overrides apply on top either way."""
    stored = stored_values(checkpoint) if checkpoint else None
    if config is None and stored is not None:
        source = f"the config stored in checkpoint {checkpoint}"
        cfg = load_config(source, overrides, notes, base=stored)
    else:
        cfg = load_config(config or DEFAULT_RECIPE, overrides, notes)
    if stored is not None and check_architecture:
        trained = build_config(stored, source=f"the config stored in checkpoint {checkpoint}")
        if any(getattr(cfg, key) != getattr(trained, key) for key in ARCHITECTURE_KEYS):
            given = f"--config {config}" if config else "the command line"
            raise ConfigError(f"{given} builds {architecture(cfg)}, but checkpoint {checkpoint} holds "
                              f"{architecture(trained)} (recipe {trained.name!r}): leave out --config (and "
                              "architecture overrides) to use the checkpoint's own config")
    return cfg


def embedded(cfg: Config) -> str:
    """The text a checkpoint of `cfg` carries."""
    return cfg.to_yaml()
