"""The ModelArts boot file as the platform runs it: from an uploaded code folder, once per card, with its env."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, make_cifar, run_in_process, tiny_args
from wrn.cli import modelarts_train_main
from wrn.platform.storage import storage_for


def uploaded_code(tmp_path: Path) -> Path:
    """The code folder as `submit.py upload-code` sends it: no install, no tests."""
    code = tmp_path / "code"
    for folder in ("wrn", "modelarts"):
        shutil.copytree(ROOT / folder, code / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return code


def modelarts_env(tmp_path: Path, extra: dict) -> dict:
    table = tmp_path / "rank_table.json"
    table.write_text(json.dumps({"status": "completed", "server_list": [
        {"server_id": "10.0.0.1", "device": [{"device_id": "0", "device_ip": "1.1.1.1", "rank_id": "0"}]}]}))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, "MA_JOB_DIR": str(tmp_path / "code"), "MA_LOG_DIR": str(tmp_path / "malog"),
            "VC_TASK_INDEX": "0", "MA_NUM_HOSTS": "1", "RANK_TABLE_FILE": str(table), "RANK_ID": "0",
            "RANK_SIZE": "1", "ASCEND_DEVICE_ID": "0", "GLOG_v": "3", **extra}


def boot(code: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(code / "modelarts" / "train.py"), *args], cwd=code.parent,
                          env=env, capture_output=True, text=True, timeout=300)


def test_old_style_obs_urls_with_platform_arguments_and_auto_resume(obs_env, object_store, tmp_path):
    bucket = object_store.new_bucket()
    storage_for(f"obs://{bucket}").upload_tree(make_cifar(tmp_path / "data"), f"obs://{bucket}/cifar10")
    code = uploaded_code(tmp_path)
    env = modelarts_env(tmp_path, obs_env)
    args = [f"--data_url=obs://{bucket}/cifar10/", f"--train_url=obs://{bucket}/job/output/",
            "--init_method=tcp://192.168.0.1:6000", "--config=demo", *tiny_args(), "--epochs=2",
            "--warmup_epochs=0"]
    first = boot(code, env, *args)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "ignoring platform arguments: --init_method=tcp://192.168.0.1:6000" in first.stdout
    assert "ranktable launch on ModelArts: rank 0/1" in first.stdout
    assert "remote storage through ObsStorage(endpoint=" in first.stdout
    assert {"job/output/ckpt/last.ckpt", "job/output/summary.json"} <= set(object_store.keys(bucket, "job/"))
    # as the platform restarts a job: --resume=auto is the default. The boot file's own start is checked above; the
    # restart runs its entry function in this process.
    status, out, err = run_in_process(modelarts_train_main, *args, env=env)
    assert status == 0, err[-3000:]
    assert "resumed from" in out and "already finished all 2 epochs" in out


def test_new_style_mounted_paths_and_misspelled_keys(tmp_path):
    """The boot file's entry function in this process (its own start: the test above and the ones below)."""
    env = modelarts_env(tmp_path, {})
    inputs = make_cifar(tmp_path / "home/ma-user/modelarts/inputs/data_url_0")
    outputs = tmp_path / "home/ma-user/modelarts/outputs/train_url_0"
    status, _, err = run_in_process(modelarts_train_main, f"--data_url={inputs}", f"--train_url={outputs}",
                                    "--config=demo", *tiny_args(), "--epochs=1", "--warmup_epochs=0", env=env)
    assert status == 0, err[-3000:]
    assert (outputs / "ckpt" / "last.ckpt").is_file() and (outputs / "summary.json").is_file()
    assert not (inputs / "train" / ".wrn").exists() and len(list(inputs.rglob("*"))) == 4  # data used in place
    status, _, err = run_in_process(modelarts_train_main, f"--data_url={inputs}", f"--train_url={tmp_path / 'o2'}",
                                    "--config=demo", "--dept=10", env=env)
    assert status == 2 and "unknown config key 'dept'" in err and "did you mean 'depth'" in err


def test_code_folder_cannot_replace_the_images_mindspore():
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        # git's store and the virtual environments (.venv, .venv-serve, ...) are not the checkout's own files
        subfolders[:] = [name for name in subfolders if name != ".git" and not name.startswith(".venv")]
        found += [os.path.join(folder, name) for name in files if name == "pip-requirements.txt"]
    assert not found
    assert not (ROOT / "modelarts" / "requirements.txt").exists()


def test_boot_file_imports_the_uploaded_code_not_an_installed_copy(tmp_path):
    code = uploaded_code(tmp_path)
    (code / "wrn" / "cli" / "train.py").write_text((code / "wrn" / "cli" / "train.py").read_text().replace(
        "def modelarts_train_main(argv", "print('UPLOADED COPY')\n\n\ndef modelarts_train_main(argv"))
    done = boot(code, modelarts_env(tmp_path, {}), "--help")
    assert "UPLOADED COPY" in done.stdout


@pytest.mark.parametrize("extra", [[], ["--data_url=x"]])
def test_boot_file_needs_its_urls(tmp_path, extra):
    done = boot(uploaded_code(tmp_path), modelarts_env(tmp_path, {}), *extra)
    assert done.returncode == 2 and "required" in done.stderr
