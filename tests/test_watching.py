"""Watching a run: TensorBoard event files read back with TensorBoard's own reader equal metrics.jsonl and the log
lines, also across a killed and resumed run; the Profiler's files and its most expensive operators on CPU."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import killed_run, run_cli, run_in_process, tiny_args
from wrn.cli import train_main
from wrn.config import load_config
from wrn.errors import ConfigError
from wrn.run.board import EPOCH_TAGS


def _args(data: Path, run: Path, *extra: str) -> list[str]:
    return ["--config=demo", f"--data_url={data}", f"--train_url={run}", *tiny_args(), "--log_interval=2",
            "--warmup_epochs=0", *extra]


def _train(data: Path, run: Path, *extra: str):
    """local/train.py in a process of its own."""
    return run_cli("local/train.py", *_args(data, run, *extra))


def _train_here(data: Path, run: Path, *extra: str) -> tuple[int, str, str]:
    """(status, stdout, stderr) of a training as local/train.py runs it, in this process."""
    return run_in_process(train_main, *_args(data, run, *extra))


def _scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}


def test_tensorboard_events_equal_the_metrics_after_a_killed_and_resumed_run(tmp_path_factory, tmp_path):
    # The session's run SIGKILLed after epoch 2's metrics line (3 epochs of 6 steps, a log line at steps 5 and 6 of
    # each), copied, resumed in this process with the same keys.
    data, killed = killed_run(tmp_path_factory, "after-metrics:2", "--epochs=3", "--keep_checkpoint_max=3")
    run = Path(shutil.copytree(killed, tmp_path / "run"))
    before = _scalars(run / "tensorboard")
    assert [step for step, _ in before["step/loss"]] == [5, 6, 11, 12]  # epoch 2's steps are in the events, its
    # checkpoint is not
    status, out, err = run_in_process(train_main, "--config=demo", f"--data_url={data}", f"--train_url={run}",
                                      *tiny_args(), "--warmup_epochs=0", "--epochs=3", "--keep_checkpoint_max=3",
                                      "--resume=auto")
    assert status == 0, err
    assert "TensorBoard event files in" in out

    scalars = _scalars(run / "tensorboard")
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    for field, tag in EPOCH_TAGS.items():
        assert [step for step, _ in scalars[tag]] == [r["global_step"] for r in records], tag
        assert [value for _, value in scalars[tag]] == pytest.approx([r[field] for r in records], rel=1e-6), tag
    # per step at log_interval, every step once: the lines of the launch that trained it (the killed launch's
    # epoch 2 was trained again after the resume)
    lines = re.findall(r"epoch (\d+)/3 step (\d+)/6 loss ([\d.]+) lr ([\d.]+)", (run / "train.log").read_text())
    logged = {(int(e) - 1) * 6 + int(s): (float(loss), float(lr)) for e, s, loss, lr in lines}  # the last wins
    assert [step for step, _ in scalars["step/loss"]] == [5, 6, 11, 12, 17, 18] == sorted(logged)
    assert [v for _, v in scalars["step/loss"]] == pytest.approx([logged[s][0] for s in sorted(logged)], abs=1e-4)
    assert [v for _, v in scalars["step/lr"]] == pytest.approx([logged[s][1] for s in sorted(logged)], abs=1e-6)


def test_tensorboard_false_writes_no_events(tiny_data, tmp_path):
    status, _, err = _train_here(tiny_data, tmp_path / "run", "--epochs=1", "--tensorboard=false")
    assert status == 0, err
    assert not (tmp_path / "run" / "tensorboard").exists()


def test_profiler_writes_its_files_and_names_the_costliest_operators(tiny_data, tmp_path):
    run = tmp_path / "run"
    done = _train(tiny_data, run, "--epochs=2", "--profile_steps=2-3", "--profile_epoch=2")
    assert done.returncode == 0, done.stderr
    line = next(line for line in (run / "train.log").read_text().splitlines() if "profiled steps" in line)
    assert f"profiled steps 2-3 of epoch 2 into {run / 'profiler'}: most expensive operators" in line
    operators = re.findall(r"(\w+) [\d.e+-]+ ms", line.split("most expensive operators")[1])
    assert len(operators) == 3 and "Conv2D" in " ".join(operators), line
    files = {p.name for p in (run / "profiler").rglob("*") if p.is_file()}
    assert {"trace_view.json", "cpu_op_type_info_0.csv", "cpu_op_detail_info_0.csv"} <= files


def test_profile_steps_beyond_the_epoch_is_one_line(tiny_data, tmp_path):
    status, _, err = _train_here(tiny_data, tmp_path / "run", "--epochs=1", "--profile_steps=5-7")
    assert status == 2
    assert err.strip().splitlines() == ["error: config key 'profile_steps' has value '5-7', expected steps "
                                                "within one epoch (1-6: this run has 6 optimizer steps per epoch)"]


@pytest.mark.parametrize("key,value", [("profile_steps", "3-2"), ("profile_steps", "0-2"), ("profile_steps", "a"),
                                       ("profile_steps", "2-"), ("profile_steps", "-2"), ("profile_epoch", "0"),
                                       ("profile_epoch", "4"), ("tensorboard", "maybe")])
def test_malformed_watching_keys_are_named(key, value):
    with pytest.raises(ConfigError, match=f"config key '{key}' has value"):
        load_config("demo", {"epochs": 3, key: value})
