"""eval.py (local/ and modelarts/): top-1/top-5 of a checkpoint or an export."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from wrn.cli.common import config_from_args, location, recipe_data


def eval_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eval.py", description="Top-1/top-5 of a checkpoint, or of an exported "
                                     ".mindir/.onnx file, on the eval split.", allow_abbrev=False)
    parser.add_argument("--config", default=None, help="recipe name or YAML path (default: the config the checkpoint carries, else wrn40_10)")
    parser.add_argument("--data_url", required=True, type=location)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--checkpoint", type=location, help="a checkpoint (local or obs://)")
    which.add_argument("--model", type=Path, help="an exported .mindir or .onnx (ONNX Runtime; normalised as its "
                                                  "sidecar says, else as --config; a raw export gets the pixels)")
    parser.add_argument("--output", default="", help="also write the result JSON here")
    args, rest = parser.parse_known_args(argv)
    if args.output:
        from wrn.fileio import check_writable

        check_writable(Path(args.output))  # before anything is read
    cfg = config_from_args(args.config, rest, checkpoint=args.checkpoint)
    if args.model:
        from wrn.deploy.infer import InferError, evaluate_model
        from wrn.serving.sidecar import Sidecar, path_of

        sidecar = path_of(args.model)
        data = Sidecar.read(sidecar, error=InferError).data() if sidecar.is_file() else recipe_data(cfg)
        result = evaluate_model(args.model, args.data_url, output=Path(args.output) if args.output else None, **data)
    else:
        from wrn.run.evaluate import evaluate_checkpoint

        result = evaluate_checkpoint(cfg, args.data_url, args.checkpoint, args.output or None)
    print(json.dumps(result, sort_keys=True))
    return 0


def modelarts_eval_main(argv: Sequence[str] | None = None) -> int:
    """modelarts/eval.py: evaluate --checkpoint on --data_url and write eval.json into --train_url (local or obs://);
    the platform's own arguments are dropped, ModelZoo's --checkpoint_url names the checkpoint too."""
    parser = argparse.ArgumentParser(prog="modelarts/eval.py", description=modelarts_eval_main.__doc__,
                                     allow_abbrev=False)
    parser.add_argument("--config", default=None, help="recipe name or YAML path (default: the config the checkpoint carries, else wrn40_10)")
    parser.add_argument("--data_url", required=True, type=location)
    parser.add_argument("--checkpoint", "--checkpoint_url", dest="checkpoint", required=True, type=location)
    parser.add_argument("--train_url", required=True, type=location, help="folder for eval.json (local or obs://)")
    args, rest = parser.parse_known_args(argv)
    cfg = config_from_args(args.config, rest, platform=True, checkpoint=args.checkpoint)
    from wrn.run.evaluate import evaluate_into

    print(json.dumps(evaluate_into(cfg, args.data_url, args.checkpoint, args.train_url), sort_keys=True))
    return 0
