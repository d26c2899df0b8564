"""python -m wrn.cli package and serve: a ModelArts model package, and the model server's stand-in that runs it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from wrn import signals
from wrn.cli.common import config_from_args, location
from wrn.errors import WrnError


def package_main(argv: Sequence[str] | None = None) -> int:
    """python -m wrn.cli package: a ModelArts model package (OUT/model/) from a checkpoint or an .onnx/.mindir
    export: config.json, customize_service.py, the model and its sidecar, the serving helpers."""
    parser = argparse.ArgumentParser(prog="python -m wrn.cli package", description=package_main.__doc__,
                                     allow_abbrev=False)
    parser.add_argument("--checkpoint", required=True, type=location,
                        help="a checkpoint (exported here), or an .onnx / .mindir export with its .json sidecar")
    parser.add_argument("--train_url", required=True, type=location, help="OUT folder (local or obs://): OUT/model/")
    parser.add_argument("--config", default=None, help="the checkpoint's recipe (default: the config it carries, "
                        "else wrn40_10; unused for an export)")
    parser.add_argument("--target", choices=("cpu", "ascend"), default=None,
                        help="cpu: ONNX through onnxruntime (default for a checkpoint); ascend: MINDIR")
    parser.add_argument("--runtime", default=None, help="config.json runtime (default: the documented inference "
                                                        "image of the target)")
    parser.add_argument("--labels", default=None, help="class names, one per line (default: the data set's)")
    parser.add_argument("--input", choices=("raw", "normalised"), default=None, dest="input_kind",
                        help="the exported model's input, for a checkpoint: raw (default; uint8 pixels, the "
                             "normalisation inside the graph) or normalised (float32 NCHW, normalised by the service)")
    args, rest = parser.parse_known_args(argv)
    from wrn.deploy.package import EXPORT_SUFFIXES, build_package

    is_export = Path(args.checkpoint.rstrip("/")).suffix.lower() in EXPORT_SUFFIXES
    if is_export and rest:
        raise WrnError(f"config overrides {' '.join(rest)} do not apply to an existing export: its sidecar decides")
    if is_export and args.input_kind:
        raise WrnError(f"--input {args.input_kind} does not apply to an existing export: its sidecar decides "
                       "(export with --input, or package the checkpoint)")
    cfg = None if is_export else config_from_args(args.config, rest, checkpoint=args.checkpoint)
    print(json.dumps(build_package(args.checkpoint, args.train_url, cfg=cfg, target=args.target,
                                   runtime=args.runtime, labels=args.labels, input_kind=args.input_kind or "raw"),
                     sort_keys=True))
    return 0


def serve_main(argv: Sequence[str] | None = None) -> int:
    """python -m wrn.cli serve MODEL_DIR: run a model package as ModelArts' model server does (POST / with a
    multipart `images` file -> JSON; GET /health). Needs only the package's dependencies (Python 3.7 too)."""
    parser = argparse.ArgumentParser(prog="python -m wrn.cli serve", description=serve_main.__doc__,
                                     allow_abbrev=False)
    parser.add_argument("model_dir", type=Path, help="the model/ folder `python -m wrn.cli package` wrote")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port (printed)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--max_body_mb", type=float, default=12.0,
                        help="larger request bodies get 413 (ModelArts' API Gateway limit: 12 MB)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    signals.graceful_from_here()  # nothing to lose: Ctrl-C stops the server at once
    from wrn.serving.errors import ServingError
    from wrn.serving.modelserver.server import serve

    try:
        serve(args.model_dir, args.host, args.port, int(args.max_body_mb * 2 ** 20), quiet=not args.verbose)
    except ServingError as exc:
        raise WrnError(str(exc)) from None
    except OSError as exc:
        raise WrnError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    return 0
