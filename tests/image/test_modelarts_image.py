"""The boot files as a ModelArts MindSpore image runs them: Python 3.9, an old MindSpore, only numpy, pyyaml, pillow
and MoXing besides, the code folder exactly as `submit.py upload-code` uploads it, ModelArts' environment.

`make test-image` builds that interpreter (.venv-image); MoXing is the documented stand-in in tests/standins.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from conftest import TINY, make_cifar, run_cli
from tiers import STANDINS, image_python

pytestmark = pytest.mark.image

BUCKET = "wrn-bucket"
# A run long enough to be killed between its first checkpoint upload and its end.
RUN = {**TINY, "epochs": 6, "warmup_epochs": 0, "log_interval": 8}


def tiny_args(values: dict) -> list[str]:
    return [f"--{k}={v}" for k, v in values.items()]


@pytest.fixture(scope="module")
def obs(tmp_path_factory) -> Path:
    """The folder that plays OBS for the MoXing stand-in: obs://bucket/key is obs/bucket/key."""
    root = tmp_path_factory.mktemp("obs")
    make_cifar(root / BUCKET / "cifar10", train_sizes=(256,), eval_size=40)
    return root


@pytest.fixture(scope="module")
def code(obs, tmp_path_factory) -> Path:
    """Upload the code with the real `submit.py upload-code` (through MoXing), then lay it out as ModelArts does
    before it starts the boot file: code_dir downloaded into the job's working folder."""
    uploaded = run_cli("modelarts/submit.py", "upload-code", "modelarts/jobs/wrn40_10_1p.yaml",
                       "--var", f"OBS_BUCKET={BUCKET}",
                       env={"PYTHONPATH": str(STANDINS), "MOXING_STANDIN_ROOT": str(obs)})
    assert uploaded.returncode == 0, uploaded.stderr
    job_dir = tmp_path_factory.mktemp("user-job-dir")
    shutil.copytree(obs / BUCKET / "wrn" / "code", job_dir / "code")
    assert not (job_dir / "code" / "tests").exists() and (job_dir / "code" / "modelarts" / "train.py").is_file()
    return job_dir / "code"


def server_list_table(path: Path) -> Path:
    path.write_text(json.dumps({"version": "1.0", "server_count": "1", "status": "completed", "server_list": [
        {"server_id": "192.168.0.2", "device": [{"device_id": "0", "device_ip": "192.1.1.1", "rank_id": "0"}]}]}))
    return path


def group_list_folder(folder: Path) -> Path:
    """ModelArts' older jobstart_hccl.json: instances without rank_id; RANK_TABLE_FILE names its folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "jobstart_hccl.json").write_text(json.dumps({"status": "completed", "group_count": "1", "group_list": [
        {"group_name": "job-wrn", "device_count": "1", "instance_count": "1", "instance_list": [
            {"pod_name": "job-wrn-0", "server_id": "192.168.0.2",
             "devices": [{"device_id": "0", "device_ip": "192.1.1.1"}]}]}]}))
    return folder


def job_env(tmp_path: Path, obs: Path, rank_table: Path) -> dict:
    """ModelArts' variables for one card; MoXing importable as in the image; no OBS SDK credentials."""
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("PYTHON", "OBS_", "S3_", "VIRTUAL_ENV", "WRN_"))}
    return {**keep, "PYTHONPATH": str(STANDINS), "MOXING_STANDIN_ROOT": str(obs), "GLOG_v": "3",
            "MA_JOB_DIR": str(tmp_path / "user-job-dir"), "MA_LOG_DIR": str(tmp_path / "malog"),
            "VC_TASK_INDEX": "0", "MA_NUM_HOSTS": "1", "RANK_TABLE_FILE": str(rank_table), "RANK_ID": "0",
            "RANK_SIZE": "1", "ASCEND_DEVICE_ID": "0", "WRN_SCRATCH_DIR": str(tmp_path / "cache")}


def boot(code: Path, env: dict, script: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(image_python()), str(code / "modelarts" / script), *args], cwd=code.parent, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_the_image_interpreter_holds_only_what_a_job_may_count_on():
    probe = subprocess.run([str(image_python()), "-c", """
import importlib.util, json, sys
import mindspore
present = {m: importlib.util.find_spec(m) is not None
           for m in ("numpy", "yaml", "PIL", "matplotlib", "tqdm", "obs", "sklearn", "moxing", "onnxruntime",
                     "tensorboard")}
print(json.dumps({"python": sys.version_info[:2], "mindspore": mindspore.__version__, "present": present}))
"""], capture_output=True, text=True, env={**os.environ, "GLOG_v": "3", "PYTHONPATH": ""})
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    assert found["python"] == [3, 9]
    assert found["present"] == {"numpy": True, "yaml": True, "PIL": True, "matplotlib": False, "tqdm": False,
                                "obs": False, "sklearn": False, "moxing": False, "onnxruntime": False,
                                "tensorboard": False}


def test_recipes_are_readable_from_the_code_folder_and_from_a_zip(code, tmp_path):
    archive = tmp_path / "wrn.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted((code / "wrn").rglob("*")):
            if path.is_file():
                zipped.write(path, path.relative_to(code).as_posix())
    for location in (code, archive):
        read = subprocess.run([str(image_python()), "-c", f"""
import sys; sys.path.insert(0, {str(location)!r})
import wrn.config as config
assert config.__file__.startswith({str(location)!r}), config.__file__
print(config.recipe_names(), config.load_config("wrn40_10").epochs)
"""], capture_output=True, text=True)
        assert read.returncode == 0, read.stderr
        assert read.stdout.split("]")[0].count("'") >= 8 and read.stdout.strip().endswith("300")


@pytest.fixture(scope="module")
def obs_run(code, obs, tmp_path_factory) -> dict:
    """An old-style job (obs:// URLs through MoXing), killed after its first checkpoint upload, then restarted as
    the platform restarts a job (same arguments; --resume=auto is the boot file's default)."""
    tmp_path = tmp_path_factory.mktemp("obs-run")
    env = job_env(tmp_path, obs, server_list_table(tmp_path / "rank_table.json"))
    args = [str(image_python()), str(code / "modelarts" / "train.py"), f"--data_url=obs://{BUCKET}/cifar10/",
            f"--train_url=obs://{BUCKET}/job/output/", "--init_method=tcp://192.168.0.2:6000", "--config=demo",
            *tiny_args(RUN)]
    output = obs / BUCKET / "job" / "output"
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(args, cwd=code.parent, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 240
        while not (output / "ckpt" / "last.ckpt").exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
    first_log = (tmp_path / "first.log").read_text()
    assert first.returncode == -signal.SIGKILL, first_log[-3000:]
    assert (output / "ckpt" / "last.ckpt").exists() and not (output / "summary.json").exists(), first_log[-3000:]
    restarted = subprocess.run(args, cwd=code.parent, env=env, capture_output=True, text=True, timeout=300)
    return {"first": first_log, "restarted": restarted, "output": output, "tmp": tmp_path}


def test_old_style_job_killed_after_its_first_upload_resumes_and_leaves_the_whole_run_in_obs(obs_run):
    restarted, output = obs_run["restarted"], obs_run["output"]
    assert restarted.returncode == 0, restarted.stderr[-3000:] + restarted.stdout[-3000:]
    assert "remote storage through MoxingStorage()" in obs_run["first"]  # no OBS SDK, no credentials here
    assert "ignoring platform arguments: --init_method=tcp://192.168.0.2:6000" in restarted.stdout
    assert "ranktable launch on ModelArts: rank 0/1" in restarted.stdout
    assert "resumed from" in restarted.stdout
    assert "matplotlib is not installed: curves.png is skipped" in restarted.stdout
    assert restarted.stdout.count("tensorboard is not installed: no TensorBoard event files") == 1  # said once
    files = {p.relative_to(output).as_posix() for p in output.rglob("*") if p.is_file()}
    assert {"config.yaml", "metrics.jsonl", "train.log", "ckpt/last.ckpt", "ckpt/best.ckpt", "summary.json"} <= files
    epochs = [json.loads(line)["epoch"] for line in (output / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(1, RUN["epochs"] + 1))
    summary = json.loads((output / "summary.json").read_text())
    assert summary["epochs"] == RUN["epochs"] and summary["mindspore"] == image_mindspore()


def image_mindspore() -> str:
    probe = subprocess.run([str(image_python()), "-c", "import mindspore; print(mindspore.__version__)"],
                           capture_output=True, text=True, env={**os.environ, "GLOG_v": "3"})
    return probe.stdout.strip().splitlines()[-1]


def test_export_boot_file_writes_a_verified_mindir_from_the_obs_checkpoint_back_to_obs(obs_run, code, obs):
    env = job_env(obs_run["tmp"], obs, server_list_table(obs_run["tmp"] / "rank_table.json"))
    model = {k: TINY[k] for k in ("depth", "widen_factor")}
    done = boot(code, env, "export.py", "--config=demo", *tiny_args(model),
                f"--checkpoint=obs://{BUCKET}/job/output/ckpt/best.ckpt", "--file_format=MINDIR", "--batch_size=1",
                f"--train_url=obs://{BUCKET}/job/export/")
    assert done.returncode == 0, done.stderr[-3000:]
    exported = obs / BUCKET / "job" / "export"
    sidecar = json.loads((exported / "wrn10_1_b1.mindir.json").read_text())
    assert (exported / "wrn10_1_b1.mindir").stat().st_size > 0
    assert sidecar["mindspore"] == image_mindspore() and sidecar["max_abs_difference_vs_checkpoint"] <= 1e-5


def test_export_boot_file_writes_a_raw_model_that_the_images_mindspore_scores_as_the_run(obs_run, code, obs):
    """--input raw on the image's MindSpore: a uint8 NHWC MINDIR with the normalisation in its graph, verified, and
    evaluated by that MindSpore (which reads the input type from the file's graph, sidecar or not) with the run's
    best top-1."""
    env = job_env(obs_run["tmp"], obs, server_list_table(obs_run["tmp"] / "rank_table.json"))
    model = {k: TINY[k] for k in ("depth", "widen_factor")}
    done = boot(code, env, "export.py", "--config=demo", *tiny_args(model), "--input=raw",
                f"--checkpoint=obs://{BUCKET}/job/output/ckpt/best.ckpt", "--file_format=MINDIR", "--batch_size=4",
                f"--train_url=obs://{BUCKET}/job/export_raw/")
    assert done.returncode == 0, done.stderr[-3000:]
    exported = obs / BUCKET / "job" / "export_raw"
    sidecar = json.loads((exported / "wrn10_1_b4_raw.mindir.json").read_text())
    assert (sidecar["input_dtype"], sidecar["input_layout"], sidecar["input_shape"]) == ("uint8", "NHWC", [4, 32, 32, 3])
    assert sidecar["mindspore"] == image_mindspore() and sidecar["max_abs_difference_vs_checkpoint"] <= 1e-5
    alone = obs_run["tmp"] / "raw_alone"  # without its sidecar: the file's graph says uint8
    alone.mkdir()
    shutil.copy(exported / "wrn10_1_b4_raw.mindir", alone / "model.mindir")
    summary = json.loads((obs_run["output"] / "summary.json").read_text())
    for model_file in (exported / "wrn10_1_b4_raw.mindir", alone / "model.mindir"):
        evaluated = subprocess.run([str(image_python()), "-m", "wrn.cli", "eval", "--config=demo",
                                    f"--data_url={obs / BUCKET / 'cifar10'}", f"--model={model_file}"], cwd=code,
                                   env=env, capture_output=True, text=True, timeout=300)
        assert evaluated.returncode == 0, evaluated.stderr[-3000:]
        result = json.loads(evaluated.stdout.strip().splitlines()[-1])
        assert result["input_dtype"] == "uint8" and result["engine"] == f"MindSpore {image_mindspore()}"
        assert result["images"] == 40 and result["top1"] == pytest.approx(summary["best_top1"])


def test_the_eval_boot_file_writes_its_result_to_obs_and_matches_the_runs_own_best(obs_run, code, obs):
    env = job_env(obs_run["tmp"], obs, server_list_table(obs_run["tmp"] / "rank_table.json"))
    model = {k: TINY[k] for k in ("depth", "widen_factor", "eval_batch_size")}
    done = boot(code, env, "eval.py", "--config=demo", *tiny_args(model), f"--data_url=obs://{BUCKET}/cifar10/",
                f"--checkpoint=obs://{BUCKET}/job/output/ckpt/best.ckpt", f"--train_url=obs://{BUCKET}/job/eval/",
                "--init_method=tcp://192.168.0.2:6000")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((obs / BUCKET / "job" / "eval" / "eval.json").read_text())
    summary = json.loads((obs_run["output"] / "summary.json").read_text())
    assert result["images"] == 40 and result["top1"] == pytest.approx(summary["best_top1"])


def test_the_checkpoint_carries_its_config_on_the_images_mindspore(obs_run, code, obs):
    """MindSpore 2.0.0 writes the config into the checkpoint (append_dict) and reads it back: no --config needed."""
    env = job_env(obs_run["tmp"], obs, server_list_table(obs_run["tmp"] / "rank_table.json"))
    done = boot(code, env, "eval.py", f"--data_url=obs://{BUCKET}/cifar10/",
                f"--checkpoint=obs://{BUCKET}/job/output/ckpt/best.ckpt", f"--train_url=obs://{BUCKET}/job/eval2/")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((obs / BUCKET / "job" / "eval2" / "eval.json").read_text())
    summary = json.loads((obs_run["output"] / "summary.json").read_text())
    assert result["config"] == "demo" and result["top1"] == pytest.approx(summary["best_top1"])


def test_new_style_job_with_mounted_paths_and_the_older_rank_table_folder(code, obs, tmp_path):
    env = job_env(tmp_path, obs, group_list_folder(tmp_path / "rank_table"))
    inputs = make_cifar(tmp_path / "home/ma-user/modelarts/inputs/data_url_0")
    outputs = tmp_path / "home/ma-user/modelarts/outputs/train_url_0"
    done = boot(code, env, "train.py", f"--data_url={inputs}", f"--train_url={outputs}", "--config=demo",
                *tiny_args({**TINY, "epochs": 2, "warmup_epochs": 0}))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ranktable launch on ModelArts: rank 0/1" in done.stdout
    assert {"config.yaml", "metrics.jsonl", "summary.json"} <= {p.name for p in outputs.iterdir()}
    assert (outputs / "ckpt" / "best.ckpt").is_file() and not (outputs / "curves.png").exists()
    assert sorted(p.relative_to(inputs).as_posix() for p in inputs.rglob("*") if p.is_file()) == [
        "eval/test_batch.bin", "train/data_batch_1.bin"]  # data used in place, nothing added


def test_the_train_step_options_run_on_the_images_mindspore(tmp_path):
    """EMA, clipping, accumulation and a dynamic scale on a float16 network, in one graph on MindSpore 2.0."""
    data = make_cifar(tmp_path / "data")
    run = tmp_path / "run"
    options = {**TINY, "epochs": 2, "batch_size": 8, "accumulation_steps": 2, "ema_decay": 0.9,
               "clip_grad_norm": 1.0, "amp_level": "O2", "loss_scale_type": "dynamic", "loss_scale": 2 ** 24,
               "keep_checkpoint_max": 1}
    done = subprocess.run([str(image_python()), "local/train.py", "--config=demo", f"--data_url={data}",
                           f"--train_url={run}", *tiny_args(options)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "GLOG_v": "3", "PYTHONPATH": ""}, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["global_step"] for r in records] == [6, 12] and records[0]["overflow_steps"] >= 1  # 96 images / (8 x 2)
    assert all(r["eval_weights"] == "ema" and r["top1"] is not None for r in records)
    assert (run / "ckpt" / "epoch_0002.ckpt").stat().st_ino == (run / "ckpt" / "last.ckpt").stat().st_ino
