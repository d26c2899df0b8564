"""Raw-image models (`export --input raw`: uint8 NHWC pixels in, the recipe's normalisation inside the graph), their
runs through eval --model and the CPU file chain, and the ATC AIPP route for the float export (config + convert_om.sh).

ATC (the CANN toolkit) is not available here: convert_om.sh is run against a stand-in `atc` that records its
arguments; the AIPP arithmetic is checked as the CANN ATC page "Normalization Configuration" documents it
(https://www.hiascend.com/document/detail/en/CANNCommunityEdition/900/devaids/atctool/atlasatc_16_0022.html):
pixel_out_chx(i) = [pixel_in_chx(i) - mean_chn_i - min_chn_i] * var_reci_chn_i.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import (ROOT, TINY, export_args, last_json_in_process, make_cifar, model_args, run_cli,
                      run_in_process)
from test_sidecar import CURRENT
from wrn.cli import eval_main, export_main, infer_main, modelzoo_export_main, postprocess_main, preprocess_main
from wrn.config import load_config
from wrn.cifar import FORMATS, read_records

BATCH = 4
EVAL_IMAGES = 43


@pytest.fixture(scope="session")
def exports(trained_exports) -> dict:
    """The session's tiny checkpoint, its eval result, and its raw ONNX/MINDIR and float ONNX exports (batch 4, one
    folder), from trained_exports; read-only."""
    data = trained_exports["data"]
    assert len(read_records([data / "eval" / "test_batch.bin"], FORMATS["cifar10"])[1]) == EVAL_IMAGES
    files = {(file_format, kind): Path(trained_exports["exports"][f"{file_format}/{BATCH}/{kind}"]["path"])
             for file_format, kind in (("ONNX", "raw"), ("MINDIR", "raw"), ("ONNX", "normalised"))}
    return {"data": data, "checkpoint": trained_exports["checkpoint"], "eval": trained_exports["eval"],
            "files": files}


# The commands run as entry functions in this process; the scripts' own runs are test_export_infer.py's cpu chain
# and one-line errors.
ok = last_json_in_process


def sidecar(path: Path) -> dict:
    return json.loads(Path(f"{path}.json").read_text())


def recipe_normalisation(pixels: np.ndarray, mean, std) -> np.ndarray:
    """The recipe's normalisation written out here on its own: (pixel / 255 - mean) / std per RGB channel, NHWC."""
    return (pixels.astype(np.float64) / 255.0 - np.asarray(mean, np.float64)) / np.asarray(std, np.float64)


def eval_pixels(data: Path, dataset: str = "cifar10") -> np.ndarray:
    fmt = FORMATS[dataset]
    images, _ = read_records([next(data.rglob(fmt.eval_file))], fmt, "fine")
    return images


@pytest.mark.parametrize("file_format,suffix", [("ONNX", ".onnx"), ("MINDIR", ".mindir")])
def test_a_raw_export_takes_uint8_pixels_and_gives_the_checkpoints_logits(exports, file_format, suffix):
    path = exports["files"][file_format, "raw"]
    assert path.name == f"wrn10_1_b{BATCH}_raw{suffix}"  # the raw variant is told apart by its name
    details = sidecar(path)
    assert details["input_kind"] == "raw" and details["input_dtype"] == "uint8"
    assert details["input_layout"] == "NHWC" and details["input_shape"] == [BATCH, 32, 32, 3]
    assert details["normalisation"]["in_graph"] is True
    assert details["normalisation"]["mean"] == [0.3, 0.3, 0.3] and details["normalisation"]["std"] == [0.32] * 3
    assert details["input_name"] == "x" and 0 <= details["max_abs_difference_vs_checkpoint"] <= 1e-5
    assert "aipp_config" not in details and not path.with_name(f"wrn10_1_b{BATCH}_raw.aipp.cfg").exists()

    # Checked here on its own: the raw file on real CIFAR pixels gives the float export's logits on the same pixels
    # normalised in numpy (both exports were verified against the checkpoint network).
    pixels = eval_pixels(exports["data"])[:BATCH]
    normalised = recipe_normalisation(pixels, [0.3] * 3, [0.32] * 3).transpose(0, 3, 1, 2).astype(np.float32)
    import onnxruntime

    float_session = onnxruntime.InferenceSession(str(exports["files"]["ONNX", "normalised"]),
                                                 providers=["CPUExecutionProvider"])
    expected = float_session.run(None, {"x": normalised})[0]
    if file_format == "ONNX":
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (model_input,) = session.get_inputs()
        assert model_input.type == "tensor(uint8)" and model_input.shape == [BATCH, 32, 32, 3]
        got = session.run(None, {model_input.name: pixels})[0]
    else:
        from wrn.deploy.runners import open_model

        runner = open_model(path)
        assert runner.input_dtype == "uint8" and runner.input_shape == (BATCH, 32, 32, 3)
        got = runner(pixels)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * max(1.0, float(np.abs(expected).max())))


def test_a_float_export_records_its_input_and_gets_an_aipp_config(exports):
    path = exports["files"]["ONNX", "normalised"]
    details = sidecar(path)
    assert (details["input_kind"], details["input_dtype"], details["input_layout"]) == ("normalised", "float32", "NCHW")
    assert details["input_shape"] == [BATCH, 3, 32, 32] and details["normalisation"]["in_graph"] is False
    assert details["aipp_config"] == f"wrn10_1_b{BATCH}.aipp.cfg" and (path.parent / details["aipp_config"]).is_file()


def test_eval_and_the_cpu_chain_of_a_raw_model_score_what_the_checkpoint_scores(exports, tmp_path):
    data, reference = exports["data"], exports["eval"]
    raw_onnx, raw_mindir = exports["files"]["ONNX", "raw"], exports["files"]["MINDIR", "raw"]
    alone = tmp_path / "alone" / "model.mindir"  # no sidecar: the MINDIR's own graph says its input is uint8
    alone.parent.mkdir()
    shutil.copy(raw_mindir, alone)
    for model in (raw_onnx, raw_mindir, alone):
        result = ok(eval_main, f"--data_url={data}", f"--model={model}", "--config=demo")
        assert result["input_dtype"] == "uint8" and result["images"] == reference["images"] == EVAL_IMAGES
        assert result["top1"] == reference["top1"] and result["top5"] == reference["top5"]

    work = tmp_path / "work"
    pre = ok(preprocess_main, f"--data_url={data}", f"--output={work / 'raw'}", f"--sidecar={raw_onnx}.json",
             f"--batch_size={BATCH}")
    assert pre["input_dtype"] == "uint8"
    files = sorted((work / "raw" / "img_data").glob("*.bin"))
    assert len(files) == 11 and all(f.stat().st_size == BATCH * 32 * 32 * 3 for f in files)
    # The files are the pixels as decoded, NHWC, the last batch zero-padded.
    pixels = eval_pixels(data)
    np.testing.assert_array_equal(np.fromfile(files[0], np.uint8).reshape(BATCH, 32, 32, 3), pixels[:BATCH])
    assert not np.fromfile(files[-1], np.uint8).reshape(BATCH, 32, 32, 3)[3:].any()

    ok(preprocess_main, f"--data_url={data}", f"--output={work / 'float'}",
       f"--sidecar={exports['files']['ONNX', 'normalised']}.json", f"--batch_size={BATCH}")
    ok(infer_main, f"--model={exports['files']['ONNX', 'normalised']}", f"--input={work / 'float' / 'img_data'}",
       f"--output={work / 'float_out'}")
    for model in (raw_onnx, raw_mindir):
        out = work / model.suffix[1:]
        infer = ok(infer_main, f"--model={model}", f"--input={work / 'raw' / 'img_data'}", f"--output={out}")
        assert infer["input_dtype"] == "uint8"
        chain = ok(postprocess_main, f"--result_dir={out / 'result_Files'}", f"--label_dir={work / 'raw' / 'label'}",
                   f"--output={out / 'acc.log'}")
        assert (chain["images"], chain["top1"], chain["top5"]) == (EVAL_IMAGES, reference["top1"], reference["top5"])
        for result in sorted((out / "result_Files").glob("*.bin")):
            # Per real image (a padded slot is zero pixels here, zero normalised values there).
            real = np.fromfile(work / "raw" / "label" / result.name.replace("_0.bin", ".bin"), np.int32).size
            np.testing.assert_allclose(
                np.fromfile(result, np.float32).reshape(BATCH, -1)[:real],
                np.fromfile(work / "float_out" / "result_Files" / result.name, np.float32).reshape(BATCH, -1)[:real],
                atol=1e-4)


def test_inputs_of_the_wrong_kind_are_one_clear_error(exports, tmp_path):
    data = exports["data"]
    raw_model, float_model = exports["files"]["MINDIR", "raw"], exports["files"]["ONNX", "normalised"]
    float_files = tmp_path / "float"
    ok(preprocess_main, f"--data_url={data}", f"--output={float_files}", "--config=demo", f"--batch_size={BATCH}")
    status, _, err = run_in_process(infer_main, f"--model={raw_model}", f"--input={float_files / 'img_data'}",
                                    f"--output={tmp_path / 'out'}")
    assert status == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"error: {float_files / 'img_data' / 'wrn_00000.bin'}: 49152 bytes, expected 12288 (uint8 NHWC [4, 32, 32, 3]: "
        "raw pixels, the model normalises them itself); it is the size of a float32 batch: preprocess wrote "
        "normalised files, but this model takes raw pixels (preprocess with --sidecar of this model, or --input raw)")
    assert not (tmp_path / "out" / "result_Files").exists()

    # No sidecar: --input raw says it (a sidecar decides itself, and a contradicting --input is refused).
    raw_files = tmp_path / "raw"
    explicit = ok(preprocess_main, f"--data_url={data}", f"--output={raw_files}", "--config=demo", "--input=raw",
                  f"--batch_size={BATCH}")
    assert explicit["input_dtype"] == "uint8"
    status, _, err = run_in_process(infer_main, f"--model={float_model}", f"--input={raw_files / 'img_data'}",
                                    f"--output={tmp_path / 'out'}")
    assert status == 2 and "12288 bytes, expected 49152 (float32 NCHW [4, 3, 32, 32]" in err
    assert "size of a uint8 batch" in err and "Traceback" not in err
    status, _, err = run_in_process(preprocess_main, f"--data_url={data}", f"--output={tmp_path / 'x'}",
                                    f"--sidecar={raw_model}.json", "--input=normalised", f"--batch_size={BATCH}")
    assert status == 2 and "describes a model that takes raw input" in err
    assert not (tmp_path / "x").exists()

    # A wrongly sized file of neither kind, and a batch of the wrong type handed to the runner directly.
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    (truncated / "wrn_00000.bin").write_bytes((raw_files / "img_data" / "wrn_00000.bin").read_bytes()[:-1])
    status, _, err = run_in_process(infer_main, f"--model={raw_model}", f"--input={truncated}",
                                    f"--output={tmp_path / 'out'}")
    assert status == 2 and "wrn_00000.bin: 12287 bytes, expected 12288 (uint8 NHWC" in err
    assert "float32 batch" not in err
    from wrn.deploy.runners import RunnerError, open_model

    runner = open_model(raw_model)
    with pytest.raises(RunnerError, match="takes uint8 NHWC .*; got a float32 batch"):
        runner(np.zeros((BATCH, 3, 32, 32), np.float32))
    with pytest.raises(RunnerError, match="takes float32 NCHW .*; got a uint8 batch"):
        open_model(float_model)(np.zeros((BATCH, 3, 32, 32), np.uint8))


def test_the_input_kind_is_checked_before_anything_is_loaded(tmp_path):
    from wrn.deploy.export import export as export_model
    from wrn.deploy.rawinput import InputKindError

    with pytest.raises(InputKindError, match="input 'pixels': expected one of normalised, raw"):
        export_model(load_config("demo", TINY), str(tmp_path / "missing.ckpt"), "MINDIR", 1, str(tmp_path / "out"),
                     input_kind="pixels")
    assert not (tmp_path / "out").exists()
    status, _, err = run_in_process(export_main, *export_args(tmp_path / "missing.ckpt", tmp_path / "out",
                                                              "--file_format=MINDIR", "--input=pixels", batch=BATCH))
    assert status == 2 and "invalid choice: 'pixels'" in err


def parse_aipp(text: str) -> dict:
    """The aipp_op block of a prototxt AIPP config, read as ATC reads its fields: `key: value` lines, # comments."""
    body = re.search(r"aipp_op\s*\{(.*?)\}", re.sub(r"#[^\n]*", "", text), re.S)
    assert body, text
    fields = {}
    for line in body.group(1).splitlines():
        if line.strip():
            key, value = (part.strip() for part in line.split(":", 1))
            fields[key] = value
    return fields


def aipp_apply(pixels: np.ndarray, fields: dict) -> np.ndarray:
    """AIPP's documented normalisation on uint8 RGB pixels (NHWC; channel i of RGB888_U8 without swap is R, G, B)."""
    out = np.empty(pixels.shape, np.float64)
    for i in range(3):
        out[..., i] = ((pixels[..., i].astype(np.float64) - float(fields[f"mean_chn_{i}"]) -
                        float(fields[f"min_chn_{i}"])) * float(fields[f"var_reci_chn_{i}"]))
    return out


def check_aipp(fields: dict, pixels: np.ndarray, mean, std) -> None:
    assert (fields["aipp_mode"], fields["input_format"]) == ("static", "RGB888_U8")
    assert (fields["csc_switch"], fields["rbuv_swap_switch"]) == ("false", "false")
    assert (fields["src_image_size_w"], fields["src_image_size_h"]) == ("32", "32")
    expected = recipe_normalisation(pixels, mean, std)
    got = aipp_apply(pixels, fields)
    # The arithmetic equals the recipe's within float32 precision...
    np.testing.assert_allclose(got.astype(np.float32), expected.astype(np.float32), rtol=1e-5, atol=1e-5)
    # ...and Ascend's AIPP hands the network float16: every value is the recipe's rounded to half precision.
    half = got.astype(np.float16).astype(np.float64)
    np.testing.assert_allclose(half, expected, rtol=2.0 ** -11, atol=2.0 ** -24 + 1e-6)


def test_the_aipp_config_written_beside_a_float_export_normalises_real_pixels_as_the_recipe(exports):
    path = exports["files"]["ONNX", "normalised"]
    text = (path.parent / sidecar(path)["aipp_config"]).read_text()
    assert "atlasatc_16_0022.html" in text and "atlasatc_16_0025.html" in text and "float16" in text
    every_value = np.repeat(np.arange(256, dtype=np.uint8), 12).reshape(1, 32, 32, 3)  # each value, each channel
    pixels = np.concatenate([eval_pixels(exports["data"]), every_value])
    check_aipp(parse_aipp(text), pixels, [0.3] * 3, [0.32] * 3)


@pytest.mark.parametrize("recipe", ["wrn16_4", "wrn28_10_c100"])
def test_aipp_command_writes_the_config_of_any_recipe_from_a_sidecar(recipe, tmp_path):
    cfg = load_config(recipe)
    data = make_cifar(tmp_path / "data", eval_size=30, dataset=cfg.dataset)
    side = {**CURRENT, "file": "m.air", "file_format": "AIR", "input_shape": [2, 3, 32, 32],
            "normalisation": {**CURRENT["normalisation"], "mean": cfg.mean, "std": cfg.std}}
    (tmp_path / "m.air.json").write_text(json.dumps(side))
    done = run_cli("-m", "wrn.cli", "aipp", str(tmp_path / "m.air.json"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["aipp_config"] == str(tmp_path / "m.aipp.cfg")
    pixels = np.concatenate([eval_pixels(data, cfg.dataset), np.full((1, 32, 32, 3), 255, np.uint8)])
    check_aipp(parse_aipp((tmp_path / "m.aipp.cfg").read_text()), pixels, cfg.mean, cfg.std)


def test_aipp_is_refused_where_it_would_be_wrong(exports, tmp_path):
    raw = exports["files"]["ONNX", "raw"]
    done = run_cli("-m", "wrn.cli", "aipp", f"{raw}.json", f"--output={tmp_path / 'a.cfg'}")
    assert done.returncode == 2 and "normalises inside its graph" in done.stderr and "twice" in done.stderr
    assert not (tmp_path / "a.cfg").exists()
    bad = {**CURRENT, "file": "m.air", "normalisation": {**CURRENT["normalisation"], "mean": [1.5, 0.5, 0.5]}}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    done = run_cli("-m", "wrn.cli", "aipp", str(tmp_path / "bad.json"))
    assert done.returncode == 2 and "normalisation mean[0] = 1.5: expected a value in [0, 1]" in done.stderr
    (tmp_path / "junk.json").write_text("{")
    done = run_cli("-m", "wrn.cli", "aipp", str(tmp_path / "junk.json"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: sidecar {tmp_path / 'junk.json'}: not valid JSON")


def stand_in_atc(folder: Path) -> Path:
    """A recording stand-in for CANN's `atc` (not installable here): writes its arguments, one a line, and the .om
    that --output names, as ATC does ("Command-Line Options": --output is the OM path without the suffix)."""
    atc = folder / "atc"
    atc.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$ATC_ARGS"\n'
                   'for a in "$@"; do case "$a" in --output=*) : > "${a#--output=}.om";; esac; done\n')
    atc.chmod(0o755)
    return atc


def test_convert_om_passes_the_documented_atc_arguments(exports, tmp_path):
    float_onnx = exports["files"]["ONNX", "normalised"]
    # An AIR needs Ascend to export; the script only reads its sidecar and suffix, so the ONNX file stands in for one.
    air = tmp_path / "wrn10_1_b4.air"
    shutil.copy(float_onnx, air)
    Path(f"{air}.json").write_text(json.dumps({**sidecar(float_onnx), "file": air.name, "file_format": "AIR"}))
    atc = stand_in_atc(tmp_path)
    env = {**os.environ, "ATC": str(atc), "ATC_ARGS": str(tmp_path / "args.txt"), "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(ROOT / "cpp_infer" / "convert_om.sh"), str(air)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    aipp = tmp_path / "wrn10_1_b4.aipp.cfg"  # written from the sidecar, as there was none beside the AIR
    assert f"wrote {aipp}" in done.stdout and aipp.is_file()
    assert (tmp_path / "args.txt").read_text().splitlines() == [
        f"--model={air}", "--framework=1", f"--output={tmp_path / 'wrn10_1_b4'}", "--soc_version=Ascend310",
        f"--insert_op_conf={aipp}", "--input_format=NCHW", "--input_shape=x:4,3,32,32", "--log=error"]
    assert (tmp_path / "wrn10_1_b4.om").is_file()

    onnx = run_bash_convert(float_onnx, env, str(tmp_path / "out"), SOC_VERSION="Ascend310P3")
    assert onnx.returncode == 0, onnx.stderr
    args = (tmp_path / "args.txt").read_text().splitlines()
    assert "--framework=5" in args and "--soc_version=Ascend310P3" in args
    assert f"--insert_op_conf={float_onnx.with_name('wrn10_1_b4.aipp.cfg')}" in args  # the one export wrote


def run_bash_convert(model: Path, env: dict, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / "cpp_infer" / "convert_om.sh"), str(model), *args],
                          capture_output=True, text=True, env={**env, **extra_env}, timeout=120)


def test_convert_om_refuses_what_atc_cannot_take_and_says_where_atc_comes_from(exports, tmp_path):
    env = {**os.environ, "ATC": str(stand_in_atc(tmp_path)), "ATC_ARGS": str(tmp_path / "args.txt"),
           "PYTHON": sys.executable}
    raw = run_bash_convert(exports["files"]["ONNX", "raw"], env)
    assert raw.returncode == 2 and "normalises them in its graph" in raw.stderr and "float export" in raw.stderr
    mindir = run_bash_convert(exports["files"]["MINDIR", "raw"], env)
    assert mindir.returncode == 2 and "expected an .air (MindSpore, --framework=1) or .onnx" in mindir.stderr
    missing = run_bash_convert(exports["files"]["ONNX", "normalised"], {**env, "ATC": "atc-not-installed"})
    assert missing.returncode == 2 and "atc-not-installed not found: ATC comes with the Ascend CANN toolkit" in \
        missing.stderr
    assert not (tmp_path / "args.txt").exists()
    lone = tmp_path / "lone.onnx"
    lone.write_bytes(b"x")
    alone = run_bash_convert(lone, env)
    assert alone.returncode == 2 and f"sidecar {lone}.json does not exist" in alone.stderr


def test_the_modelzoo_export_command_takes_the_input_kind_too(exports, tmp_path):
    # export.py's entry function (the script itself: test_modelzoo.py's test_eval_export_and_310_scripts)
    model = [a for a in model_args() if a.startswith(("--depth=", "--widen_factor="))]
    ok(modelzoo_export_main, f"--ckpt_file={exports['checkpoint']}", "--file_format=MINDIR",
       f"--file_name={tmp_path / 'wideresnet_raw'}", "--config=demo", "--input=raw", *model)
    details = sidecar(tmp_path / "wideresnet_raw.mindir")
    assert (details["input_dtype"], details["input_shape"]) == ("uint8", [1, 32, 32, 3])


def test_a_normalisation_aipp_cannot_express_costs_the_config_not_the_export(exports, tmp_path):
    ok(export_main, *export_args(exports["checkpoint"], tmp_path / "out", "--file_format=ONNX", "--mean=1.5,0.5,0.5",
                          batch=BATCH))
    details = sidecar(tmp_path / "out" / f"wrn10_1_b{BATCH}.onnx")
    assert "aipp_config" not in details and not list((tmp_path / "out").glob("*.aipp.cfg"))
    assert "no ATC AIPP config for wrn10_1_b4.onnx: normalisation mean[0] = 1.5: expected a value in [0, 1]" in \
        (tmp_path / "out" / "export.log").read_text()
