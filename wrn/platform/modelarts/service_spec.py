"""A service definition (modelarts/services/*.yaml) -> a checked ServiceSpec: the model (an OBS folder holding a
model package's `model/`) and the real-time service that runs it.

The same variable rules as job files (`${VAR}`, `${VAR:-default}`, `--var`, `--set a.b=value`; credentials refused
without echoing them). Field rules come from the API reference: "Creating an AI Application" (POST
/v1/{project_id}/models: model_name 1-64 characters, model_version "Digit.Digit.Digit" of one- or two-digit numbers
not starting with 0, source_location, model_type, runtime, description of at most 100 characters without
&!'"<>=) and "Deploying Services" (POST /v1/{project_id}/services: service_name 1-64 letters, digits, '-', '_';
description at most 100 characters without !<>+&"'; config [{model_id, specification, instance_count (at most 128),
weight, envs}]; schedule [{type: stop, time_unit, duration}]; pool_name for a dedicated pool).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from wrn.platform.modelarts.definition import (CREDENTIAL_ENV, POOL_ID, JobError, as_text, checked_obs_url,
                                               looks_like_credential, read_definition, whole_number)

# Both names: 1-64 letters (Chinese ones too), digits, '-' and '_' (the Chinese reference spells it out for models).
NAME = re.compile(r"^[\w-]{1,64}$")
MODEL_VERSION = re.compile(r"^(0|[1-9][0-9]?)\.(0|[1-9][0-9]?)\.(0|[1-9][0-9]?)$")
MAX_INSTANCES = 128


@dataclass(frozen=True)
class ServiceSpec:
    model_name: str
    model_version: str
    model_source: str  # obs://bucket/folder/ that holds model/ (config.json, customize_service.py, model files)
    service_name: str
    specification: str
    model_type: str = ""  # empty: taken from the package's config.json
    runtime: str = ""
    model_description: str = ""
    service_description: str = ""
    instance_count: int = 1
    envs: dict[str, str] = field(default_factory=dict)
    auto_stop_hours: int = 0
    pool_name: str = ""
    source: str = ""


def load_service(path: str | Path, sets: list[str] = (), variables: Mapping[str, str] | None = None) -> ServiceSpec:
    return validate_service(read_definition(path, sets, variables, "service definition"), str(path))


def validate_service(data: dict, source: str) -> ServiceSpec:
    _only(data, {"model", "service"}, "", source)
    model, service = _section(data, "model", source), _section(data, "service", source)
    _only(model, {"name", "version", "source", "model_type", "runtime", "description"}, "model.", source)
    _only(service, {"name", "description", "specification", "instance_count", "envs", "auto_stop_hours", "pool_name"},
          "service.", source)

    def need(section: dict, key: str, prefix: str) -> str:
        if section.get(key) in (None, ""):
            raise JobError(f"{source}: field '{prefix}{key}' is required")
        return str(section[key])

    model_name = need(model, "name", "model.")
    if not NAME.fullmatch(model_name):
        raise JobError(f"{source}: model.name {model_name!r} must be 1-64 letters, digits, '-' and '_'")
    model_version = need(model, "version", "model.")
    if not MODEL_VERSION.fullmatch(model_version):
        raise JobError(f"{source}: model.version {model_version!r} must be Digit.Digit.Digit, each 0-99 without a "
                       "leading 0 (e.g. 1.0.0)")
    model_source = checked_obs_url(need(model, "source", "model."), "model.source", source).rstrip("/") + "/"
    service_name = need(service, "name", "service.")
    if not NAME.fullmatch(service_name):
        raise JobError(f"{source}: service.name {service_name!r} must be 1-64 letters, digits, '-' and '_'")
    specification = need(service, "specification", "service.")
    if specification == "custom":
        raise JobError(f"{source}: service.specification 'custom' needs a custom_spec, which service files do not "
                       "take: pick a listed flavor (e.g. modelarts.vm.cpu.2u)")
    model_description = _description(model.get("description"), "model.description", "&!'\"<>=", source)
    service_description = _description(service.get("description"), "service.description", "!<>+&\"'", source)
    instance_count = whole_number(service.get("instance_count", 1), "service.instance_count", source, minimum=1,
                            maximum=MAX_INSTANCES, hint="instances of the model") or 1
    envs_raw = service.get("envs") or {}
    if not isinstance(envs_raw, dict):
        raise JobError(f"{source}: service.envs must be a mapping of environment variable names to values")
    envs = {str(k): as_text(v) for k, v in envs_raw.items()}
    _refuse_credentials(envs, source)
    pool_name = str(service.get("pool_name") or "")
    if pool_name and not POOL_ID.match(pool_name):
        raise JobError(f"{source}: service.pool_name {pool_name!r} must be a dedicated pool's id (1-64 characters of "
                       "A-Z, a-z, 0-9, '.', '_' and '-')")
    auto_stop = whole_number(service.get("auto_stop_hours"), "service.auto_stop_hours", source, minimum=1,
                       hint="hours after which ModelArts stops the service") or 0
    return ServiceSpec(model_name=model_name, model_version=model_version, model_source=model_source,
                       service_name=service_name, specification=specification,
                       model_type=str(model.get("model_type") or ""), runtime=str(model.get("runtime") or ""),
                       model_description=model_description, service_description=service_description,
                       instance_count=instance_count, envs=envs, auto_stop_hours=auto_stop, pool_name=pool_name,
                       source=source)


def _section(data: dict, key: str, source: str) -> dict:
    section = data.get(key)
    if not isinstance(section, dict):
        raise JobError(f"{source}: '{key}' must be a mapping (see modelarts/services/wrn_cifar10_cpu.yaml)")
    return section


def _only(section: dict, known: set[str], prefix: str, source: str) -> None:
    unknown = sorted(set(section) - known)
    if unknown:
        raise JobError(f"{source}: unknown field '{prefix}{unknown[0]}'; fields: "
                       + ", ".join(prefix + k for k in sorted(known)))


def _description(value: Any, where: str, forbidden: str, source: str) -> str:
    text = "" if value is None else str(value)
    bad = sorted({c for c in text if c in forbidden})
    if len(text) > 100 or bad:
        raise JobError(f"{source}: {where} must be at most 100 characters without {forbidden}"
                       + (f" (it has {''.join(bad)})" if bad else f" (it has {len(text)})"))
    return text


def _refuse_credentials(envs: dict[str, str], source: str) -> None:
    secrets = {os.environ.get(name, "") for name in CREDENTIAL_ENV} - {""}
    for key, value in envs.items():
        if looks_like_credential(key) or value in secrets:
            raise JobError(f"{source}: service.envs.{key}: credentials never live in service files; the value is not "
                           "shown")
