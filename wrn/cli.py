"""Command-line front ends shared by local/ and modelarts/: parse, call one wrn function, exit with its status."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

# MindSpore's C++ logger prints every WARNING to stderr; keep errors only unless the user asked for more.
os.environ.setdefault("GLOG_v", "3")

from wrn import signals  # noqa: E402
from wrn.errors import Stopped, WrnError  # noqa: E402


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


def _train_parser(prog: str) -> argparse.ArgumentParser:
    from wrn.output.rundir import RunDir

    parser = argparse.ArgumentParser(prog=prog, description="Train a WideResNet; any --key=value overrides the recipe.",
                                     allow_abbrev=False)
    parser.add_argument("--config", default=None, help="recipe name (wrn40_10, wrn28_10, wrn16_4, demo) or YAML path "
                        "(default: the config that --pretrained's or --resume=PATH's checkpoint carries, else wrn40_10)")
    parser.add_argument("--data_url", required=True, type=location, help="CIFAR-10 binary folder")
    parser.add_argument("--train_url", required=True, type=location, help="run directory (created if needed)")
    parser.add_argument("--resume", action="append", default=[],
                        help=f"'auto' (continue train_url's {RunDir.LAST_CKPT} if any) or a checkpoint")
    parser.add_argument("--eval_data_url", type=location, default=None,
                        help="evaluate on this folder's test_batch.bin instead of data_url's eval split")
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


def _load_config(config: str | None, rest: Sequence[str], platform: bool = False, checkpoint: str | None = None,
                 check_architecture: bool = True):
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


def train_main(argv: Sequence[str] | None = None, prog: str = "train.py", platform: bool = False) -> int:
    args, rest = _train_parser(prog).parse_known_args(argv)
    # a job the platform restarts continues where it stopped
    resume = _one_resume(args.resume, "auto" if platform else "")
    # A checkpoint to start from describes its own network; fine-tuning may change the classifier (no check).
    source = resume if resume not in ("", "auto") else args.pretrained
    cfg = _load_config(args.config, rest, platform, checkpoint=source, check_architecture=False)
    from wrn.output.rundir import RunDir
    from wrn.run.train import train

    try:
        summary = train(cfg, args.data_url, args.train_url, resume=resume, eval_data_url=args.eval_data_url,
                        pretrained=args.pretrained)
    except Stopped as stop:
        stop.kept = (f"every completed epoch is in {args.train_url} ({RunDir.LAST_CKPT}); continue with the same command "
                     "and --resume=auto")
        raise
    print(json.dumps(summary, sort_keys=True))
    return 0


# Arguments ModelArts (or its launchers) may add on their own; they are not config keys.
PLATFORM_ARGS = frozenset({"init_method", "num_gpus", "nproc_per_node", "nnodes", "node_rank", "rank", "world_size",
                           "master_addr", "master_port", "local_rank", "dist_url", "dist_backend"})


def split_platform_args(overrides: list[str]) -> tuple[list[str], list[str]]:
    """Separate the platform's own arguments (ignored) from config overrides (validated as usual)."""
    ignored = [o for o in overrides if o.split("=", 1)[0].replace("-", "_") in PLATFORM_ARGS]
    return [o for o in overrides if o not in ignored], ignored


def modelarts_train_main(argv: Sequence[str] | None = None) -> int:
    return train_main(argv, prog="modelarts/train.py", platform=True)


def launch_main(argv: Sequence[str] | None = None, platform: bool = False) -> int:
    """One node of an msrun launch: `N [--dry-run] [train arguments]` offline (node variables NODES, NODE_RANK,
    MASTER_ADDR, MASTER_PORT), `[--dry-run] [train arguments]` on ModelArts (the platform's node variables)."""
    from wrn.platform import launch

    argv = list(sys.argv[1:] if argv is None else argv)
    dry_run = "--dry-run" in argv
    argv = [a for a in argv if a != "--dry-run"]
    root = Path(__file__).resolve().parents[1]
    workers = None
    if not platform:
        if not argv or not argv[0].isdigit() or int(argv[0]) < 1:
            raise WrnError(f"expected the number of workers on this node first (an integer >= 1), got "
                           f"{argv[0] if argv else 'nothing'!r}: N [--config=NAME --data_url=... --train_url=...]")
        workers, argv = int(argv[0]), argv[1:]
    elif launch.per_card_duplicate(os.environ):
        # ModelArts' default (rank table) start runs the boot file once per card: card 0 launches the node.
        print("msrun launch: this node's launch runs on card 0; nothing to do on this card", flush=True)
        return 0
    plan = launch.plan_from_env(os.environ, workers)
    script = root / ("modelarts" if platform else "local") / "train.py"
    if dry_run:
        print(launch.plan_text(plan, script, argv))
        return 0
    return launch.run_node(plan, script, argv)


def local_launch_main(argv: Sequence[str] | None = None) -> int:
    return launch_main(argv)


def modelarts_launch_main(argv: Sequence[str] | None = None) -> int:
    return launch_main(argv, platform=True)


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
    cfg = _load_config(args.config, rest, checkpoint=args.checkpoint)
    if args.model:
        from wrn.deploy.infer import data_of, evaluate_model
        from wrn.deploy.runners import sidecar_of

        sidecar = sidecar_of(args.model)
        data = data_of(sidecar) if sidecar.is_file() else _data_of(cfg)
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
    cfg = _load_config(args.config, rest, platform=True, checkpoint=args.checkpoint)
    from wrn.run.evaluate import evaluate_into

    print(json.dumps(evaluate_into(cfg, args.data_url, args.checkpoint, args.train_url), sort_keys=True))
    return 0


def _export_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Export a checkpoint to MINDIR, ONNX or AIR.",
                                     allow_abbrev=False)
    parser.add_argument("--config", default=None, help="recipe name or YAML path (default: the config the checkpoint carries, else wrn40_10)")
    parser.add_argument("--checkpoint", required=True, type=location, help="local path or obs:// URL")
    parser.add_argument("--file_format", default="MINDIR", help="MINDIR, ONNX or AIR (Ascend only)")
    parser.add_argument("--batch_size", type=int, default=1)
    parser.add_argument("--train_url", required=True, type=location, help="output folder (local or obs://)")
    _add_input_kind(parser, "normalised",
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


def _add_input_kind(parser: argparse.ArgumentParser, default: str | None, help_text: str) -> None:
    parser.add_argument("--input", dest="input_kind", choices=("normalised", "raw"), default=default, help=help_text)


def export_main(argv: Sequence[str] | None = None, prog: str = "export.py", platform: bool = False) -> int:
    args, rest = _export_parser(prog).parse_known_args(argv)
    cfg = _load_config(args.config, rest, platform, checkpoint=args.checkpoint)
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
    _add_input_kind(parser, "normalised", "normalised (default) or raw (uint8 NHWC pixels in, normalised in the graph)")
    _add_quantize(parser)
    args, rest = parser.parse_known_args(argv)
    if args.device_id is not None:
        os.environ["DEVICE_ID"] = str(args.device_id)
    cfg = _load_config(args.config, rest, checkpoint=args.ckpt_file)
    from wrn.deploy.export import export

    target = Path(args.file_name)
    result = export(cfg, args.ckpt_file, args.file_format, args.batch_size, str(target.parent), file_stem=target.name,
                    input_kind=args.input_kind, int8=_int8_request(args))
    print(json.dumps(result, sort_keys=True))
    return 0


def modelarts_export_main(argv: Sequence[str] | None = None) -> int:
    return export_main(argv, prog="modelarts/export.py", platform=True)


def _data_of(cfg) -> dict:
    """What an export's sidecar records about its data, from a recipe instead (for files without a sidecar)."""
    return {"mean": cfg.mean, "std": cfg.std, "dataset": cfg.dataset, "label": cfg.label}


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
    _add_input_kind(parser, None, "what the model takes when there is no --sidecar (a sidecar decides itself): "
                                  "normalised float32 NCHW (default) or raw uint8 NHWC pixels (export --input raw)")
    args = parser.parse_args(argv)
    from wrn.config import load_config
    from wrn.deploy.infer import data_of, input_kind_of, preprocess

    data = data_of(args.sidecar) if args.sidecar else _data_of(load_config(args.config))
    kind = input_kind_of(args.sidecar) if args.sidecar else (args.input_kind or "normalised")
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


def demo_main(argv: Sequence[str] | None = None) -> int:
    """Make the digits data set (once), train the demo recipe, evaluate its best checkpoint, report."""
    parser = argparse.ArgumentParser(prog="python -m wrn.cli demo", allow_abbrev=False)
    parser.add_argument("--workdir", type=Path, default=Path("demo"))
    args, rest = parser.parse_known_args(argv)
    from wrn.cifar import make_demo
    from wrn.run.evaluate import evaluate_checkpoint
    from wrn.run.train import train

    started = time.perf_counter()
    cfg = _load_config("demo", rest)
    data_dir = args.workdir / "data"
    if not (data_dir / "eval").exists():
        make_demo(data_dir)  # train() checks the layout and every file
    run_dir = args.workdir / "runs" / time.strftime("%Y%m%d-%H%M%S")
    summary = train(cfg, data_dir, run_dir)
    result = evaluate_checkpoint(cfg, str(data_dir), summary["best_checkpoint"])
    print(f"run directory: {summary['run_dir']}")
    print(f"curves:        {Path(summary['run_dir']) / 'curves.png'}")
    print(f"best checkpoint top-1 on {result['images']} eval images: {result['top1']:.4f}")
    print(json.dumps({"top1": result["top1"], "images": result["images"],
                      "seconds": round(time.perf_counter() - started, 1), "run_dir": summary["run_dir"]}))
    return 0


def data_main(argv: Sequence[str] | None = None) -> int:
    """python -m wrn.cli data download|make-demo|check DIR: get, make or check a CIFAR-10 binary folder."""
    from wrn.cifar import FORMATS, check_file, download, find_layout, make_demo

    parser = argparse.ArgumentParser(prog="python -m wrn.cli data", description=data_main.__doc__, allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True)
    get = sub.add_parser("download", help="fetch the official binary archive into DIR/train + DIR/eval (MD5-checked)")
    get.add_argument("--url", default=None, help="a mirror of the official archive")
    get.add_argument("--md5", default=None, help="the archive's MD5 (default: the official one)")
    demo = sub.add_parser("make-demo", help="write the scikit-learn digits as a set in the dataset's format into DIR")
    check = sub.add_parser("check", help="check the layout and every file of a data folder")
    for command in (get, demo, check):
        command.add_argument("dir", type=Path)
        command.add_argument("--dataset", default="cifar10", choices=sorted(FORMATS))
    check.add_argument("--label", default="fine", choices=("fine", "coarse"))
    args = parser.parse_args(argv)
    if args.command == "download":
        layout = download(args.dir, args.url, args.md5, dataset=args.dataset)
    elif args.command == "make-demo":
        layout = make_demo(args.dir, dataset=args.dataset)
    else:
        layout = find_layout(args.dir, args.dataset, args.label)
    train_count = sum(check_file(p, layout.format) for p in layout.train_files)
    print(f"{layout.root}: {layout.format.name} {layout.style} layout, {train_count} training and "
          f"{check_file(layout.eval_file, layout.format)} eval images")
    return 0


def submit_main(argv: Sequence[str] | None = None) -> int:
    """modelarts/submit.py: dry-run or create jobs from modelarts/jobs/*.yaml; status, logs, stop, flavors; models and
    real-time services from modelarts/services/*.yaml (model, deploy, service) and predict."""
    signals.graceful_from_here()  # no MindSpore here: Ctrl-C (e.g. during logs --follow) stops it cleanly at once
    from wrn.platform.modelarts.api import ModelArtsApi, describe
    from wrn.platform.modelarts.request import request_body
    from wrn.platform.modelarts.spec import load_job
    from wrn.platform.modelarts.upload import upload_code

    parser = argparse.ArgumentParser(prog="modelarts/submit.py", description=submit_main.__doc__, allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (("submit", "create a training job (or print its request with --dry-run)"),
                           ("upload-code", "upload wrn/ and modelarts/ to the job's code_dir")):
        command = sub.add_parser(name, help=helptext)
        command.add_argument("job", help="job definition, e.g. modelarts/jobs/wrn40_10_8p.yaml")
        command.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                             help="override a field: node_count=2, hyperparameters.epochs=10, inputs.data_url=obs://..")
        command.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                             help="value of a ${NAME} variable (else taken from the environment)")
        if name == "submit":
            command.add_argument("--dry-run", action="store_true", help="print the request body; no network")
    for name in ("status", "stop"):
        sub.add_parser(name).add_argument("job_id")
    logs = sub.add_parser("logs")
    logs.add_argument("job_id")
    logs.add_argument("--follow", action="store_true", help="poll until the job ends")
    logs.add_argument("--task", default="worker-0")
    logs.add_argument("--poll", type=float, default=10.0, help="seconds between reads with --follow (10)")
    sub.add_parser("flavors").add_argument("--type", dest="flavor_type", default=None, help="e.g. Ascend, GPU, CPU")
    _add_service_commands(sub)
    args = parser.parse_args(argv)
    if args.command in SERVICE_COMMANDS:
        return _service_command(args)

    if args.command in ("submit", "upload-code"):
        malformed = [v for v in args.var if "=" not in v or not v.split("=", 1)[0]]
        if malformed:
            raise WrnError(f"--var {malformed[0]!r}: expected NAME=VALUE")
        variables = dict(v.split("=", 1) for v in args.var)
        spec = load_job(args.job, args.set, variables)
        if args.command == "upload-code":
            count, size = upload_code(spec, Path(__file__).resolve().parents[1])
            print(f"uploaded {count} files ({size / 1e6:.2f} MB) to {spec.code_dir}")
            return 0
        body = request_body(spec)
        if args.dry_run:
            print(json.dumps(body, indent=2))
            return 0
        print(describe(ModelArtsApi().create(body)))
        return 0
    client = ModelArtsApi()
    if args.command == "status":
        print(describe(client.status(args.job_id)))
    elif args.command == "stop":
        client.stop(args.job_id)
        print(describe(client.status(args.job_id)))
    elif args.command == "logs":
        if args.follow:
            phase = client.follow_logs(args.job_id, lambda text: print(text, end="", flush=True),
                                       poll=args.poll, warn=lambda line: print(line, file=sys.stderr, flush=True))
            print(f"\njob {args.job_id} ended: {phase}")
            return 0 if phase == "Completed" else 1
        print(client.logs(args.job_id, args.task), end="")
    else:
        for flavor in client.flavors(args.flavor_type):
            print(json.dumps(flavor, sort_keys=True))
    return 0


SERVICE_COMMANDS = ("model", "deploy", "service", "stop-service", "delete-service", "predict")


def _add_service_commands(sub) -> None:
    """modelarts/submit.py's model and service commands (README, "Deploy on ModelArts")."""
    for name, helptext in (("model", "upload a model package to OBS and create a ModelArts model from it"),
                           ("deploy", "create the model (or take --model-id) and deploy it as a real-time service; "
                                      "print its URL")):
        command = sub.add_parser(name, help=helptext)
        command.add_argument("service_file", help="service definition, e.g. modelarts/services/wrn_cifar10_cpu.yaml")
        command.add_argument("--package", type=location, default=None,
                             help="the model package folder `python -m wrn.cli package` wrote (OUT or OUT/model)")
        if name == "deploy":
            command.add_argument("--model-id", default=None, help="deploy this existing model instead")
        command.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                             help="override a field: service.instance_count=2, model.version=1.0.1")
        command.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                             help="value of a ${NAME} variable (else taken from the environment)")
        command.add_argument("--dry-run", action="store_true", help="print the request bodies; no upload, no network")
        command.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for each step (1800)")
        command.add_argument("--poll", type=float, default=10.0, help="seconds between status reads (10)")
    sub.add_parser("service", help="one line: id, name, status, URL").add_argument("service_id")
    sub.add_parser("stop-service", help="stop a running service (status stopped)").add_argument("service_id")
    sub.add_parser("delete-service", help="delete a service (its model stays)").add_argument("service_id")
    predict = sub.add_parser("predict", help="send an image file to a service URL and print the answer")
    predict.add_argument("url", help="the service's URL (deploy prints it)")
    predict.add_argument("image", type=location, help="an image file (PNG, JPEG, ...)")
    predict.add_argument("--no-auth", action="store_true", help="send no credentials (a local `wrn.cli serve`)")


def _service_command(args) -> int:
    from wrn.platform.modelarts.api import ModelArtsApi
    from wrn.platform.modelarts.deployment import dry_run_text, execute, make_plan
    from wrn.platform.modelarts.inference import Inference, Waiting, describe_service
    from wrn.platform.modelarts.model_package import open_package
    from wrn.platform.modelarts.predict import answer_text, predict
    from wrn.platform.modelarts.service_spec import load_service

    if args.command == "predict":
        print(answer_text(*predict(args.url, args.image, auth=not args.no_auth), args.url))
        return 0
    if args.command in ("service", "stop-service", "delete-service"):
        inference = Inference(ModelArtsApi())
        if args.command == "delete-service":
            inference.delete_service(args.service_id)
            print(f"service {args.service_id} deleted")
            return 0
        if args.command == "stop-service":
            inference.stop_service(args.service_id)
        print(describe_service(inference.service(args.service_id)))
        return 0
    malformed = [v for v in args.var if "=" not in v or not v.split("=", 1)[0]]
    if malformed:
        raise WrnError(f"--var {malformed[0]!r}: expected NAME=VALUE")
    if not (args.timeout > 0 and args.poll > 0):
        raise WrnError(f"--timeout {args.timeout:g} and --poll {args.poll:g} must be > 0 seconds")
    spec = load_service(args.service_file, args.set, dict(v.split("=", 1) for v in args.var))
    package = open_package(args.package) if args.package else None
    plan = make_plan(spec, package, getattr(args, "model_id", None) or "", deploy=args.command == "deploy",
                     env=os.environ)
    if args.dry_run:
        print(dry_run_text(plan, os.environ))
        return 0
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731 (progress to stderr, the result to stdout)
    model_id, service = execute(plan, Inference(ModelArtsApi(), say=say), Waiting(args.timeout, args.poll), say)
    print(service["access_address"] if service else model_id)
    return 0


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
    cfg = None if is_export else _load_config(args.config, rest, checkpoint=args.checkpoint)
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


COMMANDS = {"train": train_main, "eval": eval_main, "demo": demo_main, "data": data_main, "submit": submit_main,
            "export": export_main, "infer": infer_main, "preprocess": preprocess_main, "postprocess": postprocess_main,
            "aipp": aipp_main, "package": package_main, "serve": serve_main}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: python -m wrn.cli {{{','.join(COMMANDS)}}} [ARGS...]", file=sys.stderr)
        sys.exit(2)
    sys.exit(run(COMMANDS[sys.argv[1]], sys.argv[2:]))
