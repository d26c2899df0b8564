"""modelarts/submit.py: training jobs, models and real-time services on ModelArts, and predictions from a service."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

from wrn import signals
from wrn.cli.common import location
from wrn.errors import WrnError

SERVICE_COMMANDS = ("model", "deploy", "service", "stop-service", "delete-service", "predict")


def submit_main(argv: Sequence[str] | None = None) -> int:
    """modelarts/submit.py: dry-run or create jobs from modelarts/jobs/*.yaml; status, logs, stop, flavors; models and
    real-time services from modelarts/services/*.yaml (model, deploy, service) and predict."""
    signals.graceful_from_here()  # no MindSpore here: Ctrl-C (e.g. during logs --follow) stops it cleanly at once
    from wrn.platform.modelarts.api import ModelArtsApi, describe
    from wrn.platform.modelarts.jobs import submit_job, upload_job_code

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

    if args.command == "upload-code":
        print(upload_job_code(args.job, sets=args.set, variables=_variables(args.var)))
        return 0
    if args.command == "submit":
        print(submit_job(args.job, sets=args.set, variables=_variables(args.var), dry_run=args.dry_run))
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


def _variables(pairs: list[str]) -> dict[str, str]:
    """--var NAME=VALUE arguments as a mapping."""
    malformed = [v for v in pairs if "=" not in v or not v.split("=", 1)[0]]
    if malformed:
        raise WrnError(f"--var {malformed[0]!r}: expected NAME=VALUE")
    return dict(v.split("=", 1) for v in pairs)


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
    from wrn.platform.modelarts.deployment import deploy_from_files
    from wrn.platform.modelarts.inference import Inference, describe_service
    from wrn.platform.modelarts.predict import answer_text, predict

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
    variables = _variables(args.var)
    if not (args.timeout > 0 and args.poll > 0):
        raise WrnError(f"--timeout {args.timeout:g} and --poll {args.poll:g} must be > 0 seconds")
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731 (progress to stderr, the result to stdout)
    print(deploy_from_files(args.service_file, sets=args.set, variables=variables, package=args.package,
                            model_id=getattr(args, "model_id", None) or "", deploy=args.command == "deploy",
                            dry_run=args.dry_run, timeout=args.timeout, poll=args.poll, env=os.environ, say=say))
    return 0
