"""The export sidecar: `<model>.json` beside an exported model (.mindir, .onnx, .air), written by `wrn.deploy.export`
(and `quantize`, `cpp_infer/convert_onnx.py`): what the model is (recipe, depth, width, classes, data set), what it
takes (input shape, type, layout, name) and how its input is normalised.

`Sidecar` is the one reader and writer of that file: export, the runners, preprocess/eval, the AIPP config, the
model package, the C++ scripts (`python -m wrn.cli sidecar`) and a model service. It lives in `wrn.serving` because
a model package carries this folder (as wrn_serving/) and its service reads the sidecar: no import of `wrn`, and
Python 3.7. A damaged sidecar is one line naming the file, the field and what was expected. Sidecars of earlier
versions stay readable: the fields added since (dataset, label, input_kind, input_name, normalisation.in_graph)
have the values those versions implied (CIFAR-10 fine labels, a float input normalised by the caller). Keys this
version does not know are kept as they are (`extra`), so a newer export's sidecar still opens here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Type

from .errors import PackageError

FILE_FORMATS = ("MINDIR", "ONNX", "AIR")
# input_dtype -> (input_layout, input_kind): float32 NCHW is normalised by the caller, uint8 NHWC by the graph.
INPUTS = {"float32": ("NCHW", "normalised"), "uint8": ("NHWC", "raw")}


class SidecarError(PackageError):
    """A sidecar is missing, not JSON, or a field is missing or has the wrong type or value."""


def path_of(model: Path) -> Path:
    """The sidecar of a model file: its full name plus `.json` (wrn10_1_b4.onnx -> wrn10_1_b4.onnx.json)."""
    model = Path(model)
    return model.with_name(model.name + ".json")


class _Problem(ValueError):
    """One field's problem, naming the field and what was expected (`Sidecar.from_dict` adds the file)."""


def _missing(name: str, expected: str) -> _Problem:
    return _Problem("%s is missing: expected %s" % (name, expected))


def _checked(name: str, value: Any, ok: bool, expected: str) -> Any:
    if not ok:
        raise _Problem("%s %s: expected %s" % (name, json.dumps(value)[:80], expected))
    return value


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(name: str, value: Any) -> str:
    return _checked(name, value, isinstance(value, str) and value != "", "a non-empty string")


def _positive_int(name: str, value: Any) -> int:
    return _checked(name, value, _number(value) and isinstance(value, int) and value >= 1, "a positive integer")


def _choice(choices: Tuple[str, ...]) -> Callable[[str, Any], str]:
    return lambda name, value: _checked(name, value, value in choices, "one of " + ", ".join(choices))


def _sha256(name: str, value: Any) -> str:
    return _checked(name, value, isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) is not None,
                    "the model file's SHA-256 (64 lowercase hex digits)")


def _shape(name: str, value: Any) -> Tuple[int, ...]:
    ok = isinstance(value, list) and len(value) == 4 and all(_number(d) and isinstance(d, int) and d > 0
                                                            for d in value)
    return tuple(_checked(name, value, ok, "4 positive integers (batch first)"))


def _difference(name: str, value: Any) -> Optional[float]:
    # null for an AIR export: nothing here runs it to compare
    ok = value is None or _number(value) and value >= 0
    return None if _checked(name, value, ok, "a number >= 0, or null") is None else float(value)


def _triple(name: str, value: Any, positive: bool) -> Tuple[float, ...]:
    ok = isinstance(value, list) and len(value) == 3 and all(_number(v) and (v > 0 or not positive) for v in value)
    expected = "3 %snumbers (one per RGB channel)" % ("positive " if positive else "")
    return tuple(float(v) for v in _checked(name, value, ok, expected))


def _object(name: str, value: Any) -> Dict[str, Any]:
    return _checked(name, value, isinstance(value, dict), "a JSON object")


def _bool(name: str, value: Any) -> bool:
    return _checked(name, value, isinstance(value, bool), "true or false")


@dataclass(frozen=True)
class Normalisation:
    """The recipe's per-channel mean/std (of pixel / 255) and who applies them: the graph (`in_graph`, a raw
    export) or whoever feeds the model."""

    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    scale: str
    in_graph: bool = False  # sidecars before raw exports: float models, normalised by the caller

    @classmethod
    def from_dict(cls, values: Any) -> "Normalisation":
        values = _object("normalisation", values)
        for key in ("mean", "std", "scale"):
            if key not in values:
                raise _missing("normalisation." + key, "3 numbers" if key != "scale" else "a non-empty string")
        return cls(mean=_triple("normalisation.mean", values["mean"], positive=False),
                   std=_triple("normalisation.std", values["std"], positive=True),
                   scale=_text("normalisation.scale", values["scale"]),
                   in_graph=_bool("normalisation.in_graph", values.get("in_graph", False)))

    def to_dict(self) -> Dict[str, Any]:
        return {"mean": list(self.mean), "std": list(self.std), "in_graph": self.in_graph, "scale": self.scale}


# field -> (reader, what a missing field should have been). Fields every sidecar has had since the first export.
REQUIRED: Dict[str, Tuple[Callable[[str, Any], Any], str]] = {
    "config": (_text, "the recipe's name"),
    "depth": (_positive_int, "a positive integer"),
    "widen_factor": (_positive_int, "a positive integer"),
    "num_classes": (_positive_int, "a positive integer"),
    "checkpoint": (_text, "the checkpoint it was exported from"),
    "file": (_text, "the model file's name"),
    "file_format": (_choice(FILE_FORMATS), "one of " + ", ".join(FILE_FORMATS)),
    "input_shape": (_shape, "4 positive integers (batch first)"),
    "input_dtype": (_choice(tuple(INPUTS)), "one of " + ", ".join(INPUTS)),
    "input_layout": (_choice(("NCHW", "NHWC")), "NCHW or NHWC"),
    "normalisation": (lambda name, value: Normalisation.from_dict(value), "a JSON object with mean, std and scale"),
    "mindspore": (_text, "the MindSpore version that exported it"),
    "sha256": (_sha256, "the model file's SHA-256"),
    "max_abs_difference_vs_checkpoint": (_difference, "a number >= 0, or null"),
}
# Fields added later, with the value a sidecar without them meant (None: absent, and not written back).
OPTIONAL: Dict[str, Tuple[Callable[[str, Any], Any], Any]] = {
    "dataset": (_text, "cifar10"),
    "label": (_text, "fine"),
    "input_kind": (_choice(("normalised", "raw")), None),  # None: implied by input_dtype
    "input_name": (_text, None),
    "runtime_note": (_text, None),
    "aipp_config": (_text, None),
    "quantization": (_object, None),
}


@dataclass(frozen=True)
class Sidecar:
    """An export's sidecar, checked field by field (`from_dict`, `read`) and written back as the same JSON."""

    config: str
    depth: int
    widen_factor: int
    num_classes: int
    checkpoint: str
    file: str
    file_format: str
    input_shape: Tuple[int, ...]
    input_dtype: str
    input_layout: str
    normalisation: Normalisation
    mindspore: str
    sha256: str
    # None for an AIR (not run here); an INT8 sidecar (`quantization`) has none: it describes the FP32 file.
    max_abs_difference_vs_checkpoint: Optional[float]
    dataset: str = "cifar10"
    label: str = "fine"
    input_kind: str = ""  # "" -> implied by input_dtype (`__post_init__`)
    input_name: Optional[str] = None
    runtime_note: Optional[str] = None
    aipp_config: Optional[str] = None
    quantization: Optional[Dict[str, Any]] = None
    extra: Dict[str, Any] = field(default_factory=dict)  # keys this version does not know, kept as they are

    def __post_init__(self) -> None:
        layout, kind = INPUTS[self.input_dtype]
        if self.input_layout != layout:
            raise _Problem("input_dtype %r with input_layout %r: expected float32 NCHW (normalised input) or uint8 "
                           "NHWC (a raw model)" % (self.input_dtype, self.input_layout))
        if not self.input_kind:
            object.__setattr__(self, "input_kind", kind)
        elif self.input_kind != kind:
            raise _Problem("input_kind %r with input_dtype %r: expected %r"
                           % (self.input_kind, self.input_dtype, kind))
        if self.normalisation.in_graph != (kind == "raw"):
            raise _Problem("normalisation.in_graph %s with input_dtype %r: expected %s "
                           "(only a raw model normalises in its graph)"
                           % (json.dumps(self.normalisation.in_graph), self.input_dtype, json.dumps(kind == "raw")))

    @property
    def batch_size(self) -> int:
        return int(self.input_shape[0])

    @property
    def raw_input(self) -> bool:
        """True for a model that takes uint8 pixels and normalises them in its graph (export --input raw)."""
        return self.input_kind == "raw"

    def data(self) -> Dict[str, Any]:
        """What the model was trained on: mean, std (lists, per RGB channel of pixel / 255), dataset and label."""
        return {"mean": list(self.normalisation.mean), "std": list(self.normalisation.std),
                "dataset": self.dataset, "label": self.label}

    @classmethod
    def from_dict(cls, values: Any, source: str = "sidecar", error: Type[Exception] = SidecarError) -> "Sidecar":
        """The sidecar in `values` (a parsed JSON object); any problem is one `error` naming `source` and the
        field."""
        try:
            values = _object("sidecar", values)
            fields: Dict[str, Any] = {}
            for name, (read, expected) in REQUIRED.items():
                if name not in values:
                    if name == "max_abs_difference_vs_checkpoint" and values.get("quantization") is not None:
                        fields[name] = None
                        continue
                    raise _missing(name, expected)
                fields[name] = read(name, values[name])
            for name, (read, default) in OPTIONAL.items():
                fields[name] = read(name, values[name]) if name in values else default
            fields["input_kind"] = fields["input_kind"] or ""
            extra = {key: value for key, value in values.items() if key not in REQUIRED and key not in OPTIONAL}
            return cls(extra=extra, **fields)
        except _Problem as problem:
            raise error("%s: %s" % (source, problem)) from None

    @classmethod
    def read(cls, path: Path, error: Type[Exception] = SidecarError) -> "Sidecar":
        """The sidecar file at `path` (`path_of(model)`); missing, unreadable, not JSON or damaged: one `error`."""
        path = Path(path)
        if not path.is_file():
            raise error("sidecar %s does not exist: every export writes one beside its model file (%s)"
                        % (path, path.name[:-len(".json")] if path.name.endswith(".json") else "MODEL.json"))
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise error("sidecar %s: cannot be read (%s)" % (path, exc.strerror or exc)) from None
        except ValueError as exc:
            raise error("sidecar %s: not valid JSON (%s): expected an export's JSON sidecar" % (path, exc)) from None
        return cls.from_dict(values, "sidecar %s" % path, error)

    def to_dict(self) -> Dict[str, Any]:
        """The JSON object written to the file: the same keys and values `from_dict` read (plus, for an older
        sidecar, the fields with the values it implied)."""
        values: Dict[str, Any] = dict(self.extra)
        for name in list(REQUIRED) + list(OPTIONAL):
            values[name] = getattr(self, name)
        values["input_shape"] = list(self.input_shape)
        values["normalisation"] = self.normalisation.to_dict()
        if self.quantization is not None and self.max_abs_difference_vs_checkpoint is None:
            del values["max_abs_difference_vs_checkpoint"]
        return {key: value for key, value in values.items() if value is not None or key not in OPTIONAL}

    def to_json(self) -> str:
        """The file's text, as every writer writes it (indented, keys sorted)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def write(self, path: Path) -> Path:
        """Write the file at `path` (a run directory writes `to_json()` through its own atomic write instead)."""
        path = Path(path)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    def replace(self, **changes: Any) -> "Sidecar":
        return replace(self, **changes)

    def text_of(self, name: str) -> str:
        """Field `name` (one of `field_names()`, or batch_size) as one line for a shell script: a list
        comma-separated, an object as JSON, an absent optional field empty."""
        if name == "batch_size":
            value: Any = self.batch_size
        elif name.startswith("normalisation."):
            value = self.normalisation.to_dict()[name[len("normalisation."):]]
        else:
            value = self.to_dict().get(name)
        if value is None:
            return ""
        if isinstance(value, (list, tuple)):
            return ",".join(str(v) for v in value)
        if isinstance(value, (dict, bool)):
            return json.dumps(value, sort_keys=True)
        return str(value)


def field_names() -> List[str]:
    """Every field a sidecar file has (normalisation's as normalisation.mean, ...), required ones first."""
    return list(REQUIRED) + ["normalisation." + key for key in ("mean", "std", "scale", "in_graph")] + list(OPTIONAL)
