"""The package layers of docs/ARCHITECTURE.md: a module imports only from its own layer or the ones below."""

import ast
from pathlib import Path

import pytest

WRN = Path(__file__).resolve().parents[1] / "wrn"
# Bottom up. The top-level helpers (errors, fileio, values, config) form the base layer.
LAYERS = ["base", "core", "platform", "run", "deploy", "cli"]


def layer_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "wrn" or len(parts) < 2:
        return ""
    if parts[1] in LAYERS:
        return parts[1]
    return "base" if parts[1] in ("__init__", "errors", "faults", "fileio", "values", "signals", "modelzoo", "config", "configs") else parts[1]


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names if node.module == "wrn")
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("wrn.")}


MODULES = sorted(p for p in WRN.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(WRN).as_posix())
def test_no_module_imports_a_layer_above_its_own(path):
    module = "wrn." + ".".join(path.relative_to(WRN).with_suffix("").parts)
    own = LAYERS.index(layer_of(module)) if layer_of(module) in LAYERS else None
    assert own is not None, f"{module} is in no layer of docs/ARCHITECTURE.md"
    above = [name for name in imports_of(path) if LAYERS.index(layer_of(name)) > own]
    assert above == [], f"{module} ({LAYERS[own]}) imports {above}"


def test_core_takes_no_config():
    for path in (WRN / "core").rglob("*.py"):
        assert "wrn.config" not in imports_of(path) and "cfg" not in path.read_text(), path
