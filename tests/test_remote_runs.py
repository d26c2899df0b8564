"""Entry points with obs:// data_url, train_url and checkpoints, against the local S3-protocol server."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import last_json, make_cifar, run_cli, run_in_process, tiny_args
from objectstore import ACCESS_KEY, SECRET_KEY, TOKEN
from wrn.cli import eval_main, train_main
from wrn.platform.storage import storage_for


def _upload_data(object_store, tmp_path: Path) -> tuple[str, str]:
    bucket = object_store.new_bucket()
    data = make_cifar(tmp_path / "data")
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

    # eval (as local/eval.py runs it) and a second training, in this process: the training above was the script
    status, out, err = run_in_process(eval_main, "--config=demo", f"--data_url={data_url}",
                                      f"--checkpoint={train_url}/ckpt/best.ckpt", *tiny_args())
    assert status == 0, err
    result = last_json(out)
    assert result["images"] == 40 and abs(result["top1"] - summary["best_top1"]) < 1e-6

    status, _, err = run_in_process(train_main, "--config=demo", f"--data_url={data_url}", f"--train_url={train_url}",
                                    *tiny_args())
    assert status == 2 and f"train_url {train_url} already holds a run" in err


# A killed remote run resuming from the uploaded checkpoint (on a fresh node): test_faults.py's
# test_a_killed_obs_run_resumes_from_the_uploaded_checkpoint_and_keeps_every_launchs_log.


def test_unreachable_train_url_fails_before_training(obs_env, tmp_path):
    data = make_cifar(tmp_path / "data")
    status, out, err = run_in_process(train_main, "--config=demo", f"--data_url={data}",
                                      "--train_url=obs://no-such-bucket/run", *tiny_args())
    assert status == 2
    assert "bucket 'no-such-bucket' does not exist" in err and "epoch 1/" not in out
