"""Export (MINDIR, ONNX, AIR), the 310 file chain with the CPU runner, and the C++ utilities."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import (ROOT, export_args, last_json, last_json_in_process, model_args, run_cli, run_in_process,
                      tiny_args)
from wrn.cli import eval_main, export_main, infer_main, package_main, preprocess_main
from wrn.deploy.infer import InferError, postprocess
from wrn.serving.sidecar import Sidecar, path_of


@pytest.fixture
def trained(trained_run):
    """The session's tiny run (2 epochs, 43 eval images): its data and best checkpoint, read-only."""
    return trained_run["data"], trained_run["run"] / "ckpt" / "best.ckpt"




def shared_export(trained_exports, file_format: str, batch: int = 4, kind: str = "normalised") -> Path:
    """The session's export of trained_run's best.ckpt (read-only)."""
    return Path(trained_exports["exports"][f"{file_format}/{batch}/{kind}"]["path"])


@pytest.mark.parametrize("file_format,suffix", [("MINDIR", ".mindir"), ("ONNX", ".onnx")])
def test_export_matches_the_checkpoint_and_writes_a_sidecar(trained_exports, file_format, suffix):
    # The MINDIR was written by local/export.py itself, the ONNX by its entry function (trained_exports).
    checkpoint = trained_exports["checkpoint"]
    result = trained_exports["exports"][f"{file_format}/4/normalised"]
    exported = Path(result["path"])
    out = exported.parent
    assert exported.name == f"wrn10_1_b4{suffix}"
    sidecar = json.loads((out / f"wrn10_1_b4{suffix}.json").read_text())
    assert sidecar["sha256"] == hashlib.sha256(exported.read_bytes()).hexdigest()
    assert sidecar["input_shape"] == [4, 3, 32, 32] and sidecar["file_format"] == file_format
    assert (sidecar["config"], sidecar["depth"], sidecar["widen_factor"]) == ("demo", 10, 1)
    assert sidecar["checkpoint"] == str(checkpoint) and sidecar["mindspore"] == "2.8.0"
    assert sidecar["normalisation"]["mean"] == [0.3, 0.3, 0.3]
    assert ("runtime_note" in sidecar) == (file_format == "MINDIR")  # which runtimes read it, and what else to do
    assert 0 <= sidecar["max_abs_difference_vs_checkpoint"] <= 1e-5 == 1e-5
    assert result["max_abs_difference_vs_checkpoint"] == sidecar["max_abs_difference_vs_checkpoint"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    # The file format (its keys) as every earlier version wrote it; read back through the one reader unchanged.
    assert sorted(sidecar) == sorted(SIDECAR_KEYS + (["runtime_note"] if file_format == "MINDIR" else []))
    assert sorted(sidecar["normalisation"]) == ["in_graph", "mean", "scale", "std"]
    assert Sidecar.read(path_of(exported)).to_dict() == sidecar


SIDECAR_KEYS = ["aipp_config", "checkpoint", "config", "dataset", "depth", "file", "file_format", "input_dtype",
                "input_kind", "input_layout", "input_name", "input_shape", "label", "max_abs_difference_vs_checkpoint",
                "mindspore", "normalisation", "num_classes", "sha256", "widen_factor"]


def test_air_on_cpu_fails_at_once(trained, tmp_path):
    started = time.monotonic()
    status, _, err = run_in_process(export_main, *export_args(trained[1], tmp_path / "out", "--file_format=AIR"))
    assert status == 2 and time.monotonic() - started < 20
    assert "file_format AIR needs an Ascend device (this is CPU)" in err
    assert not (tmp_path / "out").exists()
    status, _, err = run_in_process(export_main, *export_args(trained[1], tmp_path / "out", "--file_format=TFLITE"))
    assert status == 2 and "expected one of MINDIR, ONNX, AIR" in err


def test_export_of_another_architecture_is_a_clear_error(trained, tmp_path):
    status, _, err = run_in_process(export_main, *export_args(trained[1], tmp_path / "out", "--file_format=MINDIR",
                                                              "--widen_factor=2", batch=1))
    assert status == 2 and ("--config demo builds WRN-10-2 with 10 classes, but checkpoint "
                            f"{trained[1]} holds WRN-10-1 with 10 classes (recipe 'demo')") in err
    assert not list((tmp_path / "out").glob("*.mindir"))


def test_cpu_chain_gives_the_same_top1_as_eval(trained_exports, tmp_path):
    """The chain's three scripts as subprocesses, on the session's MINDIR; eval's result on its checkpoint."""
    data, reference = trained_exports["data"], trained_exports["eval"]
    work = tmp_path / "work"
    pre = run_cli("cpp_infer/preprocess.py", f"--data_url={data}", f"--output={work}", "--config=demo",
                  "--batch_size=4")
    assert pre.returncode == 0, pre.stderr
    assert len(list((work / "img_data").glob("*.bin"))) == 11  # 43 images: 10 full batches + 1 padded
    assert (work / "img_data" / "wrn_00010.bin").stat().st_size == 4 * 3 * 32 * 32 * 4
    assert (work / "label" / "wrn_00010.bin").stat().st_size == 3 * 4
    infer = run_cli("local/infer.py", f"--mindir={shared_export(trained_exports, 'MINDIR')}",
                    f"--input={work / 'img_data'}", f"--output={work}")
    assert infer.returncode == 0, infer.stderr
    timing = (work / "time_Result" / "test_perform_static.txt").read_text()
    assert "NN inference cost average time:" in timing and "p99_ms:" in timing
    post = run_cli("cpp_infer/postprocess.py", f"--result_dir={work / 'result_Files'}",
                   f"--label_dir={work / 'label'}", f"--output={work / 'acc.log'}")
    assert post.returncode == 0, post.stderr
    chain = json.loads(post.stdout.strip().splitlines()[-1])
    assert chain["images"] == reference["images"] == 43
    assert round(chain["top1"] * 43) == round(reference["top1"] * 43)
    assert "images: 43" in (work / "acc.log").read_text()


def test_postprocess_fails_on_missing_or_short_results(tmp_path):
    (tmp_path / "label").mkdir()
    (tmp_path / "result").mkdir()
    np.array([1, 2], np.int32).tofile(tmp_path / "label" / "wrn_00000.bin")
    with pytest.raises(InferError, match="result_Files|wrn_00000_0.bin is missing"):
        postprocess(tmp_path / "result", tmp_path / "label", tmp_path / "acc.log")
    np.zeros(10, np.float32).tofile(tmp_path / "result" / "wrn_00000_0.bin")
    with pytest.raises(InferError, match="40 bytes, expected float32 logits \\[B >= 2, 10\\]"):
        postprocess(tmp_path / "result", tmp_path / "label", tmp_path / "acc.log")
    assert not (tmp_path / "acc.log").exists()


def test_export_from_obs_checkpoint_to_obs_with_the_modelarts_boot_file(trained, obs_env, object_store, tmp_path):
    bucket = object_store.new_bucket()
    object_store.s3.upload_file(str(trained[1]), bucket, "runs/a/ckpt/best.ckpt")
    code = tmp_path / "code"
    for folder in ("wrn", "modelarts"):
        shutil.copytree(ROOT / folder, code / folder, ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, str(code / "modelarts" / "export.py"), "--config=demo",
                           f"--checkpoint=obs://{bucket}/runs/a/ckpt/best.ckpt", "--file_format=MINDIR",
                           "--batch_size=1", f"--train_url=obs://{bucket}/export/", "--init_method=tcp://x:1",
                           *model_args()],
                          env={**obs_env, "PATH": "/usr/bin:/bin", "GLOG_v": "3", "MA_JOB_DIR": str(code)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    keys = object_store.keys(bucket, "export/")
    assert {"export/wrn10_1_b1.mindir", "export/wrn10_1_b1.mindir.json"} <= set(keys)
    sidecar = json.loads(object_store.read(bucket, "export/wrn10_1_b1.mindir.json"))
    assert sidecar["checkpoint"] == f"obs://{bucket}/runs/a/ckpt/best.ckpt"
    assert sidecar["sha256"] == hashlib.sha256(object_store.read(bucket, "export/wrn10_1_b1.mindir")).hexdigest()


def test_cpp_utilities_build_and_pass_their_unit_tests(tmp_path):
    if not shutil.which("cmake") or not shutil.which("g++"):
        pytest.skip("cmake and g++ are needed to build the C++ utilities")
    configure = subprocess.run(["cmake", "-S", str(ROOT / "cpp_infer"), "-B", str(tmp_path / "build")],
                               capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert configure.returncode == 0, configure.stderr
    # Said plainly: the wheel has no C++ inference API, so only the utilities are built here.
    assert "inference app is skipped" in configure.stdout
    build = subprocess.run(["cmake", "--build", str(tmp_path / "build"), "-j2"], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    test = subprocess.run(["ctest", "--output-on-failure"], cwd=tmp_path / "build", capture_output=True, text=True)
    assert test.returncode == 0, test.stdout
    direct = subprocess.run([str(tmp_path / "build" / "utils_test"), str(tmp_path / "t")], capture_output=True,
                            text=True)
    assert direct.stdout.strip().endswith("passed, 0 failed")


def test_cpp_scripts_explain_themselves(tmp_path):
    usage = subprocess.run(["bash", str(ROOT / "cpp_infer" / "run_infer_310.sh"), "model.mindir"],
                           capture_output=True, text=True)
    assert usage.returncode == 2 and "usage: bash" in usage.stderr and "MINDIR DATA_DIR [DEVICE_ID]" in usage.stderr
    build = subprocess.run(["bash", str(ROOT / "cpp_infer" / "build.sh")], capture_output=True, text=True,
                           env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "MINDSPORE_PATH": str(tmp_path)})
    assert build.returncode == 1 and "MindSpore C++ inference API not found" in build.stderr


def test_an_onnx_export_runs_through_onnx_runtime_with_the_checkpoints_results(trained_exports, tmp_path):
    # The commands' entry functions in this process: the scripts' own runs are
    # test_cpu_chain_gives_the_same_top1_as_eval and test_a_model_file_of_another_kind_is_one_line.
    data, reference = trained_exports["data"], trained_exports["eval"]
    onnx, mindir = shared_export(trained_exports, "ONNX"), shared_export(trained_exports, "MINDIR")
    # The exported file alone: its sidecar says how to normalise the images.
    status, out, err = run_in_process(eval_main, f"--data_url={data}", f"--model={onnx}",
                                      f"--output={tmp_path / 'e.json'}")
    assert status == 0, err[-2000:]
    result = last_json(out)
    assert result["engine"].startswith("ONNX Runtime") and result["images"] == reference["images"] == 43
    assert round(result["top1"] * 43) == round(reference["top1"] * 43)
    assert round(result["top5"] * 43) == round(reference["top5"] * 43)
    assert json.loads((tmp_path / "e.json").read_text()) == result

    work = tmp_path / "work"
    assert run_in_process(preprocess_main, f"--data_url={data}", f"--output={work}", "--config=demo",
                          "--batch_size=4")[0] == 0
    logits = {}
    for model in (onnx, mindir):
        status, _, err = run_in_process(infer_main, f"--model={model}", f"--input={work / 'img_data'}",
                                        f"--output={work / model.suffix[1:]}")
        assert status == 0, err[-2000:]
        assert "NN inference cost average time:" in (work / model.suffix[1:] / "time_Result" /
                                                     "test_perform_static.txt").read_text()
        logits[model.suffix] = np.concatenate([np.fromfile(p, np.float32) for p in
                                               sorted((work / model.suffix[1:] / "result_Files").glob("*.bin"))])
    np.testing.assert_allclose(logits[".onnx"], logits[".mindir"], atol=1e-4)


def test_a_model_file_of_another_kind_is_one_line(tmp_path):
    (tmp_path / "model.pb").write_bytes(b"x")
    done = run_cli("local/eval.py", f"--data_url={tmp_path}", f"--model={tmp_path / 'model.pb'}")
    assert done.returncode == 2 and "expected a .mindir or .onnx file" in done.stderr and "Traceback" not in done.stderr
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    done = run_cli("local/infer.py", f"--model={tmp_path / 'broken.onnx'}", f"--input={tmp_path}",
                   f"--output={tmp_path / 'out'}")
    assert done.returncode == 2 and "onnxruntime cannot load it" in done.stderr and "Traceback" not in done.stderr


# ---- self-describing checkpoints ------------------------------------------------------------------------------------

def test_a_checkpoint_builds_its_own_network_for_eval_export_and_package(trained_exports, tmp_path):
    data, best = trained_exports["data"], trained_exports["checkpoint"]
    copied = tmp_path / "elsewhere" / "model.ckpt"  # no run folder beside it: the file alone describes its network
    copied.parent.mkdir()
    shutil.copy(best, copied)
    status, plain, err = run_in_process(eval_main, f"--data_url={data}", f"--checkpoint={copied}")
    assert status == 0, err[-2000:]
    # told: eval with --config demo and the tiny recipe's keys, as trained_exports ran it
    assert last_json(plain)["top1"] == trained_exports["eval"]["top1"]
    status, _, err = run_in_process(export_main, f"--checkpoint={copied}", "--file_format=MINDIR",
                                    f"--train_url={tmp_path / 'x'}")
    assert status == 0, err[-2000:]
    sidecar = json.loads((tmp_path / "x" / "wrn10_1_b1.mindir.json").read_text())
    assert (sidecar["config"], sidecar["depth"], sidecar["widen_factor"]) == ("demo", 10, 1)
    status, _, err = run_in_process(package_main, f"--checkpoint={copied}", f"--train_url={tmp_path / 'pkg'}")
    assert status == 0, err[-2000:]
    assert (tmp_path / "pkg" / "model" / "wrn10_1_b1_raw.onnx").is_file()


def test_an_older_checkpoint_without_its_config_works_with_config(trained, tmp_path):
    from wrn.config import load_config
    from wrn.output import checkpoint as ckpt
    from wrn.builder.build import build_network

    data, best = trained
    params = ckpt.read(best)
    assert ckpt.CONFIG_KEY in params
    net = build_network(load_config("demo", dict(a[2:].split("=", 1) for a in tiny_args())))
    ckpt.load_into(net, params, best)
    old = tmp_path / "old.ckpt"
    ckpt.save(old, net)  # as checkpoints were written before they carried their config
    assert ckpt.CONFIG_KEY not in ckpt.read(old)
    status, _, err = run_in_process(eval_main, "--config=demo", *tiny_args(), f"--data_url={data}",
                                    f"--checkpoint={old}")
    assert status == 0, err[-2000:]
    # the default recipe, WRN-40-10
    status, _, err = run_in_process(eval_main, f"--data_url={data}", f"--checkpoint={old}")
    assert status == 2 and "does not match this network" in err and "Traceback" not in err


# ---- exported files under damage ------------------------------------------------------------------------------------

def test_damaged_empty_or_foreign_mindir_files_are_one_line(trained_exports, tmp_path):
    data, best = trained_exports["data"], trained_exports["checkpoint"]
    good = shared_export(trained_exports, "MINDIR", 1).read_bytes()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.bin").write_bytes(np.zeros(3 * 32 * 32, np.float32).tobytes())
    for name, content in (("empty", b""), ("text", b"not a model at all\n"), ("checkpoint", best.read_bytes()),
                          ("truncated", good[: len(good) // 2])):
        model = tmp_path / f"{name}.mindir"
        model.write_bytes(content)
        # in-process (the scripts' own exit status and line: test_a_model_file_of_another_kind_is_one_line)
        for main, *args in ((eval_main, f"--data_url={data}", f"--model={model}"),
                            (infer_main, f"--model={model}", f"--input={tmp_path / 'in'}",
                             f"--output={tmp_path / 'out'}")):
            status, _, err = run_in_process(main, *args)
            assert status == 2 and "Traceback" not in err, (name, err[-1500:])
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith(f"error: model {model}"), (name, lines)


def test_infer_checks_its_output_before_the_work(trained, tmp_path):
    (tmp_path / "out").write_text("a file")
    status, _, err = run_in_process(infer_main, f"--model={tmp_path / 'missing.mindir'}", f"--input={tmp_path}",
                                    f"--output={tmp_path / 'out'}")
    assert status == 2 and f"--output {tmp_path / 'out'} is a file: give a folder" in err


def test_a_model_without_its_sidecar_is_checked_against_the_datas_classes(trained, tmp_path):
    from wrn.config import load_config
    from wrn.output import checkpoint as ckpt
    from wrn.builder.build import build_network

    data, _ = trained
    cfg = load_config("demo", {**dict(a[2:].split("=", 1) for a in tiny_args()), "dataset": "cifar100"})
    ckpt.save(tmp_path / "c100.ckpt", build_network(cfg), config_text=cfg.to_yaml())
    status, _, err = run_in_process(export_main, f"--checkpoint={tmp_path / 'c100.ckpt'}", "--file_format=MINDIR",
                                    f"--train_url={tmp_path / 'x'}")
    assert status == 0, err[-2000:]
    (tmp_path / "x" / "wrn10_1_b1.mindir.json").unlink()
    status, _, err = run_in_process(eval_main, f"--data_url={data}", f"--model={tmp_path / 'x' / 'wrn10_1_b1.mindir'}")
    assert status == 2 and (f"model {tmp_path / 'x' / 'wrn10_1_b1.mindir'} gives 100 class scores, but the "
                            "data (cifar10, fine labels) has 10 classes") in err


def test_exports_and_checkpoints_are_readable_by_a_deployment(trained_exports):
    best, mindir = trained_exports["checkpoint"], shared_export(trained_exports, "MINDIR", 4)
    for path in (best, best.with_name("last.ckpt"), mindir, Path(f"{mindir}.json")):
        assert path.stat().st_mode & 0o777 == 0o644, path  # under the usual umask 022


@pytest.mark.parametrize("batch", ["0", "-3", "5000"])
def test_export_batch_size_is_bounded(trained, tmp_path, batch):
    status, _, err = run_in_process(export_main, *export_args(trained[1], tmp_path / "out", "--file_format=MINDIR",
                                                              batch=batch))
    assert status == 2 and f"batch_size {batch}: expected an integer in [1, 1024]" in err


def test_a_killed_export_leaves_no_temp_file_at_the_next_export(trained, tmp_path):
    out = tmp_path / "out"
    # local/export.py as a subprocess: what only a process shows, a kill
    killed = run_cli("local/export.py", *export_args(trained[1], out, "--file_format=MINDIR", batch=1),
                     env={"WRN_TEST_KILL_AT": "export-written:0"})
    assert killed.returncode == -9 and [p.name for p in out.glob(".*tmp*")]
    # the next export, in this process
    last_json_in_process(export_main, *export_args(trained[1], out, "--file_format=MINDIR", batch=1))
    assert not list(out.glob(".*tmp*")) and (out / "wrn10_1_b1.mindir").is_file()
