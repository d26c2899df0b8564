"""The Ascend310 app's steps on any machine (cpp_infer/): preprocess the eval split, run an export over it as the
app does (local/infer.py), score the app's results, write an export's ATC AIPP config, give its scripts the
sidecar's fields."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from wrn.cli.common import add_input_kind, location, recipe_data
from wrn.errors import WrnError


def infer_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infer.py", description="Run an exported .mindir (MindSpore) or .onnx (ONNX "
                                     "Runtime) on CPU over preprocessed .bin files; writes result files as the "
                                     "Ascend310 app does.", allow_abbrev=False)
    parser.add_argument("--model", "--mindir", dest="model", required=True, help="an exported .mindir or .onnx")
    parser.add_argument("--input", required=True, help="folder of .bin files (preprocess output): float32 NCHW, or "
                                                       "uint8 NHWC for a raw export")
    parser.add_argument("--output", required=True, help="folder for result_Files/ and time_Result/")
    args = parser.parse_args(argv)
    from wrn.deploy.infer import run_model

    print(json.dumps(run_model(Path(args.model), Path(args.input), Path(args.output)), sort_keys=True))
    return 0


def preprocess_main(argv: Sequence[str] | None = None) -> int:
    """cpp_infer/preprocess.py: the eval split as the Ascend310 app's input (img_data/*.bin float32 NCHW,
    normalised by the recipe's mean/std; label/*.bin int32)."""
    parser = argparse.ArgumentParser(prog="cpp_infer/preprocess.py", description=preprocess_main.__doc__,
                                     allow_abbrev=False)
    parser.add_argument("--data_url", required=True, type=location)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--config", default="wrn40_10", help="recipe whose mean/std normalise the images")
    parser.add_argument("--sidecar", type=Path, default=None,
                        help="an export's .json sidecar: its normalisation instead of --config's")
    parser.add_argument("--batch_size", type=int, default=1, help="the exported model's batch size")
    add_input_kind(parser, None, "what the model takes when there is no --sidecar (a sidecar decides itself): "
                                  "normalised float32 NCHW (default) or raw uint8 NHWC pixels (export --input raw)")
    args = parser.parse_args(argv)
    from wrn.config import load_config
    from wrn.deploy.infer import InferError, preprocess
    from wrn.serving.sidecar import Sidecar

    sidecar = Sidecar.read(args.sidecar, error=InferError) if args.sidecar else None
    data = sidecar.data() if sidecar else recipe_data(load_config(args.config))
    kind = sidecar.input_kind if sidecar else (args.input_kind or "normalised")
    if args.sidecar and args.input_kind and args.input_kind != kind:
        raise WrnError(f"--input {args.input_kind}: the sidecar {args.sidecar} describes a model that takes {kind} "
                       "input; leave --input out (the sidecar decides)")
    print(json.dumps(preprocess(args.data_url, args.output, batch_size=args.batch_size, input_kind=kind, **data)))
    return 0


def aipp_main(argv: Sequence[str] | None = None) -> int:
    """python -m wrn.cli aipp SIDECAR: the ATC AIPP config (static, RGB888_U8, the recipe's mean/std as min_chn_i
    and var_reci_chn_i) of a float export, from its .json sidecar; written as <stem>.aipp.cfg beside the model."""
    parser = argparse.ArgumentParser(prog="python -m wrn.cli aipp", description=aipp_main.__doc__, allow_abbrev=False)
    parser.add_argument("sidecar", type=Path, help="an export's .json sidecar (MODEL.air.json, MODEL.onnx.json, ...)")
    parser.add_argument("--output", type=Path, default=None, help="where to write it (default <stem>.aipp.cfg)")
    args = parser.parse_args(argv)
    from wrn.deploy.aipp import write_aipp_config

    print(json.dumps({"aipp_config": str(write_aipp_config(args.sidecar, args.output))}))
    return 0


def postprocess_main(argv: Sequence[str] | None = None) -> int:
    """cpp_infer/postprocess.py: top-1/top-5 of the app's result files into acc.log (a missing or wrongly sized
    result file is an error)."""
    parser = argparse.ArgumentParser(prog="cpp_infer/postprocess.py", description=postprocess_main.__doc__,
                                     allow_abbrev=False)
    parser.add_argument("--result_dir", required=True, type=Path)
    parser.add_argument("--label_dir", required=True, type=Path)
    parser.add_argument("--output", default=Path("acc.log"), type=Path)
    parser.add_argument("--num_classes", type=int, default=10)
    args = parser.parse_args(argv)
    from wrn.deploy.infer import postprocess

    print(json.dumps(postprocess(args.result_dir, args.label_dir, args.output, args.num_classes)))
    return 0


def sidecar_main(argv: Sequence[str] | None = None) -> int:
    """python -m wrn.cli sidecar SIDECAR FIELD...: fields of an export's .json sidecar for shell scripts, one value a
    line (a list comma-separated, an absent optional field an empty line); a damaged sidecar is one error line."""
    from wrn.serving.sidecar import Sidecar, field_names

    parser = argparse.ArgumentParser(prog="python -m wrn.cli sidecar", description=sidecar_main.__doc__,
                                     allow_abbrev=False)
    parser.add_argument("sidecar", type=Path, help="an export's .json sidecar (MODEL.mindir.json, ...)")
    parser.add_argument("fields", nargs="+", metavar="FIELD", choices=["batch_size", *field_names()],
                        help="batch_size, or a field of the file: " + ", ".join(field_names()))
    args = parser.parse_args(argv)
    sidecar = Sidecar.read(args.sidecar, error=WrnError)
    print("\n".join(sidecar.text_of(name) for name in args.fields))
    return 0
