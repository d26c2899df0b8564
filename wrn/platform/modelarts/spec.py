"""A job definition (modelarts/jobs/*.yaml) -> a checked JobSpec.

A definition names the job, its code (an OBS folder and a boot file in it), the engine or a custom image, the
flavor (or a dedicated pool) and node count, inputs and outputs (OBS URLs), hyperparameters and environment
variables, and optionally the platform's restart policy, a log export folder and an auto-stop time. `${VAR}` and
`${VAR:-default}` take values from the environment or `--var`, so no account-specific value is committed; `--set
a.b=value` overrides any field. Hyperparameters are checked against the boot file's arguments and the recipe.

The restart policy, pool, log export and auto-stop follow the v2 API reference, "Creating a Training Job"
(support.huaweicloud.com/intl/en-us/api-modelarts/CreateTrainingJob.html): JobMetadata.annotations
`fault-tolerance/job-retry-num` (retries upon a fault), `fault-tolerance/job-unconditional-retry` and
`fault-tolerance/hang-retry` ("true"); SpecResource.pool_id; LogExportPath.obs_url ("obs://example/path");
AutoStop {time_unit: HOURS, duration >= 1}. The SDK's JobMetadata docstring lists the same annotation keys. The
SDK's JobAlgorithm.summary (Summary: log_type "tensorboard", log_dir.pfs.pfs_path, an OBS parallel file system
folder) makes the job a data source of TensorBoard visualization jobs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from wrn.config import load_config
from wrn.errors import WrnError
from wrn.platform.modelarts.definition import (CREDENTIAL_ENV, POOL_ID, JobError, as_text, checked_obs_url, flag,
                                               looks_like_credential, read_definition, whole_number)
from wrn.platform.storage import StorageError, safe_relative

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Arguments of each boot file that are not config keys (the rest must be config keys of the recipe).
BOOT_FILE_ARGS = {"modelarts/train.py": {"config", "resume"}, "modelarts/launch.py": {"config", "resume"},
                  "modelarts/eval.py": {"config", "checkpoint"},
                  "modelarts/export.py": {"config", "checkpoint", "file_format", "batch_size"}}


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
    annotations: dict[str, str] = field(default_factory=dict)
    pool_id: str = ""
    log_export: str = ""
    auto_stop_hours: int = 0
    tensorboard_log_dir: str = ""  # algorithm.summary: TensorBoard logs a visualization job can read


def load_job(path: str | Path, sets: list[str] = (), variables: Mapping[str, str] | None = None) -> JobSpec:
    return validate(read_definition(path, sets, variables, "job definition"), str(path))


def validate(data: dict, source: str) -> JobSpec:
    known = {"name", "description", "code_dir", "boot_file", "engine", "image_url", "flavor_id", "node_count",
             "inputs", "outputs", "hyperparameters", "environments", "restart", "annotations", "pool_id",
             "log_export", "auto_stop_hours", "tensorboard_log_dir"}
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
    code_dir = checked_obs_url(need("code_dir"), "code_dir", source).rstrip("/") + "/"
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
    inputs = {str(k): checked_obs_url(v, f"inputs.{k}", source) for k, v in (data.get("inputs") or {}).items()}
    outputs = {str(k): checked_obs_url(v, f"outputs.{k}", source) for k, v in (data.get("outputs") or {}).items()}
    hyperparameters = {str(k): as_text(v) for k, v in (data.get("hyperparameters") or {}).items()}
    environments = {str(k): as_text(v) for k, v in (data.get("environments") or {}).items()}
    annotations = _annotations(data, source)
    pool_id = str(data.get("pool_id") or "")
    if pool_id and not POOL_ID.match(pool_id):
        raise JobError(f"{source}: pool_id {pool_id!r} must be a dedicated pool's id (1-64 characters of A-Z, a-z, "
                       "0-9, '.', '_' and '-'; list pools on the console or with the pools API)")
    log_export = ""
    if data.get("log_export"):
        log_export = checked_obs_url(data["log_export"], "log_export", source).rstrip("/") + "/"
    tensorboard_log_dir = (checked_obs_url(data["tensorboard_log_dir"], "tensorboard_log_dir", source).rstrip("/")
                           + "/") if data.get("tensorboard_log_dir") else ""
    auto_stop_hours = whole_number(data.get("auto_stop_hours"), "auto_stop_hours", source, minimum=1,
                             hint="hours of running after which ModelArts stops the job") or 0
    secrets = {os.environ.get(name, "") for name in CREDENTIAL_ENV} - {""}
    for field_name, values in (("environments", environments), ("hyperparameters", hyperparameters),
                               ("annotations", annotations)):
        for key, value in values.items():
            if looks_like_credential(key) or value in secrets:
                raise JobError(f"{source}: {field_name}.{key}: credentials never live in job files (the platform "
                               "provides them to the job); the value is not shown")
    for input_name, url in inputs.items():
        given = hyperparameters.get(input_name)
        if given is not None and given.rstrip("/") != url.rstrip("/"):
            raise JobError(f"{source}: hyperparameters.{input_name} ({given}) disagrees with inputs.{input_name} "
                           f"({url}): the platform passes the input as --{input_name}; give it once, under inputs")
    _check_hyperparameters(boot_file, hyperparameters, set(inputs) | set(outputs), source)
    flavor_id = str(data.get("flavor_id") or "")
    if not flavor_id and not pool_id:
        raise JobError(f"{source}: field 'flavor_id' is required (or pool_id for a dedicated resource pool; list "
                       "flavors with: python modelarts/submit.py flavors)")
    return JobSpec(name=name, description=str(data.get("description") or ""), code_dir=code_dir,
                   boot_file=boot_file, flavor_id=flavor_id, node_count=node_count,
                   engine_name=str(engine.get("name", "")) if engine else "",
                   engine_version=str(engine.get("version", "")) if engine else "", image_url=image_url,
                   inputs=inputs, outputs=outputs, hyperparameters=hyperparameters, environments=environments,
                   source=source, annotations=annotations, pool_id=pool_id, log_export=log_export,
                   auto_stop_hours=auto_stop_hours, tensorboard_log_dir=tensorboard_log_dir)


# The restart policy's fields -> the v2 annotations ("Creating a Training Job", JobMetadata.annotations).
RETRY_ANNOTATION = "fault-tolerance/job-retry-num"
UNCONDITIONAL_ANNOTATION = "fault-tolerance/job-unconditional-retry"
HANG_ANNOTATION = "fault-tolerance/hang-retry"
# "Unconditional Auto Restart" (develop-modelarts-0041): job-retry-num 1-128, job-unconditional-retry "true" (at most
# three unconditional restarts in a row); "Training Job Restart Upon Suspension" (develop-modelarts-0043):
# job-retry-num with hang-retry "true" (at most three restarts upon suspension in a row).
MAX_RETRIES = 128


def _annotations(data: dict, source: str) -> dict[str, str]:
    """`restart: {on_failure: N, unconditional: bool, on_hang: bool}` plus any raw `annotations:` (string values),
    as metadata.annotations; a key given both ways must agree."""
    raw = data.get("annotations") or {}
    if not isinstance(raw, dict):
        raise JobError(f"{source}: annotations must be a mapping of names to values, e.g. {{tensorboard/enable: "
                       "'true'}}")
    annotations = {str(k): as_text(v) for k, v in raw.items()}
    restart = data.get("restart") or {}
    if not isinstance(restart, dict):
        raise JobError(f"{source}: restart must be a mapping: on_failure (1-{MAX_RETRIES}), unconditional "
                       "(true/false), on_hang (true/false)")
    unknown = sorted(set(restart) - {"on_failure", "unconditional", "on_hang"})
    if unknown:
        raise JobError(f"{source}: restart.{unknown[0]}: unknown; fields: on_failure, unconditional, on_hang")
    policy: dict[str, str] = {}
    retries = whole_number(restart.get("on_failure"), "restart.on_failure", source, minimum=0, maximum=MAX_RETRIES,
                     hint="automatic restarts after a failure")
    if retries:
        policy[RETRY_ANNOTATION] = str(retries)
    for key, annotation in (("unconditional", UNCONDITIONAL_ANNOTATION), ("on_hang", HANG_ANNOTATION)):
        if flag(restart.get(key), f"restart.{key}", source):
            policy[annotation] = "true"
    for key, annotation in (("unconditional", UNCONDITIONAL_ANNOTATION), ("on_hang", HANG_ANNOTATION)):
        if policy.get(annotation) and not retries:  # both pages set it together with job-retry-num
            raise JobError(f"{source}: restart.{key} needs restart.on_failure (how many restarts, 1-{MAX_RETRIES})")
    for key, value in policy.items():
        if key in annotations and annotations[key] != value:
            raise JobError(f"{source}: annotations.{key} ({annotations[key]}) disagrees with restart ({value}): "
                           "give it once")
    return {**annotations, **policy}


def _check_hyperparameters(boot_file: str, hyperparameters: dict[str, str], io_names: set[str], source: str) -> None:
    run_args = BOOT_FILE_ARGS.get(boot_file)
    if run_args is None:
        return  # a user's own boot file: its arguments are its own business
    overrides = {k: v for k, v in hyperparameters.items() if k not in run_args | io_names}
    try:
        load_config(hyperparameters.get("config", "wrn40_10"), overrides)
    except WrnError as exc:
        raise JobError(f"{source}: hyperparameters: {exc}") from None
