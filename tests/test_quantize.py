"""export --quantize int8: an INT8 ONNX model made by ONNX Runtime's quantization tooling, calibrated on training
images, checked against the FP32 model on the eval split, and run by local/eval.py and local/infer.py."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path

import pytest

from conftest import export_args, model_args, run_cli, run_in_process
from wrn.cli import (eval_main, export_main, infer_main, modelarts_export_main, modelzoo_export_main,
                     postprocess_main, preprocess_main)

pytest.importorskip("onnx", reason="export --quantize needs the [onnx] extra")


@pytest.fixture(scope="session")
def trained(learnt_run):
    """The session's run on 320 training images (a model that has learnt the classes, for INT8 to keep), 60 eval
    images; read-only."""
    return learnt_run["data"], learnt_run["run"] / "ckpt" / "best.ckpt"


def export(checkpoint, out: Path, *extra: str, batch: int = 4) -> subprocess.CompletedProcess:
    """local/export.py as a subprocess: the script's own quantizing run and one refusal."""
    return run_cli("local/export.py", *export_args(checkpoint, out, *extra, batch=batch))


def here(main, *argv: str) -> subprocess.CompletedProcess:
    """A command's entry function in this process (its exit status, stdout, stderr), as a finished process."""
    status, out, err = run_in_process(main, *argv)
    return subprocess.CompletedProcess([main.__name__, *argv], status, out, err)


def export_here(checkpoint, out: Path, *extra: str, batch: int = 4, main=export_main) -> subprocess.CompletedProcess:
    return here(main, *export_args(checkpoint, out, *extra, batch=batch))


def last_json(done) -> dict:
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("quant_format", ["QDQ", "QOperator"])
def test_int8_export_records_both_accuracies_and_eval_reproduces_them(trained, tmp_path, quant_format):
    data, checkpoint = trained
    # QDQ through local/export.py itself (a fresh process: onnx and MindSpore imported as the product orders them, not
    # as conftest does); QOperator through its entry function in this process.
    done = (export if quant_format == "QDQ" else export_here)(
        checkpoint, tmp_path / "out", "--file_format=ONNX", "--quantize=int8", f"--data_url={data}",
        "--int8_calibration_images=200", f"--int8_format={quant_format}")
    assert done.returncode == 0, done.stderr[-3000:]
    int8 = tmp_path / "out" / "wrn10_1_b4_int8.onnx"
    fp32 = tmp_path / "out" / "wrn10_1_b4.onnx"
    sidecar = json.loads((tmp_path / "out" / "wrn10_1_b4_int8.onnx.json").read_text())
    assert last_json(done)["int8"]["path"] == str(int8) and fp32.is_file()
    assert sidecar["sha256"] == hashlib.sha256(int8.read_bytes()).hexdigest() and sidecar["file"] == int8.name
    assert sidecar["input_shape"] == [4, 3, 32, 32] and sidecar["normalisation"]["mean"] == [0.3, 0.3, 0.3]
    record = sidecar["quantization"]
    assert (record["dtype"], record["format"], record["per_channel"]) == ("int8", quant_format, True)
    assert record["calibration_images"] == 200 and record["eval_images"] == 60 and record["fp32_model"] == fp32.name
    assert record["top1_drop_points"] == pytest.approx((record["top1_fp32"] - record["top1_int8"]) * 100)
    assert record["top1_drop_points"] <= record["tolerance_points"] == 0.5
    # The serving image's onnxruntime 1.14 reads opsets up to 18, IR up to 8, and no domain at a draft opset.
    assert record["opset"] <= 18 and record["ir_version"] <= 8
    # Both figures are exactly what local/eval.py --model reports on the same files.
    for model, key in ((int8, "top1_int8"), (fp32, "top1_fp32")):
        evaluated = here(eval_main, f"--data_url={data}", f"--model={model}")
        assert evaluated.returncode == 0, evaluated.stderr[-2000:]
        assert last_json(evaluated)["top1"] == record[key] and last_json(evaluated)["images"] == 60

    import onnx

    graph = onnx.load(str(int8))
    ops = {node.op_type for node in graph.graph.node}
    assert ({"QuantizeLinear", "DequantizeLinear"} <= ops) if quant_format == "QDQ" else ("QLinearConv" in ops)
    assert {o.domain for o in graph.opset_import} <= {"", "com.microsoft"}


def test_infer_runs_the_int8_model_over_preprocessed_files(trained, tmp_path):
    data, checkpoint = trained
    assert export_here(checkpoint, tmp_path / "out", "--file_format=ONNX", "--quantize=int8", f"--data_url={data}",
                       batch=1).returncode == 0
    work = tmp_path / "work"
    sidecar = tmp_path / "out" / "wrn10_1_b1_int8.onnx.json"
    assert here(preprocess_main, f"--data_url={data}", f"--output={work}", f"--sidecar={sidecar}").returncode == 0
    done = here(infer_main, f"--model={tmp_path / 'out' / 'wrn10_1_b1_int8.onnx'}", f"--input={work / 'img_data'}",
                f"--output={work}")
    assert done.returncode == 0, done.stderr[-2000:]
    post = here(postprocess_main, f"--result_dir={work / 'result_Files'}", f"--label_dir={work / 'label'}",
                f"--output={work / 'acc.log'}")
    assert last_json(post)["top1"] == json.loads(sidecar.read_text())["quantization"]["top1_int8"]


def test_a_raw_input_export_quantizes_too(trained, tmp_path):
    data, checkpoint = trained
    done = export_here(checkpoint, tmp_path / "out", "--file_format=ONNX", "--input=raw", "--quantize=int8",
                       f"--data_url={data}", batch=1)
    assert done.returncode == 0, done.stderr[-3000:]
    model = tmp_path / "out" / "wrn10_1_b1_raw_int8.onnx"
    evaluated = last_json(here(eval_main, f"--data_url={data}", f"--model={model}"))
    sidecar = json.loads((tmp_path / "out" / "wrn10_1_b1_raw_int8.onnx.json").read_text())
    assert evaluated["input_dtype"] == "uint8" and evaluated["top1"] == sidecar["quantization"]["top1_int8"]


def test_a_drop_above_the_tolerance_is_refused_in_one_line_and_nothing_is_written(trained, tmp_path):
    data, checkpoint = trained
    # A negative tolerance demands that INT8 beat FP32 by that much: -101 points cannot be met by any model.
    done = export_here(checkpoint, tmp_path / "out", "--file_format=ONNX", "--quantize=int8", f"--data_url={data}",
                       "--int8_tolerance=-101")
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "int8 model refused" in errors[0] and "Traceback" not in done.stderr
    assert "a drop of" in errors[0] and "on 60 eval images" in errors[0] and "-101 allowed" in errors[0]
    assert not list((tmp_path / "out").glob("*int8*")) and not list((tmp_path / "out").glob(".*"))
    assert (tmp_path / "out" / "wrn10_1_b4.onnx").is_file()  # the FP32 export it was measured against stays


@pytest.mark.parametrize("extra,message", [
    (["--file_format=MINDIR", "--quantize=int8", "--data_url={data}"], "give --file_format ONNX (not MINDIR)"),
    (["--file_format=ONNX", "--quantize=int8"], "give --data_url"),
    (["--file_format=ONNX", "--data_url={data}"], "--data_url is read only with --quantize int8"),
    (["--file_format=ONNX", "--quantize=int8", "--data_url={data}", "--int8_calibration_images=0"],
     "int8 calibration_images 0: expected an integer >= 1"),
    (["--file_format=ONNX", "--quantize=int8", "--data_url={data}", "--int8_tolerance=nan"],
     "int8 tolerance nan"),
])
def test_a_request_that_cannot_be_met_fails_at_once_in_one_line(trained, tmp_path, extra, message):
    data, checkpoint = trained
    started = time.monotonic()
    # The first case through local/export.py itself (one line on the process's stderr), the rest in this process.
    done = (export if extra[0] == "--file_format=MINDIR" else export_here)(
        checkpoint, tmp_path / "out", *[e.format(data=data) for e in extra])
    assert done.returncode == 2 and message in done.stderr, done.stderr[-2000:]
    assert len(done.stderr.strip().splitlines()) == 1 and time.monotonic() - started < 30
    assert not (tmp_path / "out").exists()


def test_the_modelzoo_export_command_quantizes_too(trained, tmp_path):
    data, checkpoint = trained
    # export.py's entry function (the script itself: test_modelzoo.py's test_eval_export_and_310_scripts)
    done = here(modelzoo_export_main, f"--ckpt_file={checkpoint}", "--file_format=ONNX",
                f"--file_name={tmp_path / 'wrn'}", "--config=demo", *model_args(), "--quantize=int8",
                f"--data_url={data}")
    assert done.returncode == 0, done.stderr[-3000:]
    sidecar = json.loads((tmp_path / "wrn_int8.onnx.json").read_text())
    assert sidecar["quantization"]["top1_drop_points"] <= 0.5
    assert last_json(done)["int8"]["input_shape"] == [1, 3, 32, 32] and (tmp_path / "wrn_int8.onnx").is_file()


def test_on_modelarts_a_data_url_without_quantize_is_noted_and_ignored(trained, tmp_path):
    # ModelArts passes --data_url itself to a job that has a data input; locally the same flag is refused above.
    data, checkpoint = trained
    # modelarts/export.py's entry function (the script itself: test_export_infer.py's boot-file export)
    done = export_here(checkpoint, tmp_path / "out", "--file_format=ONNX", f"--data_url={data}",
                       main=modelarts_export_main)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"ignoring --data_url={data}: read only with --quantize int8" in done.stdout
    assert (tmp_path / "out" / "wrn10_1_b4.onnx").is_file() and not list((tmp_path / "out").glob("*int8*"))
