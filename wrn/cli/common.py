"""What every command shares: the exit-status wrapper, `--key=value` overrides, path arguments, the recipe a
command runs with."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from wrn import signals
from wrn.errors import Stopped, WrnError


def run(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run `main`; a user error becomes one line on stderr and exit status 2 (no traceback). SIGINT and SIGTERM
    (ModelArts stops a job with SIGTERM) end it with 130 / 143 and one line saying what was kept."""
    signals.install()
    try:
        return main(argv)
    except WrnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Stopped as stop:
        print(f"stopped by {stop.signal_name}" + (f": {stop.kept}" if stop.kept else ""), file=sys.stderr)
        return stop.exit_code
    except KeyboardInterrupt:
        print("stopped by SIGINT", file=sys.stderr)
        return 130


def split_overrides(rest: Sequence[str]) -> list[str]:
    """Turn the arguments argparse did not know into `key=value` overrides (`--k=v` or `--k v`)."""
    out, i = [], 0
    while i < len(rest):
        arg = rest[i]
        if not arg.startswith("--"):
            raise WrnError(f"unexpected argument {arg!r}: config overrides take the form --key=value")
        if "=" in arg:
            out.append(arg[2:])
        elif i + 1 < len(rest) and not rest[i + 1].startswith("--"):
            out.append(f"{arg[2:]}={rest[i + 1]}")
            i += 1
        else:
            raise WrnError(f"config override {arg!r} has no value: expected {arg}=VALUE")
        i += 1
    return out


def location(text: str) -> str:
    """A path or obs:// URL argument; an empty one would silently mean the working directory."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty: give a folder, a file or an obs:// URL (an empty path would mean "
                                         "the working directory)")
    return text


def config_from_args(config: str | None, rest: Sequence[str], platform: bool = False,
                     checkpoint: str | None = None, check_architecture: bool = True):
    """The recipe plus `--key=value` overrides; on ModelArts the platform's own arguments are logged and dropped.
    Without `config`, the config `checkpoint` carries (else the default recipe); with both, a config of another
    architecture than the checkpoint's is refused (`check_architecture`)."""
    from wrn.config import parse_overrides
    from wrn.output.ckptconfig import resolve

    overrides = split_overrides(rest)
    if platform:
        overrides, ignored = split_platform_args(overrides)
        if ignored:
            print(f"ignoring platform arguments: {' '.join('--' + a for a in ignored)}", flush=True)
    notes: list[str] = []
    cfg = resolve(config, parse_overrides(overrides), checkpoint, notes, check_architecture)
    if notes:
        print(f"ModelZoo keys mapped: {'; '.join(notes)}", flush=True)
    return cfg


# Arguments ModelArts (or its launchers) may add on their own; they are not config keys.
PLATFORM_ARGS = frozenset({"init_method", "num_gpus", "nproc_per_node", "nnodes", "node_rank", "rank", "world_size",
                           "master_addr", "master_port", "local_rank", "dist_url", "dist_backend"})


def split_platform_args(overrides: list[str]) -> tuple[list[str], list[str]]:
    """Separate the platform's own arguments (ignored) from config overrides (validated as usual)."""
    ignored = [o for o in overrides if o.split("=", 1)[0].replace("-", "_") in PLATFORM_ARGS]
    return [o for o in overrides if o not in ignored], ignored


def add_input_kind(parser: argparse.ArgumentParser, default: str | None, help_text: str) -> None:
    parser.add_argument("--input", dest="input_kind", choices=("normalised", "raw"), default=default, help=help_text)


def recipe_data(cfg) -> dict:
    """What an export's sidecar records about its data, from a recipe instead (for files without a sidecar)."""
    return {"mean": cfg.mean, "std": cfg.std, "dataset": cfg.dataset, "label": cfg.label}
