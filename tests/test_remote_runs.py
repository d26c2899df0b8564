"""Entry points with obs:// data_url, train_url and checkpoints, against the local S3-protocol server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT, make_cifar, run_cli, tiny_args
from objectstore import ACCESS_KEY, SECRET_KEY, TOKEN
from wrn.platform.storage import storage_for


def _upload_data(object_store, tmp_path: Path, train_sizes=(96,)) -> tuple[str, str]:
    bucket = object_store.new_bucket()
    data = make_cifar(tmp_path / "data", train_sizes=train_sizes)
    storage_for(f"obs://{bucket}").upload_tree(data, f"obs://{bucket}/cifar10")
    return bucket, f"obs://{bucket}/cifar10"


def test_train_and_eval_with_obs_urls(obs_env, object_store, tmp_path):
    bucket, data_url = _upload_data(object_store, tmp_path)
    train_url = f"obs://{bucket}/runs/tiny"
    done = run_cli("local/train.py", "--config=demo", f"--data_url={data_url}", f"--train_url={train_url}",
                   *tiny_args(), "--epochs=2", "--warmup_epochs=0", env=obs_env)
    assert done.returncode == 0, done.stderr
    keys = object_store.keys(bucket, "runs/tiny/")
    for name in ("ckpt/last.ckpt", "ckpt/best.ckpt", "metrics.jsonl", "summary.json", "config.yaml", "train.log",
                 "curves.png"):
        assert f"runs/tiny/{name}" in keys, name
    records = object_store.read(bucket, "runs/tiny/metrics.jsonl").decode().splitlines()
    assert [json.loads(r)["epoch"] for r in records] == [1, 2]
    summary = json.loads(object_store.read(bucket, "runs/tiny/summary.json"))
    assert summary["run_dir"] == train_url
    for secret in (ACCESS_KEY, SECRET_KEY, TOKEN):
        assert secret not in done.stdout + done.stderr
        assert secret not in object_store.read(bucket, "runs/tiny/train.log").decode()

    evaluated = run_cli("local/eval.py", "--config=demo", f"--data_url={data_url}",
                        f"--checkpoint={train_url}/ckpt/best.ckpt", *tiny_args(), env=obs_env)
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert result["images"] == 40 and abs(result["top1"] - summary["best_top1"]) < 1e-6

    again = run_cli("local/train.py", "--config=demo", f"--data_url={data_url}", f"--train_url={train_url}",
                    *tiny_args(), env=obs_env)
    assert again.returncode == 2 and f"train_url {train_url} already holds a run" in again.stderr


def test_killed_remote_run_resumes_from_the_uploaded_checkpoint(obs_env, object_store, tmp_path):
    bucket, data_url = _upload_data(object_store, tmp_path, train_sizes=(400,))
    train_url = f"obs://{bucket}/runs/preempted"
    args = ["local/train.py", "--config=demo", f"--data_url={data_url}", f"--train_url={train_url}", *tiny_args(),
            "--epochs=8", "--warmup_epochs=0", "--resume=auto"]
    first = subprocess.Popen([sys.executable, *args], cwd=ROOT, env={**os.environ, **obs_env},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    while "runs/preempted/ckpt/last.ckpt" not in object_store.keys(bucket, "runs/preempted/"):
        assert first.poll() is None and time.monotonic() < deadline, first.stdout.read() if first.stdout else ""
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)  # as a preempted node: no clean-up at all
    first.wait()
    uploaded_epochs = len(object_store.read(bucket, "runs/preempted/metrics.jsonl").decode().splitlines())
    assert 1 <= uploaded_epochs < 8

    second = run_cli(*args, env=obs_env)
    assert second.returncode == 0, second.stderr
    assert "resumed from" in second.stdout
    records = [json.loads(r) for r in object_store.read(bucket, "runs/preempted/metrics.jsonl").decode().splitlines()]
    assert [r["epoch"] for r in records] == list(range(1, 9))
    assert records[-1]["global_step"] == 8 * 25
    resumed_at = int(second.stdout.split("resumed from")[1].split("epoch ")[1].split(" done")[0])
    assert resumed_at >= 1 and f"epoch {resumed_at + 1}/8 step" in second.stdout
    assert f"epoch {resumed_at}/8 step" not in second.stdout
    assert json.loads(object_store.read(bucket, "runs/preempted/summary.json"))["epochs"] == 8


def test_unreachable_train_url_fails_before_training(obs_env, tmp_path):
    data = make_cifar(tmp_path / "data")
    done = run_cli("local/train.py", "--config=demo", f"--data_url={data}", "--train_url=obs://no-such-bucket/run",
                   *tiny_args(), env=obs_env)
    assert done.returncode == 2
    assert "bucket 'no-such-bucket' does not exist" in done.stderr and "epoch 1/" not in done.stdout
