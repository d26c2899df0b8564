"""A job definition (modelarts/jobs/*.yaml) -> a checked JobSpec.

A definition names the job, its code (an OBS folder and a boot file in it), the engine or a custom image, the
flavor and node count, inputs and outputs (OBS URLs), hyperparameters and environment variables. `${VAR}` and
`${VAR:-default}` take values from the environment or `--var`, so no account-specific value is committed; `--set
a.b=value` overrides any field. Hyperparameters are checked against the boot file's arguments and the recipe.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from wrn.config import load_config
from wrn.errors import WrnError
from wrn.platform.storage import RemoteUrl, StorageError, safe_relative
from wrn.values import read_utf8

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# ${NAME} or ${NAME:-default}; a default may itself hold ${...}, substituted first (innermost match first).
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^${}]*))?\}")
# Arguments of each boot file that are not config keys (the rest must be config keys of the recipe).
BOOT_FILE_ARGS = {"modelarts/train.py": {"config", "resume"},
                  "modelarts/eval.py": {"config", "checkpoint"},
                  "modelarts/export.py": {"config", "checkpoint", "file_format", "batch_size"}}


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
    text = _substitute(read_utf8(path, "job definition", JobError), values, path)
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
    secrets = {os.environ.get(name, "") for name in CREDENTIAL_ENV} - {""}
    for field_name, values in (("environments", environments), ("hyperparameters", hyperparameters)):
        for key, value in values.items():
            if _looks_like_credential(key) or value in secrets:
                raise JobError(f"{source}: {field_name}.{key}: credentials never live in job files (the platform "
                               "provides them to the job); the value is not shown")
    for input_name, url in inputs.items():
        given = hyperparameters.get(input_name)
        if given is not None and given.rstrip("/") != url.rstrip("/"):
            raise JobError(f"{source}: hyperparameters.{input_name} ({given}) disagrees with inputs.{input_name} "
                           f"({url}): the platform passes the input as --{input_name}; give it once, under inputs")
    _check_hyperparameters(boot_file, hyperparameters, set(inputs) | set(outputs), source)
    return JobSpec(name=name, description=str(data.get("description") or ""), code_dir=code_dir,
                   boot_file=boot_file, flavor_id=str(need("flavor_id")), node_count=node_count,
                   engine_name=str(engine.get("name", "")) if engine else "",
                   engine_version=str(engine.get("version", "")) if engine else "", image_url=image_url,
                   inputs=inputs, outputs=outputs, hyperparameters=hyperparameters, environments=environments,
                   source=source)


# Credentials of the ModelArts SDK and of OBS: a job file holding one of their values is refused without echoing it.
CREDENTIAL_ENV = ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "OBS_ACCESS_KEY_ID", "OBS_SECRET_ACCESS_KEY",
                  "OBS_SECURITY_TOKEN")


def _looks_like_credential(key: str) -> bool:
    upper = key.upper()
    return any(word in upper for word in ("SECRET", "ACCESS_KEY", "TOKEN", "PASSWORD")) or upper.endswith(
        ("_SK", "_AK")) or upper in ("AK", "SK")


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
