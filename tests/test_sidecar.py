"""The export sidecar (`wrn.serving.sidecar.Sidecar`): every field checked with a one-line error naming the file, the
field and what was expected; written back as the same JSON; sidecars of earlier versions still read; the shell
scripts read it through `python -m wrn.cli sidecar`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_in_process
from wrn.cli import sidecar_main
from wrn.deploy.aipp import aipp_config
from wrn.serving.errors import PackageError
from wrn.serving.sidecar import OPTIONAL, REQUIRED, Sidecar, SidecarError, field_names, path_of

SHA = "3f" * 32
# A float ONNX export's sidecar as export writes it today.
CURRENT = {
    "config": "demo", "depth": 10, "widen_factor": 1, "num_classes": 10, "dataset": "cifar10", "label": "fine",
    "checkpoint": "runs/a/ckpt/best.ckpt", "file": "wrn10_1_b4.onnx", "file_format": "ONNX",
    "input_kind": "normalised", "input_shape": [4, 3, 32, 32], "input_dtype": "float32", "input_layout": "NCHW",
    "normalisation": {"mean": [0.3, 0.3, 0.3], "std": [0.32, 0.32, 0.32], "in_graph": False,
                      "scale": "pixel / 255, then (x - mean) / std"},
    "mindspore": "2.8.0", "sha256": SHA, "max_abs_difference_vs_checkpoint": 2.1e-06, "input_name": "x",
    "aipp_config": "wrn10_1_b4.aipp.cfg",
}
RAW = {**CURRENT, "file": "wrn10_1_b1_raw.mindir", "file_format": "MINDIR", "input_kind": "raw",
       "input_shape": [1, 32, 32, 3], "input_dtype": "uint8", "input_layout": "NHWC",
       "normalisation": {"mean": [0.3, 0.3, 0.3], "std": [0.32, 0.32, 0.32], "in_graph": True,
                         "scale": "inside the graph: uint8 NHWC pixel -> float32, / 255, then (x - mean) / std, "
                                  "then NCHW"},
       "runtime_note": "read by MindSpore runtimes of version 2.8.0 or newer"}
del RAW["aipp_config"]
INT8 = {**{k: v for k, v in CURRENT.items() if k not in ("aipp_config", "max_abs_difference_vs_checkpoint")},
        "file": "wrn10_1_b4_int8.onnx", "quantization": {"format": "QDQ", "top1_fp32": 0.5, "top1_int8": 0.5}}
CONVERTED = {**CURRENT, "file": "wrn10_1_b4_lite.mindir", "file_format": "MINDIR", "path": "/x/wrn10_1_b4_lite.mindir",
             "sidecar": "/x/wrn10_1_b4_lite.mindir.json", "converted_from": "wrn10_1_b4.onnx",
             "converter": "mindspore-lite 2.0.0"}
# Every field at once (a sidecar has either aipp_config or runtime_note today; the checks do not mind).
EVERY = {**CURRENT, "runtime_note": RAW["runtime_note"], "quantization": INT8["quantization"]}
# The first sidecars (before CIFAR-100, raw exports and AIPP): no dataset, label, input_kind, input_name, in_graph.
FIRST = {"config": "wrn40_10", "depth": 40, "widen_factor": 10, "num_classes": 10, "checkpoint": "best.ckpt",
         "file": "wrn40_10_b1.mindir", "file_format": "MINDIR", "input_shape": [1, 3, 32, 32],
         "input_dtype": "float32", "input_layout": "NCHW",
         "normalisation": {"mean": [0.4914, 0.4822, 0.4465], "std": [0.247, 0.2435, 0.2616],
                           "scale": "pixel / 255, then (x - mean) / std"},
         "mindspore": "2.8.0", "sha256": SHA, "max_abs_difference_vs_checkpoint": 3e-06}
WITH_NOTE = {**FIRST, "runtime_note": "read by MindSpore runtimes of version 2.8.0 or newer"}
WITH_DATASET = {**WITH_NOTE, "dataset": "cifar100", "label": "coarse", "num_classes": 20}

# One wrong value for every field a sidecar has (the test below proves none is left out).
WRONG = {
    "config": 7, "depth": "10", "widen_factor": 0, "num_classes": True, "checkpoint": "", "file": None,
    "file_format": "TFLITE", "input_shape": [4, 3, 32], "input_dtype": "float16", "input_layout": "NWHC",
    "normalisation": [0.3, 0.32], "mindspore": 2.8, "sha256": "abc", "max_abs_difference_vs_checkpoint": -1,
    "normalisation.mean": [0.3, 0.3], "normalisation.std": [0.3, 0, 0.3], "normalisation.scale": 1,
    "normalisation.in_graph": "no", "dataset": 10, "label": [], "input_kind": "pixels", "input_name": 0,
    "runtime_note": {}, "aipp_config": 3, "quantization": "int8",
}


def changed(values: dict, name: str, value=None, remove: bool = False) -> dict:
    """`values` with field `name` (normalisation.KEY for the nested ones) set to `value`, or removed."""
    values = json.loads(json.dumps(values))
    target, key = (values["normalisation"], name.split(".", 1)[1]) if name.startswith("normalisation.") else \
        (values, name)
    if remove:
        del target[key]
    else:
        target[key] = value
    return values


def written(tmp_path: Path, values, name: str = "m.onnx.json") -> Path:
    path = tmp_path / name
    path.write_text(values if isinstance(values, str) else json.dumps(values))
    return path


def test_every_field_has_a_wrong_value_case():
    assert sorted(WRONG) == sorted(field_names())


@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_field_of_the_wrong_type_or_value_is_one_line_naming_file_and_field(tmp_path, name):
    path = written(tmp_path, changed(CURRENT, name, WRONG[name]))
    with pytest.raises(SidecarError) as raised:
        Sidecar.read(path)
    message = str(raised.value)
    assert message.startswith(f"sidecar {path}: {name} ") and ": expected " in message and "\n" not in message


@pytest.mark.parametrize("name", list(REQUIRED) + ["normalisation.mean", "normalisation.std", "normalisation.scale"])
def test_a_missing_field_is_one_line_naming_file_and_field(tmp_path, name):
    path = written(tmp_path, changed(CURRENT, name, remove=True))
    with pytest.raises(SidecarError) as raised:
        Sidecar.read(path)
    assert str(raised.value).startswith(f"sidecar {path}: {name} is missing: expected ")


@pytest.mark.parametrize("name", list(OPTIONAL) + ["normalisation.in_graph"])
def test_a_field_added_later_may_be_missing_and_means_what_it_meant_before(name):
    sidecar = Sidecar.from_dict(changed(EVERY, name, remove=True))
    implied = {"dataset": "cifar10", "label": "fine", "input_kind": "normalised", "normalisation.in_graph": False}
    value = sidecar.normalisation.in_graph if name == "normalisation.in_graph" else getattr(sidecar, name)
    assert value == implied.get(name)


@pytest.mark.parametrize("values,problem", [
    (changed(CURRENT, "input_layout", "NHWC"), "input_dtype 'float32' with input_layout 'NHWC': expected float32 "
                                               "NCHW (normalised input) or uint8 NHWC (a raw model)"),
    (changed(RAW, "input_layout", "NCHW"), "input_dtype 'uint8' with input_layout 'NCHW': expected float32 "
                                           "NCHW (normalised input) or uint8 NHWC (a raw model)"),
    (changed(CURRENT, "input_kind", "raw"), "input_kind 'raw' with input_dtype 'float32': expected 'normalised'"),
    (changed(RAW, "normalisation.in_graph", False), "normalisation.in_graph false with input_dtype 'uint8': "
                                                    "expected true (only a raw model normalises in its graph)"),
    (changed(INT8, "quantization", remove=True), "max_abs_difference_vs_checkpoint is missing"),
])
def test_fields_that_contradict_each_other_are_named(values, problem):
    with pytest.raises(SidecarError, match="^where: " + problem.replace("(", r"\(").replace(")", r"\)")):
        Sidecar.from_dict(values, "where")


@pytest.mark.parametrize("text,problem", [
    ("{not json", "not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1)): "
                  "expected an export's JSON sidecar"),
    ("[1, 2]", "sidecar [1, 2]: expected a JSON object"),
])
def test_a_file_that_is_no_sidecar_is_one_line(tmp_path, text, problem):
    path = written(tmp_path, text)
    with pytest.raises(SidecarError) as raised:
        Sidecar.read(path)
    assert str(raised.value) == f"sidecar {path}: {problem}"


def test_a_missing_sidecar_and_the_callers_error_class(tmp_path):
    with pytest.raises(PackageError, match=f"^sidecar {tmp_path / 'm.onnx.json'} does not exist: every export "
                                           "writes one beside its model file"):
        Sidecar.read(path_of(tmp_path / "m.onnx"))
    with pytest.raises(KeyError):  # each layer raises its own error type (WrnError subclasses in wrn.deploy)
        Sidecar.read(written(tmp_path, "{"), error=KeyError)


@pytest.mark.parametrize("values", [CURRENT, RAW, INT8, CONVERTED], ids=["float", "raw", "int8", "converted"])
def test_write_then_read_gives_the_same_object_and_the_same_file(tmp_path, values):
    sidecar = Sidecar.from_dict(values)
    assert sidecar.to_dict() == values  # same keys, same values: the file format is unchanged
    path = sidecar.write(tmp_path / "m.json")
    assert Sidecar.read(path) == sidecar
    assert path.read_text() == json.dumps(values, indent=2, sort_keys=True) + "\n"  # as the run directory writes


@pytest.mark.parametrize("values", [FIRST, WITH_NOTE, WITH_DATASET], ids=["first", "runtime-note", "dataset"])
def test_sidecars_of_earlier_versions_are_read_as_they_were_meant(values):
    sidecar = Sidecar.from_dict(values)
    assert (sidecar.input_kind, sidecar.raw_input, sidecar.input_name, sidecar.batch_size) == \
        ("normalised", False, None, 1)
    assert sidecar.data() == {"mean": values["normalisation"]["mean"], "std": values["normalisation"]["std"],
                              "dataset": values.get("dataset", "cifar10"), "label": values.get("label", "fine")}
    assert "min_chn_0: 125.307" in aipp_config(sidecar)  # 255 * 0.4914: the AIPP config still comes from it
    # Written back (as convert_onnx.py does): nothing it had is lost or changed, the implied fields are spelled out.
    again = sidecar.to_dict()
    assert {k: again[k] for k in values if k != "normalisation"} == \
        {k: v for k, v in values.items() if k != "normalisation"}
    assert again["normalisation"] == {**values["normalisation"], "in_graph": False}
    implied = {"dataset": "cifar10", "label": "fine", "input_kind": "normalised"}
    assert {k: again[k] for k in set(again) - set(values)} == {k: v for k, v in implied.items() if k not in values}


def test_a_newer_sidecars_unknown_fields_are_kept():
    sidecar = Sidecar.from_dict({**CURRENT, "calibration": {"images": 256}})
    assert sidecar.extra == {"calibration": {"images": 256}} and sidecar.to_dict()["calibration"] == {"images": 256}


def test_the_sidecar_command_gives_shell_scripts_one_value_a_line(tmp_path):
    path = written(tmp_path, CURRENT)
    code, out, err = run_in_process(sidecar_main, str(path), "batch_size", "num_classes", "input_shape",
                                    "input_name", "normalisation.mean", "normalisation.in_graph")
    assert (code, err) == (0, "") and out.splitlines() == ["4", "10", "4,3,32,32", "x", "0.3,0.3,0.3", "false"]
    code, out, _ = run_in_process(sidecar_main, str(written(tmp_path, FIRST)), "input_name", "input_dtype")
    assert (code, out) == (0, "\nfloat32\n")  # absent before input_name: an empty line


def test_the_sidecar_command_refuses_a_damaged_sidecar_in_one_line(tmp_path, capsys):
    path = written(tmp_path, changed(CURRENT, "input_shape", "4x3x32x32"))
    code, out, err = run_in_process(sidecar_main, str(path), "batch_size")
    assert (code, out) == (2, "")
    assert err == f'error: sidecar {path}: input_shape "4x3x32x32": expected 4 positive integers (batch first)\n'
    with pytest.raises(SystemExit):
        sidecar_main([str(path), "no_such_field"])
    assert "invalid choice: 'no_such_field'" in capsys.readouterr().err


def test_the_310_scripts_stop_at_a_damaged_sidecar_with_the_packages_error(tmp_path):
    """run_infer_310.sh and convert_om.sh read the sidecar through the package: a damaged one is its error line."""
    env = {**os.environ, "PYTHON": sys.executable, "ATC": "atc-not-installed"}
    for script, model in (("run_infer_310.sh", "m.mindir"), ("convert_om.sh", "m.onnx")):
        (tmp_path / model).write_bytes(b"model")
        sidecar = written(tmp_path, changed(CURRENT, "num_classes", "ten"), model + ".json")
        args = [str(tmp_path / model)] + (["data"] if script == "run_infer_310.sh" else [])
        done = subprocess.run(["bash", str(ROOT / "cpp_infer" / script), *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and done.stderr == f'error: sidecar {sidecar}: num_classes "ten": expected a ' \
                                                       'positive integer\n', (script, done.stderr)
    assert not (tmp_path / "preprocess_Result").exists()
