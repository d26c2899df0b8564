"""The MindSpore ModelZoo WideResNet's config keys (its README's list, its config/wideresnet_cifar10_config.yaml,
and the ModelArts console hyperparameters of its train.py), translated to this package's keys, so a ModelZoo
user's YAML file and job work unchanged.

Keys that mean something here are mapped (`epoch_size` -> `epochs`, ...); keys with no meaning here are accepted only
at their neutral value (anything else would be silently ignored, so it is refused with the reason); the console's
switches that this package decides by itself (`enable_modelarts`, `run_distribute`) are accepted and noted.
"""

from __future__ import annotations

from typing import Any

from wrn.errors import ConfigError
from wrn.values import parse_bool

RENAMED = {"epoch_size": "epochs", "lr_init": "lr", "save_checkpoint_epochs": "checkpoint_interval"}
SAME = ("num_classes", "batch_size", "widen_factor", "depth", "weight_decay", "momentum", "loss_scale",
        "keep_checkpoint_max", "warmup_epochs", "device_target")
# key: (neutral values, why another value cannot be honoured)
_TRUE = (True, "True", "true", "1", 1)
_FALSE = (False, "False", "false", "0", 0)
NEUTRAL: dict[str, tuple[tuple[Any, ...], str]] = {
    "repeat_num": ((1, "1"), "the training data is never repeated within an epoch here"),
    "pretrain_epoch_size": ((0, "0"), "resume continues from a checkpoint's own epoch: use --resume=auto"),
    "save_checkpoint": (_TRUE, "ckpt/last.ckpt is always kept: resume needs it"),
    "save_best_ckpt": (_TRUE, "ckpt/best.ckpt is always kept"),
    "enable_cache": (_FALSE, "there is no dataset cache server here"),
    "infer_910": (_FALSE, "evaluate with local/eval.py or scripts/run_eval.sh"),
    "filter_weight": (_FALSE, "fine-tuning with --pretrained re-initialises a classifier of another shape by itself; "
                              "dropping one of the same shape is not offered"),
    "pre_trained": (("",), "give the checkpoint as --pretrained (the console's --pre_trained maps to it)"),
    "eval_data_path": (("",), "give the eval data as the scripts' EVAL_DATASET_PATH or --eval_data_url"),
}
# Switches and paths that this package decides by itself or takes from the command line.
DECIDED_HERE = {
    "enable_modelarts": "storage follows the URLs (obs:// through MoXing inside ModelArts)",
    "modelart": "storage follows the URLs (obs:// through MoXing inside ModelArts)",
    "run_distribute": "the process topology comes from the launch (msrun or a rank table)",
    "device_num": "the process topology comes from the launch (msrun or a rank table)",
    "device_id": "the device comes from the launch (DEVICE_ID)",
    "acc_lower_bound": "every evaluated epoch is compared with the best",
    "cache_session_id": "there is no dataset cache server here",
    "use_summary_collector": "metrics.jsonl and curves.png record the run",
    "collection_freq": "metrics.jsonl and curves.png record the run",
    "summary_dir": "metrics.jsonl and curves.png record the run",
    **{key: "set by the command line (--data_url, --train_url, --checkpoint)" for key in (
        "data_url", "ckpt_url", "data_path", "output_path", "experiment_label", "checkpoint_file_path",
        "save_checkpoint_path", "result_path", "label_path")},
}
LABEL_SMOOTHING = ("use_label_smooth", "label_smooth_factor")
# Keys only the ModelZoo uses; `run_eval` also, with our own eval_start_epoch / eval_interval beside it.
MODELZOO_KEYS = frozenset({*RENAMED, *NEUTRAL, *DECIDED_HERE, *LABEL_SMOOTHING, "run_eval"})
SCHEDULE_NOTE = ("learning rate: this package's lr_schedule/lr_milestones/lr_gamma apply (default: constant lr after "
                 "the warmup); add them to the file to decay it")


# A ModelZoo key and the key of this package that sets the same thing: one source may hold only one of them.
TWINS: tuple[tuple[str, str], ...] = (*RENAMED.items(), ("use_label_smooth", "label_smoothing"),
                                      ("label_smooth_factor", "label_smoothing"))


def is_modelzoo(values: dict[str, Any]) -> bool:
    return bool(MODELZOO_KEYS & set(values))


def check_twins(values: dict[str, Any], source: str) -> None:
    """A file (or a command line) that sets one thing twice, as a ModelZoo key and as this package's, is refused:
    which one was meant cannot be known."""
    for modelzoo_key, native in TWINS:
        if modelzoo_key in values and native in values:
            raise ConfigError(f"{source}: holds both the ModelZoo key {modelzoo_key!r} ({values[modelzoo_key]!r}) "
                              f"and its twin {native!r} ({values[native]!r}), which set the same thing: keep one")


def translate(values: dict[str, Any], source: str, schedule_note: bool = True) -> tuple[dict[str, Any], list[str]]:
    """`values` with ModelZoo keys replaced by this package's (a key and its twin together are refused); the notes
    say what became of each ModelZoo key."""
    check_twins(values, source)
    out, notes = {}, []
    for key, value in values.items():
        if key in RENAMED:
            out[RENAMED[key]] = value
            notes.append(f"{key}->{RENAMED[key]}={value}")
        elif key in NEUTRAL:
            neutral, reason = NEUTRAL[key]
            if value not in neutral:
                raise ConfigError(f"{source}: ModelZoo key {key!r} has value {value!r}, which this package cannot "
                                  f"honour: {reason} (accepted: {neutral[0]!r})")
            notes.append(f"{key}={value} (no effect here)")
        elif key in DECIDED_HERE:
            notes.append(f"{key}={value} (no effect: {DECIDED_HERE[key]})")
        elif key == "run_eval":
            if _flag(values, key, source) is False:
                out["eval_start_epoch"] = NO_EVAL_BEFORE_THE_END
                over = f" (over eval_start_epoch={values['eval_start_epoch']})" if "eval_start_epoch" in values else ""
                notes.append(f"run_eval=False -> evaluate after the last epoch only{over}")
        elif key not in LABEL_SMOOTHING:
            out[key] = value
    if "run_eval" in values and _flag(values, "run_eval", source) is False:
        out["eval_start_epoch"] = NO_EVAL_BEFORE_THE_END  # over the file's own eval_start_epoch
    if set(LABEL_SMOOTHING) & set(values):
        use = _flag(values, "use_label_smooth", source, default=True)
        factor = values.get("label_smooth_factor", 0.1) if use else 0.0
        out["label_smoothing"] = factor
        notes.append(f"use_label_smooth={values.get('use_label_smooth', True)}, label_smooth_factor="
                     f"{values.get('label_smooth_factor', '-')}->label_smoothing={factor}")
    if schedule_note and "lr_schedule" not in values:
        notes.append(SCHEDULE_NOTE)
    return out, notes


# An eval_start_epoch past any run: only the last epoch, which always evaluates, is evaluated.
NO_EVAL_BEFORE_THE_END = 1_000_000


def _flag(values: dict[str, Any], key: str, source: str, default: bool = True) -> bool:
    value = values.get(key, default)
    try:
        return value if isinstance(value, bool) else parse_bool(str(value))
    except ValueError:
        raise ConfigError(f"{source}: ModelZoo key {key!r} has value {value!r}, expected True or False") from None


def merge(values: dict[str, Any], overrides: dict[str, Any], source: str) -> tuple[dict[str, Any], list[str]]:
    """A file's `values` updated by the command line's `overrides`, ModelZoo keys translated in each on its own, so
    a command-line key wins over the file's twin (`--epochs=5` over `epoch_size: 300`) whichever name either uses;
    the notes say what became of each ModelZoo key, and which command-line key won over a mapped one."""
    notes: list[str] = []
    from_modelzoo: set[str] = set()
    if is_modelzoo(values):
        native = set(values)
        values, file_notes = translate(values, source=source)
        from_modelzoo = set(values) - native
        notes += file_notes
    if is_modelzoo(overrides):
        overrides, line_notes = translate(overrides, source="the command line", schedule_note=False)
        notes += line_notes
    notes += [f"{key}={overrides[key]} from the command line over the file's mapped {key}={values[key]}"
              for key in sorted(from_modelzoo & set(overrides)) if values[key] != overrides[key]]
    return {**values, **overrides}, notes
