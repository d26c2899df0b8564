"""A ModelArts model and real-time service from a ServiceSpec: the request bodies, their creation, and bounded waits
until the model is published and the service runs.

Pages of the API reference (support.huaweicloud.com/intl/en-us/api-modelarts/): "Creating an AI Application"
(CreateModel.html: POST /v1/{project_id}/models -> {model_id}; its example gives source_location as the OBS folder's
https address, https://<bucket>.obs.<region>.myhuaweicloud.com/<folder>), "Querying AI Application Details"
(GET /v1/{project_id}/models/{model_id}: model_status publishing | published | failed | building |
building_failed), "Deploying Services" (CreateService.html: POST /v1/{project_id}/services -> {service_id}) and
"Querying Service Details" (ShowService.html: GET /v1/{project_id}/services/{service_id}: status running |
deploying | concerning | failed | stopped | finished | stopping | deleting | pending | waiting, error_msg,
progress, access_address), "Updating Service Configurations" (PUT .../services/{service_id} {"status": "stopped"})
and "Deleting a Service" (DELETE .../services/{service_id}).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Mapping
from urllib.parse import urlparse

from wrn.platform.modelarts.service_spec import ServiceSpec
from wrn.platform.modelarts.spec import JobError
from wrn.platform.storage import RemoteUrl

MODELS = "/v1/{project_id}/models"
SERVICES = "/v1/{project_id}/services"
MODEL_READY, MODEL_FAILED = {"published"}, {"failed", "building_failed"}
SERVICE_READY = {"running", "concerning"}  # concerning: running, some instances unhealthy (said in the answer)
SERVICE_FAILED = {"failed", "stopped", "stopping", "deleting", "finished"}
READ_RETRIES = 3  # consecutive failed status reads tolerated while waiting


def obs_https_location(url: str, env: Mapping[str, str]) -> str:
    """obs://bucket/folder/ as the https address the API reference's examples give for source_location."""
    remote = RemoteUrl.parse(url)
    endpoint = env.get("OBS_ENDPOINT") or env.get("S3_ENDPOINT") or ""
    if endpoint:
        parsed = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}")
        base = f"{parsed.scheme}://{remote.bucket}.{parsed.netloc}"
    elif env.get("HUAWEICLOUD_SDK_REGION"):
        base = f"https://{remote.bucket}.obs.{env['HUAWEICLOUD_SDK_REGION']}.myhuaweicloud.com"
    else:
        raise JobError("set OBS_ENDPOINT (e.g. https://obs.cn-north-4.myhuaweicloud.com) or HUAWEICLOUD_SDK_REGION: "
                       "the model's source_location is the OBS folder's https address")
    return f"{base}/{remote.prefix.strip('/')}" if remote.prefix.strip("/") else base


def model_body(spec: ServiceSpec, model_type: str, runtime: str, source_location: str) -> dict:
    """The body of POST /v1/{project_id}/models ("Creating an AI Application")."""
    body = {"model_name": spec.model_name, "model_version": spec.model_version, "source_location": source_location,
            "model_type": model_type}
    if runtime:
        body["runtime"] = runtime
    if spec.model_description:
        body["description"] = spec.model_description
    return body


def service_body(spec: ServiceSpec, model_id: str) -> dict:
    """The body of POST /v1/{project_id}/services ("Deploying Services"): one model taking all traffic."""
    config: dict = {"model_id": model_id, "specification": spec.specification, "instance_count": spec.instance_count,
                    "weight": 100}
    if spec.envs:
        config["envs"] = dict(spec.envs)
    body: dict = {"service_name": spec.service_name, "infer_type": "real-time", "config": [config]}
    if spec.service_description:
        body["description"] = spec.service_description
    if spec.pool_name:
        body["pool_name"] = spec.pool_name
    if spec.auto_stop_hours:
        body["schedule"] = [{"type": "stop", "time_unit": "HOURS", "duration": spec.auto_stop_hours}]
    return body


@dataclass(frozen=True)
class Waiting:
    """How long to wait for a model or a service and how often to ask."""

    timeout: float = 1800.0
    poll: float = 10.0


class Inference:
    """Models and services through a ModelArtsApi (its `call_json`)."""

    def __init__(self, api, say: Callable[[str], None] = lambda line: None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.api, self.say, self.sleep = api, say, sleep

    def create_model(self, body: dict) -> str:
        answer = self.api.call_json(f"creating model {body['model_name']} {body['model_version']}", "POST", MODELS,
                                    body)
        return _id(answer, "model_id", "creating the model")

    def model(self, model_id: str) -> dict:
        return self.api.call_json(f"reading model {model_id}", "GET", f"{MODELS}/{model_id}")

    def create_service(self, body: dict) -> str:
        answer = self.api.call_json(f"deploying service {body['service_name']}", "POST", SERVICES, body)
        return _id(answer, "service_id", "deploying the service")

    def service(self, service_id: str) -> dict:
        return self.api.call_json(f"reading service {service_id}", "GET", f"{SERVICES}/{service_id}")

    def stop_service(self, service_id: str) -> None:
        self.api.call_json(f"stopping service {service_id}", "PUT", f"{SERVICES}/{service_id}", {"status": "stopped"})

    def delete_service(self, service_id: str) -> None:
        self.api.call_json(f"deleting service {service_id}", "DELETE", f"{SERVICES}/{service_id}")

    def wait_for_model(self, model_id: str, waiting: Waiting) -> dict:
        return self._wait(f"model {model_id}", lambda: self.model(model_id), "model_status", MODEL_READY,
                          MODEL_FAILED, waiting)

    def wait_for_service(self, service_id: str, waiting: Waiting) -> dict:
        details = self._wait(f"service {service_id}", lambda: self.service(service_id), "status", SERVICE_READY,
                             SERVICE_FAILED, waiting)
        if not details.get("access_address"):
            raise JobError(f"service {service_id} is {details.get('status')} but its details give no access_address")
        return details

    def _wait(self, what: str, read: Callable[[], dict], key: str, ready: set[str], failed: set[str],
              waiting: Waiting) -> dict:
        deadline = time.monotonic() + waiting.timeout
        last, failures = None, 0
        while True:
            try:
                details = read()
                failures = 0
            except JobError as exc:  # a dropped connection or a 5xx while a deployment goes on is not its failure
                failures += 1
                if failures > READ_RETRIES or time.monotonic() >= deadline:
                    raise
                self.say(f"{what}: {exc}; asking again")
                self.sleep(waiting.poll)
                continue
            status = str(details.get(key) or "unknown")
            if status != last:
                progress = details.get("progress")
                self.say(f"{what}: {status}" + (f" ({progress}%)" if progress not in (None, "") else ""))
                last = status
            if status in ready:
                return details
            if status in failed:
                reason = (details.get("error_msg") or details.get("failed_msg")
                          or "see its events on the ModelArts console")
                raise JobError(f"{what} is {status}: {' '.join(str(reason).split())}")
            if time.monotonic() >= deadline:
                raise JobError(f"{what} is still {status} after {waiting.timeout:g} s: it goes on on ModelArts; "
                               f"wait longer with --timeout, or look at its events on the console")
            self.sleep(max(0.0, min(waiting.poll, deadline - time.monotonic())))


def _id(answer: dict, key: str, what: str) -> str:
    value = answer.get(key)
    if not value:
        raise JobError(f"{what}: the answer has no {key} ({sorted(answer)})")
    return str(value)


def describe_service(details: dict) -> str:
    """One console-style line: id, name, status, address."""
    return "  ".join(str(part) for part in (details.get("service_id", "?"), details.get("service_name", "?"),
                                              details.get("status", "unknown"), details.get("access_address") or "-"))
