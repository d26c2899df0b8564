"""From a service file and a model package to a running real-time service: the plan (what is uploaded, the request
bodies), its dry-run text, its execution (upload, create the model, wait, deploy, wait), and the three in one
(`deploy_from_files`, the submit tool's model and deploy commands)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from wrn.platform.modelarts.api import ModelArtsApi
from wrn.platform.modelarts.definition import CREDENTIAL_ENV, JobError
from wrn.platform.modelarts.inference import Inference, Waiting, model_body, obs_https_location, service_body
from wrn.platform.modelarts.model_package import Package, model_type_and_runtime, open_package, upload_package
from wrn.platform.modelarts.predict import TOKEN_ENV
from wrn.platform.modelarts.service_spec import ServiceSpec, load_service
from wrn.platform.redact import Redactor

MODEL_ID_PLACEHOLDER = "<model_id of the created model>"


@dataclass(frozen=True)
class Plan:
    spec: ServiceSpec
    package: Package | None
    model_id: str  # an existing model to deploy, else ""
    source: str  # the OBS folder holding model/: the model's source
    bodies: dict = field(default_factory=dict)  # "model" and/or "service"


def make_plan(spec: ServiceSpec, package: Package | None, model_id: str, deploy: bool,
              env: Mapping[str, str]) -> Plan:
    """A package already in OBS is the model's source; a local one goes to the service file's model.source."""
    if model_id and package is not None:
        raise JobError("give --package (create a model from it) or --model-id (deploy that model), not both")
    source = package.remote if package is not None and package.remote else spec.model_source
    bodies: dict = {}
    if not model_id:
        model_type, runtime = model_type_and_runtime(package, spec.model_type, spec.runtime, spec.source)
        bodies["model"] = model_body(spec, model_type, runtime, obs_https_location(source, env))
    if deploy:
        bodies["service"] = service_body(spec, model_id or MODEL_ID_PLACEHOLDER)
    return Plan(spec=spec, package=package, model_id=model_id, source=source, bodies=bodies)


def dry_run_text(plan: Plan, env: Mapping[str, str]) -> str:
    """The upload and the bodies as JSON, credentials redacted."""
    shown = dict(plan.bodies)
    if plan.package is not None and not plan.package.remote:
        shown = {"upload": {"from": plan.package.where, "to": plan.source + "model/",
                            "files": list(plan.package.files)}, **shown}
    return Redactor(env.get(name, "") for name in (*CREDENTIAL_ENV, TOKEN_ENV))(json.dumps(shown, indent=2))


def execute(plan: Plan, inference: Inference, waiting: Waiting, say: Callable[[str], None]) -> tuple[str, dict]:
    """Upload and create the model unless the plan deploys an existing one, then (with a service body) deploy it and
    wait until it runs. Returns the model id and the service's details ({} when there is no service)."""
    model_id, created = plan.model_id, ""
    if not model_id:
        if plan.package is None:
            raise JobError("a model needs --package (the folder `python -m wrn.cli package` wrote)"
                           + (" or --model-id" if "service" in plan.bodies else ""))
        if not plan.package.remote:
            count, size = upload_package(plan.package, plan.source)
            say(f"uploaded {count} files ({size / 1e6:.2f} MB) to {plan.source}model/")
        created = model_id = inference.create_model(plan.bodies["model"])
        inference.wait_for_model(model_id, waiting)
    if "service" not in plan.bodies:
        return model_id, {}
    try:
        service_id = inference.create_service(service_body(plan.spec, model_id))
        details = inference.wait_for_service(service_id, waiting)
    except JobError as exc:
        if not created:
            raise
        raise JobError(f"{exc} (model {created} was created and stays: deploy it again with --model-id {created})") \
            from None
    if details.get("status") == "concerning":
        say(f"service {service_id} runs, but ModelArts reports some of its instances unhealthy (concerning)")
    return model_id, details


def deploy_from_files(service_file: str, *, sets: Sequence[str], variables: Mapping[str, str], package: str | None,
                      model_id: str, deploy: bool, dry_run: bool, timeout: float, poll: float, env: Mapping[str, str],
                      say: Callable[[str], None]) -> str:
    """`submit.py model|deploy`: the plan of a service file and a package folder (or an existing `model_id`); its
    dry-run text, or, carried out with waits of `timeout` seconds polled every `poll`, the service's URL (`deploy`)
    or the created model's id."""
    spec = load_service(service_file, list(sets), variables)
    plan = make_plan(spec, open_package(package) if package else None, model_id, deploy=deploy, env=env)
    if dry_run:
        return dry_run_text(plan, env)
    model_id, service = execute(plan, Inference(ModelArtsApi(), say=say), Waiting(timeout, poll), say)
    return service["access_address"] if service else model_id
