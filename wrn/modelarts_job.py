"""ModelArts training jobs: a YAML job definition -> the v2 training-job request, and the API calls around it.

A definition names the job, its code (an OBS folder and a boot file in it), the engine or a custom image, the
flavor and node count, inputs and outputs (OBS URLs), hyperparameters and environment variables. `${VAR}` and
`${VAR:-default}` take values from the environment or `--var`, so no account-specific value is committed; `--set
a.b=value` overrides any field. Hyperparameters are checked against the boot file's arguments and the recipe.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from wrn.config import load_config
from wrn.errors import WrnError
from wrn.storage import RemoteUrl, StorageError, safe_relative

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# ${NAME} or ${NAME:-default}; a default may itself hold ${...}, substituted first (innermost match first).
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^${}]*))?\}")
# Arguments of each boot file that are not config keys (the rest must be config keys of the recipe).
BOOT_FILE_ARGS = {"modelarts/train.py": {"config", "resume"},
                  "modelarts/export.py": {"config", "checkpoint", "file_format", "batch_size"}}
TERMINAL_PHASES = {"Completed", "Failed", "Stopped", "Abnormal", "Terminated"}


class JobError(WrnError):
    """A job definition or a ModelArts API call failed; the message names the field or the API answer."""


@dataclass(frozen=True)
class JobSpec:
    name: str
    description: str
    code_dir: str
    boot_file: str
    flavor_id: str
    node_count: int
    engine_name: str = ""
    engine_version: str = ""
    image_url: str = ""
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    hyperparameters: dict[str, str] = field(default_factory=dict)
    environments: dict[str, str] = field(default_factory=dict)
    source: str = ""


def load_job(path: str | Path, sets: list[str] = (), variables: Mapping[str, str] | None = None) -> JobSpec:
    path = Path(path)
    if not path.is_file():
        raise JobError(f"job definition {path} does not exist")
    values = {**os.environ, **(variables or {})}
    text = _substitute(path.read_text(), values, path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise JobError(f"{path}: not valid YAML ({exc})".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise JobError(f"{path}: expected a mapping of fields")
    for assignment in sets:
        _apply_set(data, assignment, path)
    return validate(data, str(path))


def _substitute(text: str, values: Mapping[str, str], path: Path) -> str:
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        def replace(match: re.Match) -> str:
            name, default = match.group(1), match.group(2)
            if values.get(name):
                return values[name]
            if default is not None:
                return default
            raise JobError(f"{path}:{number}: variable ${{{name}}} is not set: export {name}=... or pass "
                           f"--var {name}=...")
        if not line.lstrip().startswith("#"):
            while _VARIABLE.search(line):
                line = _VARIABLE.sub(replace, line)
        lines.append(line)
    return "\n".join(lines)


def _apply_set(data: dict, assignment: str, path: Path) -> None:
    if "=" not in assignment:
        raise JobError(f"--set {assignment!r}: expected FIELD=VALUE, e.g. node_count=2 or hyperparameters.epochs=10")
    dotted, raw = assignment.split("=", 1)
    keys = dotted.split(".")
    target = data
    for key in keys[:-1]:
        target = target.setdefault(key, {})
        if not isinstance(target, dict):
            raise JobError(f"--set {dotted}: {key!r} is not a mapping in {path}")
    target[keys[-1]] = yaml.safe_load(raw) if raw else ""


def validate(data: dict, source: str) -> JobSpec:
    known = {"name", "description", "code_dir", "boot_file", "engine", "image_url", "flavor_id", "node_count",
             "inputs", "outputs", "hyperparameters", "environments"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise JobError(f"{source}: unknown field {unknown[0]!r}; fields: {', '.join(sorted(known))}")

    def need(key: str) -> Any:
        if data.get(key) in (None, ""):
            raise JobError(f"{source}: field {key!r} is required")
        return data[key]

    name = str(need("name"))
    if not NAME.match(name):
        raise JobError(f"{source}: name {name!r} must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'")
    node_count = need("node_count")
    if isinstance(node_count, bool) or not isinstance(node_count, int) or node_count < 1:
        raise JobError(f"{source}: node_count {node_count!r} must be an integer >= 1")
    code_dir = _obs(need("code_dir"), "code_dir", source).rstrip("/") + "/"
    boot_file = str(need("boot_file"))
    if boot_file.startswith(("obs://", "s3://")):
        if not boot_file.startswith(code_dir):
            raise JobError(f"{source}: boot_file {boot_file} is not inside code_dir {code_dir}")
        boot_file = boot_file[len(code_dir):]
    try:
        safe_relative(boot_file, code_dir)
    except StorageError:
        raise JobError(f"{source}: boot_file {boot_file!r} must be a path inside code_dir {code_dir}") from None
    engine = data.get("engine") or {}
    image_url = str(data.get("image_url") or "")
    if bool(engine) == bool(image_url):
        raise JobError(f"{source}: give exactly one of engine (name + version) or image_url")
    if engine and not (isinstance(engine, dict) and engine.get("name") and engine.get("version")):
        raise JobError(f"{source}: engine needs name (e.g. Ascend-Powered-Engine) and version")
    inputs = {str(k): _obs(v, f"inputs.{k}", source) for k, v in (data.get("inputs") or {}).items()}
    outputs = {str(k): _obs(v, f"outputs.{k}", source) for k, v in (data.get("outputs") or {}).items()}
    hyperparameters = {str(k): _text(v) for k, v in (data.get("hyperparameters") or {}).items()}
    environments = {str(k): _text(v) for k, v in (data.get("environments") or {}).items()}
    for key in environments:
        if any(word in key.upper() for word in ("SECRET", "ACCESS_KEY", "_SK", "_AK", "TOKEN", "PASSWORD")):
            raise JobError(f"{source}: environments.{key}: credentials never live in job files (the platform "
                           "provides them to the job)")
    _check_hyperparameters(boot_file, hyperparameters, set(inputs) | set(outputs), source)
    return JobSpec(name=name, description=str(data.get("description") or ""), code_dir=code_dir,
                   boot_file=boot_file, flavor_id=str(need("flavor_id")), node_count=node_count,
                   engine_name=str(engine.get("name", "")) if engine else "",
                   engine_version=str(engine.get("version", "")) if engine else "", image_url=image_url,
                   inputs=inputs, outputs=outputs, hyperparameters=hyperparameters, environments=environments,
                   source=source)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _obs(value: Any, where: str, source: str) -> str:
    try:
        return str(RemoteUrl.parse(str(value))).rstrip("/") + ("/" if str(value).endswith("/") else "")
    except StorageError as exc:
        raise JobError(f"{source}: {where}: {exc}") from None


def _check_hyperparameters(boot_file: str, hyperparameters: dict[str, str], io_names: set[str], source: str) -> None:
    run_args = BOOT_FILE_ARGS.get(boot_file)
    if run_args is None:
        return  # a user's own boot file: its arguments are its own business
    overrides = {k: v for k, v in hyperparameters.items() if k not in run_args | io_names}
    try:
        load_config(hyperparameters.get("config", "wrn40_10"), overrides)
    except WrnError as exc:
        raise JobError(f"{source}: hyperparameters: {exc}") from None


# ---- the request ---------------------------------------------------------------------------------------------------

def api_path(url: str) -> str:
    """ModelArts names OBS locations as /bucket/key (folders end with '/')."""
    parsed = RemoteUrl.parse(url)
    tail = "/" if url.endswith("/") else ""
    return f"/{parsed.bucket}/{parsed.prefix}{tail}" if parsed.prefix else f"/{parsed.bucket}/"


def request_body(spec: JobSpec) -> dict:
    """The exact body of POST /v2/{project_id}/training-jobs."""
    engine = ({"image_url": spec.image_url} if spec.image_url
              else {"engine_name": spec.engine_name, "engine_version": spec.engine_version})
    algorithm = {
        "code_dir": api_path(spec.code_dir),
        "boot_file": api_path(spec.code_dir + spec.boot_file),
        "engine": engine,
        "parameters": [{"name": k, "value": v} for k, v in spec.hyperparameters.items()],
        "inputs": [{"name": k, "remote": {"obs": {"obs_url": api_path(v)}}} for k, v in spec.inputs.items()],
        "outputs": [{"name": k, "remote": {"obs": {"obs_url": api_path(v)}}} for k, v in spec.outputs.items()],
        "environments": dict(spec.environments),
    }
    return {"kind": "job", "metadata": {"name": spec.name, "description": spec.description},
            "algorithm": algorithm, "spec": {"resource": {"flavor_id": spec.flavor_id, "node_count": spec.node_count}}}


def sdk_job(body: dict):
    """The same body as the SDK's model objects."""
    from huaweicloudsdkmodelarts.v1 import (Input, InputDataInfo, InputDataInfoObs, Job, JobAlgorithm, JobEngine,
                                            JobMetadata, Output, Parameters, Remote, RemoteObs, Spec, SpecResource)

    algorithm = body["algorithm"]
    return Job(
        kind=body["kind"],
        metadata=JobMetadata(**body["metadata"]),
        algorithm=JobAlgorithm(
            code_dir=algorithm["code_dir"], boot_file=algorithm["boot_file"], engine=JobEngine(**algorithm["engine"]),
            parameters=[Parameters(**p) for p in algorithm["parameters"]],
            inputs=[Input(name=i["name"], remote=InputDataInfo(obs=InputDataInfoObs(**i["remote"]["obs"])))
                    for i in algorithm["inputs"]],
            outputs=[Output(name=o["name"], remote=Remote(obs=RemoteObs(**o["remote"]["obs"])))
                     for o in algorithm["outputs"]],
            environments=algorithm["environments"]),
        spec=Spec(resource=SpecResource(**body["spec"]["resource"])))


# ---- the API -------------------------------------------------------------------------------------------------------

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
        self._secrets = [env["HUAWEICLOUD_SDK_AK"], env["HUAWEICLOUD_SDK_SK"]]
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
        for secret in self._secrets:
            message = message.replace(secret, "***")
        raise JobError(" ".join(message.split()))

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

    def follow_logs(self, job_id: str, printer: Callable[[str], None], poll: float = 10.0) -> str:
        """Print new log lines until the job reaches a terminal phase; returns that phase."""
        shown = 0
        while True:
            text = self.logs(job_id)
            if len(text) > shown:
                printer(text[shown:])
                shown = len(text)
            phase = job_phase(self.status(job_id))
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


# ---- code upload ---------------------------------------------------------------------------------------------------

CODE_FOLDERS = ("wrn", "modelarts")
_EXCLUDED_PARTS = {"__pycache__", ".git", ".venv", "venv", "tests", "bench", "runs", "demo", "msrun_log",
                   ".pytest_cache", "kernel_meta", "rank_0"}
_EXCLUDED_SUFFIXES = (".pyc", ".ckpt", ".mindir", ".air", ".onnx", ".log")
MAX_CODE_BYTES = 50 * 1024 * 1024


def code_files(root: Path) -> list[Path]:
    """What the boot files need (the wrn package and modelarts/), without caches, tests or run outputs."""
    files = []
    for folder in CODE_FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            relative = path.relative_to(root)
            if path.is_file() and not set(relative.parts) & _EXCLUDED_PARTS and not path.name.endswith(
                    _EXCLUDED_SUFFIXES):
                files.append(path)
    return files


def upload_code(spec: JobSpec, root: Path) -> tuple[int, int]:
    from wrn.storage import storage_for

    files = code_files(root)
    size = sum(p.stat().st_size for p in files)
    if size > MAX_CODE_BYTES:
        biggest = max(files, key=lambda p: p.stat().st_size)
        raise JobError(f"code folder is {size / 1e6:.1f} MB, above the 50 MB limit (largest: {biggest.relative_to(root)})")
    if not (root / spec.boot_file).is_file():
        raise JobError(f"boot file {spec.boot_file} is not in {root}")
    storage = storage_for(spec.code_dir)
    for path in files:
        storage.upload_file(path, storage.join(spec.code_dir, path.relative_to(root).as_posix()))
    return len(files), size
