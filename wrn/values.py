"""Reading values given as text (environment variables, --key=value, job files, YAML): one rule each for booleans
and numbers, so `1`, `true` and `yes` mean the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

from wrn.errors import WrnError

TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})
Number = TypeVar("Number", int, float)


def parse_bool(text: str) -> bool:
    """true/false, 1/0, yes/no in any case; anything else raises ValueError."""
    word = text.strip().lower()
    if word not in TRUE_WORDS | FALSE_WORDS:
        raise ValueError(text)
    return word in TRUE_WORDS


def env_bool(env: Mapping[str, str], name: str, default: bool, error: Callable[[str], WrnError] = WrnError) -> bool:
    raw = env.get(name, "")
    if raw.strip() == "":
        return default
    try:
        return parse_bool(raw)
    except ValueError:
        raise error(f"environment variable {name}={raw!r}: expected true/false, 1/0 or yes/no") from None


def env_number(env: Mapping[str, str], name: str, default: Number | None, kind: Callable[[str], Number] = int,
               minimum: Number | None = None, error: Callable[[str], WrnError] = WrnError) -> Number:
    """`env[name]` as `kind`; unset or empty gives `default` (None: required). Errors name the variable."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        if default is None:
            raise error(f"environment variable {name} is not set")
        return default
    try:
        value = kind(raw.strip())
    except ValueError:
        raise error(f"environment variable {name}={raw!r} is not {'an integer' if kind is int else 'a number'}") \
            from None
    if minimum is not None and value < minimum:
        raise error(f"environment variable {name}={raw!r}: expected a value >= {minimum}")
    return value


def read_utf8(path: Path, what: str, error: Callable[[str], WrnError] = WrnError) -> str:
    """A text file the user wrote (a config, a job file); anything but UTF-8 is one error naming the byte."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                    "save it as UTF-8") from None


def type_name(hint: Any) -> str:
    """How an error names the type a value should have."""
    return {bool: "a boolean (true/false/1/0)", int: "an integer", float: "a number", str: "a string"}[hint]


def coerce_scalar(value: Any, target: type) -> Any:
    """A value as read from YAML or a `--key=value` (text) as `target`; TypeError or ValueError when it is not one."""
    if target is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            return parse_bool(value)
        raise ValueError(value)
    if target is int:
        if isinstance(value, bool):
            raise TypeError(value)
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return int(value) if not isinstance(value, str) else int(value.strip())
    if target is float:
        if isinstance(value, bool):
            raise TypeError(value)
        return float(value)
    if target is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise TypeError(value)
        return str(value)
    raise TypeError(target)
