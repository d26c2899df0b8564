"""A definition file of modelarts/submit.py (a job or a service, YAML) read with its variables and overrides, and
the field checks both kinds share.

`${VAR}` and `${VAR:-default}` take values from the environment or `--var`, so no account-specific value is
committed; `--set a.b=value` overrides any field. Credentials never live in a definition: the platform provides them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from wrn.errors import WrnError
from wrn.platform.storage import RemoteUrl, StorageError
from wrn.values import parse_bool, read_utf8

# ${NAME} or ${NAME:-default}; a default may itself hold ${...}, substituted first (innermost match first).
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^${}]*))?\}")
# A dedicated resource pool's id (a job's pool_id, a service's pool_name).
POOL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Credentials of the ModelArts SDK and of OBS: a definition holding one of their values is refused without echoing it.
CREDENTIAL_ENV = ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "OBS_ACCESS_KEY_ID", "OBS_SECRET_ACCESS_KEY",
                  "OBS_SECURITY_TOKEN")


class JobError(WrnError):
    """A job definition or a ModelArts API call failed; the message names the field or the API answer."""


def read_definition(path: str | Path, sets: list[str] = (), variables: Mapping[str, str] | None = None,
                    what: str = "definition") -> dict:
    """A YAML definition with its ${VAR} variables substituted and `--set` overrides applied (job and service
    files alike)."""
    path = Path(path)
    if not path.is_file():
        raise JobError(f"{what} {path} does not exist")
    values = {**os.environ, **(variables or {})}
    text = _substitute(read_utf8(path, what, JobError), values, path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise JobError(f"{path}: not valid YAML ({exc})".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise JobError(f"{path}: expected a mapping of fields")
    for assignment in sets:
        _apply_set(data, assignment, path)
    return data


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


def whole_number(value: Any, where: str, source: str, minimum: int, maximum: int | None = None,
                 hint: str = "") -> int | None:
    """An optional whole number of a definition (None when unset); the error names the field and the bounds."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().lstrip("+").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum and value > maximum):
        bound = f"{minimum}-{maximum}" if maximum else f">= {minimum}"
        raise JobError(f"{source}: {where} {value!r} must be an integer {bound}" + (f" ({hint})" if hint else ""))
    return value


def flag(value: Any, where: str, source: str) -> bool:
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    try:
        return parse_bool(str(value))
    except ValueError:
        raise JobError(f"{source}: {where} {value!r} must be true or false") from None


def looks_like_credential(key: str) -> bool:
    upper = key.upper()
    return any(word in upper for word in ("SECRET", "ACCESS_KEY", "TOKEN", "PASSWORD")) or upper.endswith(
        ("_SK", "_AK")) or upper in ("AK", "SK")


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def checked_obs_url(value: Any, where: str, source: str) -> str:
    try:
        return str(RemoteUrl.parse(str(value))).rstrip("/") + ("/" if str(value).endswith("/") else "")
    except StorageError as exc:
        raise JobError(f"{source}: {where}: {exc}") from None

