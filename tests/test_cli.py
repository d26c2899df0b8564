"""The entry points as a user runs them: subprocesses, exit codes, one-line errors."""

import json
from pathlib import Path

import pytest

from conftest import last_json, make_cifar, run_cli, run_in_process, tiny_args
from wrn.cli import train_main


def test_train_then_eval_from_the_command_line(trained_run, tmp_path: Path):
    # Trained by local/train.py as a user runs it: the session's tiny run (train_tiny_run: the script, status 0, its
    # summary the last stdout line), 2 epochs, 43 eval images.
    summary = trained_run["summary"]
    assert summary["epochs"] == 2 and summary["eval_images"] == 43
    out = tmp_path / "eval.json"
    # space-separated arguments, the config override too ("--epochs 2"), as well as --key=value ones
    evaluated = run_cli("local/eval.py", "--config", "demo", "--data_url", str(trained_run["data"]), "--checkpoint",
                        summary["best_checkpoint"], "--output", str(out), *tiny_args(), "--epochs", "2")
    assert evaluated.returncode == 0, evaluated.stderr
    result = last_json(evaluated.stdout)
    assert result["images"] == 43 and result["top1"] == pytest.approx(summary["best_top1"])
    assert json.loads(out.read_text()) == result and 0 <= result["top1"] <= result["top5"] <= 1


def _train_args(data: Path, run: Path, *extra: str) -> list[str]:
    return ["--config=demo", f"--data_url={data}", f"--train_url={run}", *tiny_args(), *extra]


def _train(data: Path, run: Path, *extra: str):
    return run_cli("local/train.py", *_train_args(data, run, *extra))


@pytest.mark.parametrize("case,extra,message", [
    ("unknown key", ["--widen=2"], "unknown config key 'widen' (value '2'); did you mean 'widen_factor'?"),
    ("wrong type", ["--batch_size=big"], "config key 'batch_size' has value 'big', expected an integer"),
    ("depth", ["--depth=17"], "config key 'depth' has value 17, expected 6n+4"),
    ("negative lr", ["--lr=-1"], "config key 'lr' has value -1.0, expected a positive number"),
    ("missing checkpoint", ["--resume=/nonexistent/last.ckpt"], "checkpoint /nonexistent/last.ckpt does not exist"),
])
def test_user_errors_are_one_line_without_traceback(tiny_data: Path, tmp_path: Path, case, extra, message):
    # in-process: the script's own status and line are test_data_and_run_directory_errors' first case
    status, _, err = run_in_process(train_main, *_train_args(tiny_data, tmp_path / "run", *extra))
    assert status == 2
    assert err.strip().splitlines() == [f"error: {err.strip()[7:]}"]
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "run" / "metrics.jsonl").exists() and not (tmp_path / "run" / "ckpt" / "last.ckpt").exists()


def test_data_and_run_directory_errors(tmp_path: Path):
    missing = _train(tmp_path / "nodata", tmp_path / "run")
    lines = missing.stderr.strip().splitlines()  # the script itself: status 2 and one line
    assert missing.returncode == 2 and len(lines) == 1, missing.stderr[-2000:]
    assert lines[0].startswith(f"error: data folder {tmp_path / 'nodata'} does not exist")
    data = make_cifar(tmp_path / "data")
    (data / "train" / "data_batch_1.bin").write_bytes(b"\x01" * 3073 * 2 + b"\x02")
    status, _, err = run_in_process(train_main, *_train_args(data, tmp_path / "run"))
    assert status == 2 and "data_batch_1.bin: size 6147 bytes" in err
    (tmp_path / "afile").write_text("x")
    status, _, err = run_in_process(train_main, *_train_args(make_cifar(tmp_path / "d2"), tmp_path / "afile" / "run"))
    assert status == 2 and "is not a writable folder" in err
    assert (tmp_path / "afile").read_text() == "x"


def test_standalone_launcher(tiny_data: Path, tmp_path: Path):
    usage = run_cli("-c", "import subprocess,sys; sys.exit(subprocess.call(['bash','local/run_standalone_train.sh']))")
    assert usage.returncode == 2 and "usage: bash" in usage.stderr
    import subprocess
    import sys

    run = tmp_path / "run dir with spaces"
    done = subprocess.run(["bash", "local/run_standalone_train.sh", "demo", str(tiny_data), str(run), *tiny_args(),
                           "--epochs=1", "--warmup_epochs=0"], cwd=Path(__file__).parents[1], capture_output=True,
                          text=True, timeout=300, env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin", "GLOG_v": "3"})
    assert done.returncode == 0, done.stderr
    assert (run / "ckpt" / "last.ckpt").is_file() and f"log in {run}/train.log" in done.stdout


def test_demo_command_end_to_end_short(tmp_path: Path):
    # The same flow (data, train, eval, curves) at a fraction of the recipe's cost: WRN-10-1 rather than WRN-10-2, one
    # epoch of the 1,437 training digits in batches of 16 (89 steps). Steps, not start-up, are what this test pays
    # for: one epoch of the digits is 15 times the images of a tiny run's. The recipe itself is trained in full by
    # the slow test below.
    done = run_cli("-m", "wrn.cli", "demo", "--workdir", str(tmp_path / "demo"), "--epochs=1", "--warmup_epochs=0",
                   "--widen_factor=1", "--batch_size=16")
    assert done.returncode == 0, done.stderr
    result = last_json(done.stdout)
    assert set(result) == {"top1", "images", "seconds", "run_dir"} and result["images"] == 360
    assert result["top1"] > 0.5
    assert "curves:" in done.stdout and Path(result["run_dir"], "curves.png").is_file()


@pytest.mark.slow
def test_demo_reaches_98_percent_within_3_minutes(tmp_path: Path):
    done = run_cli("-m", "wrn.cli", "demo", "--workdir", str(tmp_path / "demo"), timeout=600)
    assert done.returncode == 0, done.stderr
    result = last_json(done.stdout)
    assert result["top1"] >= 0.98 and result["images"] == 360
    assert result["seconds"] <= 180
