"""The package layers of docs/ARCHITECTURE.md: a module imports only from its own layer or the ones below."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

WRN = Path(__file__).resolve().parents[1] / "wrn"
# Bottom up, a level per entry. The top-level helpers (errors, fileio, values, config, cifar, ...) form the base
# layer. `serving` stands apart, below everything: it imports nothing of wrn (test below), so it can be copied into a
# model package. `output` (a run's output folder) and `builder` (the config met with the core) serve both training
# and evaluation (`run`) and export, inference and packaging (`deploy`), which share a level: neither imports the other.
LEVELS = [("serving",), ("base",), ("core",), ("platform",), ("output",), ("builder",), ("run", "deploy"), ("cli",)]
LAYERS = [layer for level in LEVELS for layer in level]
BASE = ("__init__", "errors", "faults", "fileio", "values", "signals", "modelzoo", "config", "configs", "pbcompat",
        "cifar", "depth")


def layer_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "wrn" or len(parts) < 2:
        return ""
    if parts[1] in LAYERS:
        return parts[1]
    return "base" if parts[1] in BASE else parts[1]


def level_of(layer: str) -> int:
    return next(index for index, level in enumerate(LEVELS) if layer in level)


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
    own = layer_of(module)
    assert own in LAYERS, f"{module} is in no layer of docs/ARCHITECTURE.md"
    above = [name for name in imports_of(path) if level_of(layer_of(name)) > level_of(own)
             or (level_of(layer_of(name)) == level_of(own) and layer_of(name) != own)]
    assert above == [], f"{module} ({own}) imports {above}"


@pytest.mark.parametrize("path", sorted((WRN / "deploy").rglob("*.py")), ids=lambda p: p.relative_to(WRN).as_posix())
def test_deploy_imports_nothing_of_the_training_run(path):
    """Export, inference and packaging read a run's output folder (wrn.output) and build networks (wrn.builder),
    never through wrn.run: any import at any depth, functions included, relative ones resolved."""
    package = "wrn." + ".".join(path.relative_to(WRN).parent.parts)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            found.update([module, *(f"{module}.{alias.name}" for alias in node.names)])
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    assert not [name for name in found if name == "wrn.run" or name.startswith("wrn.run.")], path


def test_core_takes_no_config():
    for path in (WRN / "core").rglob("*.py"):
        assert "wrn.config" not in imports_of(path) and "cfg" not in path.read_text(), path


SERVING = WRN / "serving"
# What a model service may import: the standard library, the package's declared dependencies (numpy, Pillow,
# onnxruntime) and, for a .mindir on Ascend, the image's MindSpore; `model_service` is the platform's own package;
# the model-server stand-in reads installed versions through pkg_resources on Python 3.7 (guarded: optional).
SERVICE_IMPORTS = {"numpy", "PIL", "onnxruntime", "mindspore", "model_service", "wrn_serving", "pkg_resources"}


def _imported_roots(path: Path) -> set[tuple[str, int]]:
    """(top-level module, relative level) of every import in a file, at any depth (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            found.add(((node.module or "").split(".")[0], node.level))
        elif isinstance(node, ast.Import):
            found.update((alias.name.split(".")[0], 0) for alias in node.names)
    return found


@pytest.mark.parametrize("path", sorted(SERVING.rglob("*.py")), ids=lambda p: p.relative_to(WRN).as_posix())
def test_serving_imports_nothing_of_wrn_or_training(path):
    stdlib = set(sys.stdlib_module_names)
    outside = sorted(root for root, level in _imported_roots(path)
                     if level == 0 and root not in stdlib and root not in SERVICE_IMPORTS)
    assert outside == [], f"{path.relative_to(WRN)} imports {outside}: a model service has only its dependencies"
    assert not any(root == "wrn" and level == 0 for root, level in _imported_roots(path)), path


def test_mindspore_is_imported_only_inside_the_mindir_runner():
    for path in SERVING.rglob("*.py"):
        tree = ast.parse(path.read_text())
        top_level = {alias.name.split(".")[0] for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
                     for alias in getattr(node, "names", [])} | {
            (node.module or "").split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom)}
        assert "mindspore" not in top_level and "onnxruntime" not in top_level, path


def test_mindspore_loads_after_the_packages_onnx_and_tensorboard_imports():
    """onnx and tensorboard import protobuf; imported first they used to leave MindSpore unloadable (an abort)."""
    script = ("from wrn.pbcompat import prefer_mindspore_protobuf; prefer_mindspore_protobuf(); import onnx; "
              "from tensorboard.summary.writer.event_file_writer import EventFileWriter; import mindspore; "
              "print('loaded', mindspore.__version__)")
    env = {k: v for k, v in os.environ.items() if k != "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"}
    done = subprocess.run([sys.executable, "-c", script], cwd=WRN.parent, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and "loaded" in done.stdout, done.stderr[-2000:]
