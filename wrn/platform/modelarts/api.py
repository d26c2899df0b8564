"""The ModelArts API through its SDK: training jobs (create, status, logs and following them, stop, flavors) with the
SDK's request classes; the v1 model and service calls, which the SDK has no request classes for, through the SDK's
own signing and HTTP client (`call_json`)."""

from __future__ import annotations

import json
import os
import time
from typing import Any, Callable, Mapping

from wrn.platform.modelarts.request import sdk_job
from wrn.platform.modelarts.spec import JobError
from wrn.platform.redact import Redactor

TERMINAL_PHASES = {"Completed", "Failed", "Stopped", "Abnormal", "Terminated"}


class ModelArtsApi:
    """ModelArts through its SDK; credentials and project from HUAWEICLOUD_SDK_AK / _SK / _PROJECT_ID and the
    region from HUAWEICLOUD_SDK_REGION (or an endpoint from MODELARTS_ENDPOINT)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        missing = [v for v in ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_PROJECT_ID") if not env.get(v)]
        if missing:
            raise JobError(f"ModelArts credentials missing: set {', '.join(missing)}")
        endpoint = env.get("MODELARTS_ENDPOINT", "")
        region = env.get("HUAWEICLOUD_SDK_REGION", "")
        if not endpoint and not region:
            raise JobError("set HUAWEICLOUD_SDK_REGION (e.g. cn-north-4) or MODELARTS_ENDPOINT")
        from huaweicloudsdkcore.auth.credentials import BasicCredentials
        from huaweicloudsdkcore.http.http_config import HttpConfig
        from huaweicloudsdkmodelarts.v1 import ModelArtsClient

        config = HttpConfig.get_default_config()
        config.retry_times = 0
        builder = ModelArtsClient.new_builder().with_http_config(config).with_credentials(
            BasicCredentials(env["HUAWEICLOUD_SDK_AK"], env["HUAWEICLOUD_SDK_SK"], env["HUAWEICLOUD_SDK_PROJECT_ID"]))
        if endpoint:
            builder = builder.with_endpoints([endpoint])
        else:
            from huaweicloudsdkmodelarts.v1.region.modelarts_region import ModelArtsRegion

            try:
                builder = builder.with_region(ModelArtsRegion.value_of(region))
            except (KeyError, ValueError) as exc:
                raise JobError(f"HUAWEICLOUD_SDK_REGION={region!r}: {exc}") from None
        self._redact = Redactor([env["HUAWEICLOUD_SDK_AK"], env["HUAWEICLOUD_SDK_SK"]])
        self.client = builder.build()

    def _call(self, what: str, action: Callable[[], Any]) -> Any:
        from huaweicloudsdkcore.exceptions.exceptions import SdkException, ServiceResponseException

        try:
            return action()
        except ServiceResponseException as exc:
            message = (f"{what}: HTTP {exc.status_code} {exc.error_code or ''} {exc.error_msg or ''} "
                       f"(request id {exc.request_id or '-'})")
        except SdkException as exc:
            message = f"{what}: {type(exc).__name__}: {getattr(exc, 'error_msg', '') or exc}"
        raise JobError(" ".join(self._redact(message).split()))

    def call_json(self, what: str, method: str, path: str, body: dict | None = None) -> dict:
        """`method path` (e.g. POST /v1/{project_id}/models) signed and sent as the SDK sends its own requests; the
        JSON answer, or one line naming the HTTP status and the API's error code and message."""
        def send():
            request = self.client.build_future_request(
                method=method, resource_path=path, path_params=None, query_params=None,
                header_params={"Content-Type": "application/json"}, request_body=body, post_params=None, cname=None,
                response_type=None, collection_formats=None, progress_callback=None).result()
            return self.client.get_http_client().do_request_sync(request)

        response = self._call(what, send)
        try:
            answer = json.loads(response.text or "{}")
        except ValueError:
            raise JobError(f"{what}: HTTP {response.status_code} answered something other than JSON: "
                           f"{self._redact(response.text[:200])!r}") from None
        if not isinstance(answer, dict):
            raise JobError(f"{what}: expected a JSON object, got {type(answer).__name__}")
        return answer

    def create(self, body: dict) -> dict:
        from huaweicloudsdkmodelarts.v1 import CreateTrainingJobRequest

        response = self._call("creating the training job",
                              lambda: self.client.create_training_job(CreateTrainingJobRequest(body=sdk_job(body))))
        return response.to_dict()

    def status(self, job_id: str) -> dict:
        from huaweicloudsdkmodelarts.v1 import ShowTrainingJobDetailsRequest

        return self._call(f"reading job {job_id}", lambda: self.client.show_training_job_details(
            ShowTrainingJobDetailsRequest(training_job_id=job_id))).to_dict()

    def logs(self, job_id: str, task_id: str = "worker-0") -> str:
        from huaweicloudsdkmodelarts.v1 import ShowTrainingJobLogsPreviewRequest

        response = self._call(f"reading the log of job {job_id}", lambda: self.client.show_training_job_logs_preview(
            ShowTrainingJobLogsPreviewRequest(training_job_id=job_id, task_id=task_id)))
        return getattr(response, "content", "") or ""

    def stop(self, job_id: str) -> dict:
        from huaweicloudsdkmodelarts.v1 import JobActionType, StopTrainingJobRequest

        return self._call(f"stopping job {job_id}", lambda: self.client.stop_training_job(
            StopTrainingJobRequest(training_job_id=job_id, body=JobActionType(action_type="terminate")))).to_dict()

    def flavors(self, flavor_type: str | None = None) -> list[dict]:
        from huaweicloudsdkmodelarts.v1 import ShowTrainingJobFlavorsRequest

        response = self._call("listing training flavors", lambda: self.client.show_training_job_flavors(
            ShowTrainingJobFlavorsRequest(flavor_type=flavor_type)))
        return [f.to_dict() if hasattr(f, "to_dict") else f for f in (getattr(response, "flavors", None) or [])]

    def follow_logs(self, job_id: str, printer: Callable[[str], None], poll: float = 10.0,
                    warn: Callable[[str], None] = lambda line: None) -> str:
        """Print new log lines until the job reaches a terminal phase; returns that phase. Up to three failed reads
        in a row (a 5xx, a dropped connection) are asked again: a job runs for hours."""
        shown, failures = 0, 0
        while True:
            try:
                text = self.logs(job_id)
                phase = job_phase(self.status(job_id))
                failures = 0
            except JobError as exc:
                failures += 1
                if failures > 3:
                    raise
                warn(f"{exc}; asking again")
                time.sleep(poll)
                continue
            if len(text) > shown:
                printer(text[shown:])
                shown = len(text)
            if phase in TERMINAL_PHASES:
                return phase
            time.sleep(poll)


def job_phase(details: dict) -> str:
    return ((details.get("status") or {}).get("phase")) or "Unknown"


def describe(details: dict) -> str:
    """One console-style line: id, name, phase, duration."""
    metadata, status = details.get("metadata") or {}, details.get("status") or {}
    duration = status.get("duration")
    return (f"{metadata.get('id', '?')}  {metadata.get('name', '?')}  {status.get('phase', 'Unknown')}"
            f"{'/' + status['secondary_phase'] if status.get('secondary_phase') else ''}"
            f"{f'  {int(duration) // 1000} s' if duration else ''}")
