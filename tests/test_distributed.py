"""Multi-process launches: msrun with 2 CPU workers for real, the rank-table launcher's process set-up."""

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, free_port, make_cifar, tiny_args


def test_msrun_two_workers_train_data_parallel(tmp_path: Path):
    data = make_cifar(tmp_path / "data", train_sizes=(96,), eval_size=41)  # odd: uneven eval shards
    run = tmp_path / "run"
    env = {**os.environ, "PYTHON": sys.executable, "LOG_DIR": str(tmp_path / "msrun_log"),
           "MASTER_PORT": str(free_port())}
    done = subprocess.run(["bash", "local/run_distribute_train.sh", "2", "--config=demo", f"--data_url={data}",
                           f"--train_url={run}", *tiny_args(), "--epochs=2", "--warmup_epochs=0"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"logs in {tmp_path / 'msrun_log'}/worker_*.log" in done.stdout
    # Only rank 0 writes the shared run directory; rank 1 writes its own log only.
    files = sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file())
    assert len([f for f in files if f.startswith("tensorboard/events.out.tfevents.")]) == 1  # rank 0's alone
    files = [f for f in files if not f.startswith("tensorboard/")]
    assert files == ["ckpt/best.ckpt", "ckpt/last.ckpt", "config.yaml", "config_history.jsonl", "curves.png",
                     "logs/rank_1/train.log",
                     "metrics.jsonl", "summary.json", "train.log"]
    rank0, rank1 = (run / "train.log").read_text(), (run / "logs" / "rank_1" / "train.log").read_text()
    assert "msrun launch: rank 0/2" in rank0 and "msrun launch: rank 1/2" in rank1
    assert "batch 16 per device, 32 global; lr rule none" in rank0
    checksums = [log.split("trainable weights checksum ")[1].split()[0] for log in (rank0, rank1)]
    assert checksums[0] == checksums[1]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["eval_images"] for r in records] == [41, 41]  # every image once over both ranks
    assert records[-1]["global_step"] == 2 * 3  # 96 images / (16 x 2 ranks) = 3 steps per epoch
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2


FAKE_PYTHON = """#!/usr/bin/env bash
python3 - "$@" <<'PY'
import json, os, sys
keys = ("DEVICE_ID", "RANK_ID", "RANK_SIZE", "RANK_TABLE_FILE", "WRN_LAUNCH_ID")
json.dump({"argv": sys.argv[1:], "cwd": os.getcwd(), **{k: os.environ.get(k) for k in keys}},
          open("launch.json", "w"))
PY
"""


def test_rank_table_launcher_starts_one_process_per_card_with_its_own_env_and_folder(tmp_path: Path):
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    table = tmp_path / "rank table.json"
    table.write_text("{}")
    env = {**os.environ, "PYTHON": str(fake), "RUN_ROOT": str(tmp_path / "parallel"), "RANK_START": "8"}
    done = subprocess.run(["bash", "local/run_distribute_train_ascend.sh", str(table), "3", "--config=wrn40_10",
                           "--train_url=/out/with space", "--lr=0.4"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    launches = [json.loads((tmp_path / "parallel" / f"device{i}" / "launch.json").read_text()) for i in range(3)]
    assert [(x["DEVICE_ID"], x["RANK_ID"], x["RANK_SIZE"]) for x in launches] == [("0", "8", "3"), ("1", "9", "3"),
                                                                                    ("2", "10", "3")]
    assert all(x["RANK_TABLE_FILE"] == str(table) for x in launches)
    assert len({x["WRN_LAUNCH_ID"] for x in launches}) == 1
    assert launches[1]["argv"][1:] == ["--config=wrn40_10", "--train_url=/out/with space", "--lr=0.4"]
    assert launches[2]["cwd"] == str(tmp_path / "parallel" / "device2")
    assert f"log {tmp_path / 'parallel' / 'device1' / 'train.log'}" in done.stdout


def test_launchers_print_usage_on_missing_arguments(tmp_path: Path):
    for script, args in (("run_distribute_train.sh", []), ("run_distribute_train.sh", ["two"]),
                         ("run_distribute_train_ascend.sh", ["table.json"]),
                         ("run_standalone_train.sh", ["demo"])):
        done = subprocess.run(["bash", f"local/{script}", *args], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 2 and "usage: bash" in done.stderr, script
    missing = subprocess.run(["bash", "local/run_distribute_train_ascend.sh", str(tmp_path / "none.json"), "8"],
                             cwd=ROOT, capture_output=True, text=True)
    assert missing.returncode == 2 and "rank table file" in missing.stderr and "does not exist" in missing.stderr
