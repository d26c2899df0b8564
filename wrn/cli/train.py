"""train.py (local/ and modelarts/): train a WideResNet."""

from __future__ import annotations

import argparse
import json
from typing import Sequence

from wrn.cli.common import config_from_args, location
from wrn.errors import Stopped, WrnError


def _train_parser(prog: str) -> argparse.ArgumentParser:
    from wrn.output.rundir import RunDir

    parser = argparse.ArgumentParser(prog=prog, description="Train a WideResNet; any --key=value overrides the recipe.",
                                     allow_abbrev=False)
    parser.add_argument("--config", default=None, help="recipe name (wrn40_10, wrn28_10, wrn16_4, demo) or YAML path "
                        "(default: the config that --pretrained's or --resume=PATH's checkpoint carries, else wrn40_10)")
    parser.add_argument("--data_url", required=True, type=location, help="CIFAR-10 or CIFAR-100 binary folder")
    parser.add_argument("--train_url", required=True, type=location, help="run directory (created if needed)")
    parser.add_argument("--resume", action="append", default=[],
                        help=f"'auto' (continue train_url's {RunDir.LAST_CKPT} if any) or a checkpoint")
    parser.add_argument("--eval_data_url", type=location, default=None,
                        help="evaluate on this folder's eval file (test_batch.bin, CIFAR-100: test.bin) instead of "
                             "data_url's eval split")
    parser.add_argument("--pretrained", "--pre_trained", dest="pretrained", type=location, default=None,
                        help="start from this checkpoint's weights (fine-tuning: epoch 1, a fresh optimizer; a "
                             "classifier of another shape is left at its initialisation); --pre_trained: ModelZoo name")
    # The ModelZoo WideResNet's console name for the checkpoint to continue from.
    parser.add_argument("--checkpoint_url", dest="resume", action="append", help="ModelZoo name of --resume=PATH")
    return parser


def _one_resume(values: list[str], default: str) -> str:
    distinct = list(dict.fromkeys(values))
    if len(distinct) > 1:
        raise WrnError(f"--resume given with different values ({', '.join(map(repr, distinct))}): give it once")
    return distinct[0] if distinct else default


def train_main(argv: Sequence[str] | None = None, prog: str = "train.py", platform: bool = False) -> int:
    args, rest = _train_parser(prog).parse_known_args(argv)
    # a job the platform restarts continues where it stopped
    resume = _one_resume(args.resume, "auto" if platform else "")
    # A checkpoint to start from describes its own network; fine-tuning may change the classifier (no check).
    source = resume if resume not in ("", "auto") else args.pretrained
    cfg = config_from_args(args.config, rest, platform, checkpoint=source, check_architecture=False)
    from wrn.run.train import train

    try:
        summary = train(cfg, args.data_url, args.train_url, resume=resume, eval_data_url=args.eval_data_url,
                        pretrained=args.pretrained)
    except Stopped as stop:
        from wrn.output.rundir import RunDir

        stop.kept = (f"every completed epoch is in {args.train_url} ({RunDir.LAST_CKPT}); continue with the same "
                     "command and --resume=auto")
        raise
    print(json.dumps(summary, sort_keys=True))
    return 0


def modelarts_train_main(argv: Sequence[str] | None = None) -> int:
    return train_main(argv, prog="modelarts/train.py", platform=True)
