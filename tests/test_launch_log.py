"""The first log line of a launch numbers it, so a job that ModelArts restarted (and resumed) says so in train.log."""

from __future__ import annotations

import re

from conftest import make_cifar, run_in_process, tiny_args
from wrn.cli import train_main
from wrn.platform.storage import storage_for
from wrn.run.train import train

FIRST_LINE = re.compile(r" INFO launch (\d+) of this run(.*?): single launch: rank 0/1")


def launches(log: str) -> list[tuple[int, str]]:
    return [(int(m.group(1)), m.group(2)) for m in FIRST_LINE.finditer(log)]


def test_a_resumed_run_numbers_its_launches_and_a_new_run_directory_starts_at_launch_one(tiny_data, tiny_cfg,
                                                                                          tmp_path):
    run = tmp_path / "run"
    train(tiny_cfg(epochs=1, warmup_epochs=0), tiny_data, run, resume="auto")
    assert launches((run / "train.log").read_text()) == [(1, "")]
    train(tiny_cfg(epochs=2, warmup_epochs=0), tiny_data, run, resume="auto")
    log = (run / "train.log").read_text()
    assert launches(log) == [(1, ""), (2, " (a restart: 1 earlier launch logged above)")]
    second_launch = log.split("launch 2 of this run")[1]
    assert "resumed from" in second_launch and "epoch 2/2 step" in second_launch
    train(tiny_cfg(epochs=2, warmup_epochs=0), tiny_data, run, resume="auto")  # finished already: still a launch
    assert launches((run / "train.log").read_text())[-1] == (3, " (a restart: 2 earlier launches logged above)")
    # a process that already trained another run directory counts a new one's launches from one
    train(tiny_cfg(epochs=1, warmup_epochs=0), tiny_data, tmp_path / "b")
    assert launches((tmp_path / "b" / "train.log").read_text()) == [(1, "")]


def test_a_restarted_remote_run_counts_the_launches_its_uploaded_log_holds(obs_env, object_store, tmp_path):
    """As on ModelArts after a restart: a fresh node (new scratch) whose only memory is train_url in OBS."""
    bucket = object_store.new_bucket()
    data = make_cifar(tmp_path / "data")
    storage_for(f"obs://{bucket}").upload_tree(data, f"obs://{bucket}/cifar")
    args = ["--config=demo", f"--data_url=obs://{bucket}/cifar", f"--train_url=obs://{bucket}/run", *tiny_args(),
            "--warmup_epochs=0", "--resume=auto"]
    # the two launches run as local/train.py runs them, in this process (each a node of its own scratch)
    status, _, err = run_in_process(train_main, *args, "--epochs=1",
                                    env={"WRN_SCRATCH_DIR": str(tmp_path / "node1"), "WRN_LAUNCH_ID": "first"})
    assert status == 0, err
    status, out, err = run_in_process(train_main, *args, "--epochs=2",
                                      env={"WRN_SCRATCH_DIR": str(tmp_path / "node2"), "WRN_LAUNCH_ID": "second"})
    assert status == 0, err
    assert "launch 2 of this run (a restart: 1 earlier launch logged above)" in out
    uploaded = object_store.read(bucket, "run/train.log").decode()
    assert [n for n, _ in launches(uploaded)] == [1, 2]
