"""export.py (local/, modelarts/ and the ModelZoo's top-level one): a checkpoint to MINDIR, ONNX or AIR."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Sequence

from wrn.cli.common import add_input_kind, config_from_args, location
from wrn.errors import WrnError


def _export_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Export a checkpoint to MINDIR, ONNX or AIR.",
                                     allow_abbrev=False)
    parser.add_argument("--config", default=None, help="recipe name or YAML path (default: the config the checkpoint carries, else wrn40_10)")
    parser.add_argument("--checkpoint", required=True, type=location, help="local path or obs:// URL")
    parser.add_argument("--file_format", default="MINDIR", help="MINDIR, ONNX or AIR (Ascend only)")
    parser.add_argument("--batch_size", type=int, default=1)
    parser.add_argument("--train_url", required=True, type=location, help="output folder (local or obs://)")
    add_input_kind(parser, "normalised",
                    "normalised (default): the model takes the recipe-normalised float32 NCHW batch, and an ATC AIPP "
                    "config (<stem>.aipp.cfg) is written beside it; raw: the model takes uint8 NHWC pixels "
                    "[B,32,32,3] as decoded from an image file, normalised inside its graph (file stem ..._raw)")
    _add_quantize(parser)
    return parser


def _add_quantize(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("INT8 model for CPU serving (ONNX only; pip install -e '.[onnx]')")
    group.add_argument("--quantize", choices=("int8",), default=None,
                       help="also write <stem>_int8.onnx: statically quantized by ONNX Runtime, calibrated on "
                            "training images of --data_url, kept only if its top-1 on the eval split is within "
                            "--int8_tolerance points of the FP32 model's (both in its sidecar)")
    group.add_argument("--data_url", type=location, default=None, help="the run's data folder (local or obs://)")
    group.add_argument("--int8_calibration_images", type=int, default=300, help="training images to calibrate on (300)")
    group.add_argument("--int8_tolerance", type=float, default=0.5,
                       help="largest accepted top-1 drop vs FP32, in percentage points (0.5)")
    group.add_argument("--int8_format", choices=("QDQ", "QOperator"), default="QDQ",
                       help="QDQ (default: ONNX Runtime's recommended CPU format) or QOperator")


def _int8_request(args, platform: bool = False):
    """The export's INT8 request, or None. --data_url without --quantize would silently do nothing: refused, except
    on ModelArts, where the platform itself passes --data_url to a job that has a data input (noted, ignored)."""
    from wrn.deploy.quantize import QuantizeOptions, QuantizeRequest

    if args.quantize is None:
        if args.data_url is not None:
            if platform:
                print(f"ignoring --data_url={args.data_url}: read only with --quantize int8", flush=True)
                return None
            raise WrnError("--data_url is read only with --quantize int8 (calibration and the accuracy check)")
        return None
    return QuantizeRequest(args.data_url or "", args.quantize, QuantizeOptions(
        args.int8_calibration_images, args.int8_tolerance, args.int8_format))


def export_main(argv: Sequence[str] | None = None, prog: str = "export.py", platform: bool = False) -> int:
    args, rest = _export_parser(prog).parse_known_args(argv)
    cfg = config_from_args(args.config, rest, platform, checkpoint=args.checkpoint)
    from wrn.deploy.export import export

    print(json.dumps(export(cfg, args.checkpoint, args.file_format, args.batch_size, args.train_url,
                            input_kind=args.input_kind, int8=_int8_request(args, platform)), sort_keys=True))
    return 0


def modelzoo_export_main(argv: Sequence[str] | None = None) -> int:
    """export.py with the ModelZoo WideResNet's arguments: --ckpt_file, --file_format, --file_name (a path without
    the suffix), --device_id; this package's --config and --batch_size too."""
    parser = argparse.ArgumentParser(prog="export.py", description=modelzoo_export_main.__doc__, allow_abbrev=False)
    parser.add_argument("--ckpt_file", required=True, type=location, help="local path or obs:// URL")
    parser.add_argument("--file_format", default="MINDIR", help="MINDIR, ONNX or AIR (Ascend only)")
    parser.add_argument("--file_name", default="wideresnet", type=location, help="output path without the suffix")
    parser.add_argument("--device_id", type=int, default=None, help="the Ascend device to export on")
    parser.add_argument("--config", default=None, help="recipe name or YAML path (default: the config the checkpoint carries, else wrn40_10)")
    parser.add_argument("--batch_size", type=int, default=1)
    add_input_kind(parser, "normalised", "normalised (default) or raw (uint8 NHWC pixels in, normalised in the graph)")
    _add_quantize(parser)
    args, rest = parser.parse_known_args(argv)
    if args.device_id is not None:
        os.environ["DEVICE_ID"] = str(args.device_id)
    cfg = config_from_args(args.config, rest, checkpoint=args.ckpt_file)
    from wrn.deploy.export import export

    target = Path(args.file_name)
    result = export(cfg, args.ckpt_file, args.file_format, args.batch_size, str(target.parent), file_stem=target.name,
                    input_kind=args.input_kind, int8=_int8_request(args))
    print(json.dumps(result, sort_keys=True))
    return 0


def modelarts_export_main(argv: Sequence[str] | None = None) -> int:
    return export_main(argv, prog="modelarts/export.py", platform=True)
