"""Typed training config: a YAML recipe, then `--key=value` overrides, validated, saved with each run."""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import yaml

from wrn import modelzoo
from wrn.cifar.formats import FORMATS, dataset_classes
from wrn.depth import DEPTH_RULE, VALID_DEPTHS, is_wrn_depth
from wrn.errors import ConfigError
from wrn.values import coerce_scalar, read_utf8, type_name


@dataclass
class Config:
    """Every field is read by the code: `wrn/builder/build.py` maps them to the core's factories, and a test proves
    statically that no field is left unread."""

    name: str = "custom"
    # model
    depth: int = 16
    widen_factor: int = 4
    dropout: float = 0.0
    num_classes: int = 10
    freeze_backbone: bool = False
    # data
    dataset: str = "cifar10"
    label: str = "fine"
    mean: list[float] = field(default_factory=lambda: [0.4914, 0.4822, 0.4465])
    std: list[float] = field(default_factory=lambda: [0.2470, 0.2435, 0.2616])
    crop_padding: int = 4
    crop_padding_mode: str = "constant"
    random_flip: bool = True
    autoaugment: str = "none"
    cutout: int = 0
    mixup: float = 0.0
    cutmix: float = 0.0
    mix_probability: float = 1.0
    num_workers: int = 2
    # optimisation
    batch_size: int = 32
    eval_batch_size: int = 100
    epochs: int = 200
    lr: float = 0.1
    lr_scaling: str = "none"
    lr_schedule: str = "multistep"
    lr_milestones: list[int] = field(default_factory=list)
    lr_gamma: float = 0.2
    min_lr: float = 0.0
    warmup_epochs: int = 0
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    loss_scale: float = 1.0
    loss_scale_type: str = "fixed"
    accumulation_steps: int = 1
    clip_grad_norm: float = 0.0
    ema_decay: float = 0.0
    # runtime
    device_target: str = "auto"
    amp_level: str = "auto"
    dataset_sink_mode: str = "auto"
    seed: int = 1
    # run bookkeeping
    log_interval: int = 50
    eval_interval: int = 1
    eval_start_epoch: int = 1
    eval_on_every_rank: bool = False
    keep_checkpoint_max: int = 0
    checkpoint_interval: int = 1
    # watching a run: TensorBoard event files (when the package is installed), MindSpore's Profiler for some steps
    tensorboard: bool = True
    profile_steps: str = ""
    profile_epoch: int = 1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        """The resolved config as a run directory's config.yaml (`--config PATH` reads it back)."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


_FIELD_TYPES: dict[str, Any] = {f.name: f.type for f in dataclasses.fields(Config)}
_HINTS = typing.get_type_hints(Config)

_CHOICES = {
    "lr_schedule": ("multistep", "cosine"),
    "lr_scaling": ("none", "linear"),
    "loss_scale_type": ("fixed", "dynamic"),
    "device_target": ("auto", "CPU", "GPU", "Ascend"),
    "dataset": tuple(FORMATS),
    "crop_padding_mode": ("constant", "reflect"),
    "autoaugment": ("none", "cifar10", "randaugment"),
    "label": tuple(dict.fromkeys(kind for fmt in FORMATS.values() for kind in fmt.label_kinds)),
    "amp_level": ("auto", "O0", "O1", "O2", "O3"),
    "dataset_sink_mode": ("auto", "true", "false"),
}


def recipe_names() -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in resources.files("wrn.configs").iterdir() if p.name.endswith(".yaml"))


def load_config(recipe: str, overrides: dict[str, Any] | Iterable[str] = (),
                notes: list[str] | None = None, base: dict[str, Any] | None = None) -> Config:
    """Load a named recipe (e.g. `wrn40_10`) or a YAML path (or, with `base`, those values, named `recipe` in
    errors), apply overrides and validate. ModelZoo WideResNet keys (in the file or the overrides) are translated;
    `notes` receives what became of each."""
    values = dict(base) if base is not None else _read_recipe(recipe)
    values.setdefault("name", Path(recipe).stem if recipe.endswith((".yaml", ".yml")) else recipe)
    if not isinstance(overrides, dict):
        overrides = parse_overrides(overrides)
    if ({"dataset", "label"} & set(overrides)) and "num_classes" not in overrides:
        # Choosing the data on the command line chooses its classes (a file's own num_classes is checked instead).
        classes = dataset_classes(overrides.get("dataset", values.get("dataset", "cifar10")),
                                  overrides.get("label", values.get("label", "fine")))
        if classes:
            overrides = {**overrides, "num_classes": classes}
    values, mapped = modelzoo.merge(values, overrides, source=recipe)
    if notes is not None:
        notes.extend(mapped)
    return build_config(values, source=recipe)


def parse_overrides(args: Iterable[str]) -> dict[str, str]:
    """`--key=value` (or `key=value`) strings to a dict; values stay strings until typed by build_config."""
    out: dict[str, str] = {}
    for arg in args:
        body = arg[2:] if arg.startswith("--") else arg
        if "=" not in body:
            raise ConfigError(f"override {arg!r}: expected --key=value")
        key, value = body.split("=", 1)
        out[key.replace("-", "_")] = value
    return out


def build_config(values: dict[str, Any], source: str = "<dict>") -> Config:
    typed: dict[str, Any] = {}
    for key, value in values.items():
        if key not in _FIELD_TYPES:
            raise ConfigError(f"{source}: unknown config key {key!r} (value {value!r}){_closest(key)}")
        if key == "dataset_sink_mode" and isinstance(value, (bool, str)):  # YAML reads `true` as a boolean
            value = str(value).strip().lower()
        typed[key] = _coerce(key, value, _HINTS[key], source)
    cfg = Config(**typed)
    _validate(cfg, source)
    return cfg


def _read_recipe(recipe: str) -> dict[str, Any]:
    if recipe.endswith((".yaml", ".yml")) or "/" in recipe:
        path = Path(recipe)
        if not path.is_file():
            raise ConfigError(f"config file {recipe} does not exist")
        text = read_utf8(path, "config file", ConfigError)
    else:
        candidate = resources.files("wrn.configs") / f"{recipe}.yaml"
        if not candidate.is_file():
            names = recipe_names()
            hint = difflib.get_close_matches(recipe, names, n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
            raise ConfigError(f"unknown recipe {recipe!r}: expected one of {', '.join(names)} or a .yaml path{suggestion}")
        text = candidate.read_text()
    try:
        # The ModelZoo's files append a second YAML document of help texts: the first one is the config.
        data = next(iter(yaml.safe_load_all(text)), None)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {recipe}: not valid YAML ({exc})".replace("\n", " ")) from None
    if data is None:  # an empty file (or comments only) would silently train the defaults
        raise ConfigError(f"config {recipe}: empty, expected a mapping of key: value")
    if not isinstance(data, dict):
        raise ConfigError(f"config {recipe}: expected a mapping of key: value, got {type(data).__name__}")
    return data


def _closest(key: str) -> str:
    hint = difflib.get_close_matches(key, list(_FIELD_TYPES), n=1, cutoff=0.5)
    return f"; did you mean {hint[0]!r}?" if hint else f"; valid keys: {', '.join(_FIELD_TYPES)}"


def _coerce(key: str, value: Any, hint: Any, source: str) -> Any:
    def fail(expected: str) -> ConfigError:
        return ConfigError(f"{source}: config key {key!r} has value {value!r}, expected {expected}")

    if typing.get_origin(hint) is list:
        (item_type,) = typing.get_args(hint)
        if isinstance(value, str):
            stripped = value.strip().strip("[]")
            value_list: list[Any] = [v.strip() for v in stripped.split(",") if v.strip()] if stripped else []
        elif isinstance(value, (list, tuple)):
            value_list = list(value)
        else:
            raise fail(f"a list of {item_type.__name__}")
        try:
            return [coerce_scalar(v, item_type) for v in value_list]
        except (TypeError, ValueError):
            raise fail(f"a list of {item_type.__name__}") from None
    try:
        return coerce_scalar(value, hint)
    except (TypeError, ValueError):
        raise fail(type_name(hint)) from None


def profile_range(text: str) -> tuple[int, int] | None:
    """`profile_steps` as (first, last) step of the epoch; (0, 0) when off; None when malformed."""
    text = text.strip()
    if not text:
        return 0, 0
    first, dash, last = text.partition("-")
    if not first.strip().isdigit() or (dash and not last.strip().isdigit()):
        return None
    start, end = int(first), int(last if dash else first)
    return (start, end) if 1 <= start <= end else None


def _validate(cfg: Config, source: str) -> None:
    def check(ok: bool, key: str, expected: str) -> None:
        if not ok:
            value = getattr(cfg, key)
            raise ConfigError(f"{source}: config key {key!r} has value {value!r}, expected {expected}")

    v = cfg.to_dict()
    for key, hint in _HINTS.items():
        if hint is float or hint == list[float]:
            values = v[key] if isinstance(v[key], list) else [v[key]]
            check(all(math.isfinite(x) for x in values), key, "finite numbers (not nan or inf)")
    check(0 <= v["seed"] <= 2**32 - 1, "seed", "an integer in [0, 4294967295]")
    check(is_wrn_depth(v["depth"]), "depth", f"{DEPTH_RULE} ({VALID_DEPTHS})")
    for key in ("widen_factor", "num_classes", "batch_size", "eval_batch_size", "epochs", "num_workers",
                "log_interval", "eval_interval", "eval_start_epoch"):
        check(v[key] >= 1, key, "an integer >= 1")
    check(v["num_classes"] >= 2, "num_classes", "an integer >= 2")
    check(0.0 <= v["dropout"] < 1.0, "dropout", "a probability in [0, 1)")
    check(0.0 <= v["label_smoothing"] < 1.0, "label_smoothing", "a value in [0, 1)")
    check(v["lr"] > 0, "lr", "a positive number")
    check(0 <= v["min_lr"] <= v["lr"], "min_lr", "a number in [0, lr]")
    check(v["lr_gamma"] > 0, "lr_gamma", "a positive number")
    check(all(0 < m < v["epochs"] for m in v["lr_milestones"]), "lr_milestones",
          f"milestone epochs strictly between 0 and epochs ({v['epochs']})")
    check(v["lr_milestones"] == sorted(set(v["lr_milestones"])), "lr_milestones", "increasing epochs")
    check(0 <= v["warmup_epochs"] < v["epochs"], "warmup_epochs", "an integer in [0, epochs)")
    check(0.0 <= v["momentum"] < 1.0, "momentum", "a value in [0, 1)")
    check(v["weight_decay"] >= 0, "weight_decay", "a number >= 0")
    check(v["loss_scale"] >= 1, "loss_scale", "a number >= 1")
    check(v["accumulation_steps"] >= 1, "accumulation_steps", "an integer >= 1 (micro-batches per optimizer step)")
    check(v["clip_grad_norm"] >= 0, "clip_grad_norm", "a number >= 0 (0: no clipping)")
    check(0 <= v["ema_decay"] < 1, "ema_decay", "a value in [0, 1) (0: no EMA; 0.999 is usual)")
    # The average is kept in float32: a decay that rounds to 1.0 there would never move it off its start.
    check(float(np.float32(v["ema_decay"])) < 1, "ema_decay",
          "a value below 1 in float32 (at most 0.99999994; 0.999 is usual)")
    check(v["checkpoint_interval"] >= 1, "checkpoint_interval", "an integer >= 1 (epochs between periodic checkpoints)")
    check(profile_range(v["profile_steps"]) is not None, "profile_steps",
          "START-END, the steps of the profiled epoch (1 <= START <= END, e.g. 10-20), one step N, or empty (off)")
    check(1 <= v["profile_epoch"] <= v["epochs"], "profile_epoch", f"an epoch in [1, epochs ({v['epochs']})]")
    check(v["keep_checkpoint_max"] >= 0, "keep_checkpoint_max", "an integer >= 0 (0 keeps no periodic checkpoints)")
    check(len(v["mean"]) == 3, "mean", "3 per-channel values (RGB, in [0, 1])")
    check(len(v["std"]) == 3 and all(s > 0 for s in v["std"]), "std", "3 positive per-channel values")
    check(v["crop_padding"] >= 0, "crop_padding", "an integer >= 0")
    check(0 <= v["cutout"] <= 32, "cutout", "a patch length in [0, 32] (0: off; 16 is the usual CIFAR value)")
    for key in ("mixup", "cutmix"):
        check(v[key] >= 0, key, "an alpha >= 0 (0: off; 1.0 is usual)")
    check(0 < v["mix_probability"] <= 1, "mix_probability", "a probability in (0, 1]")
    if v["lr_schedule"] != "multistep" and v["lr_milestones"]:
        check(False, "lr_milestones", "no milestones: they apply to lr_schedule=multistep only")
    for key, choices in _CHOICES.items():
        check(v[key] in choices, key, "one of " + ", ".join(choices))
    check(v["label"] in FORMATS[v["dataset"]].label_kinds, "label", "fine (coarse labels exist in cifar100 only)")
    classes = dataset_classes(v["dataset"], v["label"])
    check(v["num_classes"] <= classes, "num_classes", f"at most {classes} for dataset {v['dataset']} with "
          f"{v['label']} labels ({classes}, or fewer for a subset whose labels are all below num_classes)")
