"""Shared fixtures: tiny CIFAR-format data sets, tiny configs, and subprocess runners for the entry points."""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

os.environ.setdefault("GLOG_v", "3")

from wrn.pbcompat import prefer_mindspore_protobuf  # noqa: E402

# Tests import tensorboard's reader and onnx in this process too, in any order across a worker's files.
prefer_mindspore_protobuf()

from wrn.config import load_config  # noqa: E402
from wrn.cifar import FORMATS, write_records  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# The smallest paper-shaped network (WRN-10-1), a few epochs: seconds per run on 2 cores.
TINY = {"depth": 10, "widen_factor": 1, "batch_size": 16, "eval_batch_size": 32, "epochs": 3, "lr": 0.05,
        "lr_schedule": "cosine", "warmup_epochs": 1, "log_interval": 5, "num_workers": 1, "keep_checkpoint_max": 0,
        "label_smoothing": 0.0, "loss_scale": 1.0, "crop_padding": 0,
        "eval_start_epoch": 1}


def learnable_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Images whose class is plain to see: a bright horizontal band at a row set by the label, plus noise."""
    images = rng.integers(0, 60, size=(len(labels), 32, 32, 3), dtype=np.uint8)
    for i, label in enumerate(labels):
        images[i, 3 * label: 3 * label + 3, :, :] = 230
    return images


def make_cifar(root: Path, train_sizes=(96,), eval_size=40, layout: str = "seed", seed: int = 0,
               dataset: str = "cifar10") -> Path:
    """Write binary files of `dataset`: `seed` (train/ + eval/), `official` (the archive's folder) or `flat`.
    As CIFAR-100 the learnable class is the fine label (0-9 of 100) and class // 5 the coarse one."""
    fmt = FORMATS[dataset]
    rng = np.random.default_rng(seed)
    train_dir = {"seed": root / "train", "official": root / fmt.official_subdir, "flat": root}[layout]
    eval_dir = {"seed": root / "eval", "official": train_dir, "flat": root}[layout]

    def write(path: Path, labels: np.ndarray) -> None:
        write_records(path, learnable_images(labels, rng), labels, labels // 5 if dataset == "cifar100" else None)

    for name, size in zip(fmt.train_files, train_sizes):
        write(train_dir / name, rng.integers(0, 10, size).astype(np.int32))
    write(eval_dir / fmt.eval_file, np.arange(eval_size, dtype=np.int32) % 10)
    return root


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    return make_cifar(tmp_path / "data")


@pytest.fixture
def tiny_cfg():
    def build(**overrides):
        return load_config("demo", {**TINY, **overrides})

    return build


def run_cli(*args: str, timeout: int = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python ARGS...` from the repo root as a user would, capturing text output."""
    full_env = {**os.environ, "GLOG_v": "3", **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=full_env)


def last_json(stdout: str) -> dict:
    """The JSON line a command prints last."""
    return json.loads(stdout.strip().splitlines()[-1])


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now at `address` (for msrun's master port: tests run in parallel workers)."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


def tiny_args() -> list[str]:
    return [f"--{k}={v}" for k, v in TINY.items()]


@pytest.fixture(scope="session")
def object_store():
    from objectstore import start_object_store

    store = start_object_store()
    yield store
    store.server.stop()


@pytest.fixture
def obs_env(object_store, monkeypatch, tmp_path):
    """The process environment pointing the OBS SDK at the local server; scratch in tmp_path."""
    from wrn.platform.storage import reset_remote_storage

    env = object_store.env(WRN_SCRATCH_DIR=str(tmp_path / "scratch"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_remote_storage()
    yield env
    reset_remote_storage()


# ---- made once per session, shared by every xdist worker ---------------------------------------------------------------

def made_once(tmp_path_factory, name: str, make: Callable[[Path], dict]) -> dict:
    """What `make(folder)` returns (a JSON-able dict), made once per test session however many workers ask for it.

    Every xdist worker has its own basetemp inside this session's folder; the first worker to ask makes it there under
    a file lock, the others wait for it and read its result. A failed `make` leaves no result, so each asker fails with
    its own assertion rather than reading half a run.
    """
    # Under xdist each worker's basetemp is popen-gwN inside the session's folder; alone, basetemp is that folder.
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    folder, result = shared / name, shared / f"{name}.json"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not result.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            made = make(folder)
            result.write_text(json.dumps(made))
        return json.loads(result.read_text())


def tiny_training(folder: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`local/train.py` with the tiny recipe (no warm-up) and `extra` on folder/data into folder/run."""
    return run_cli("local/train.py", "--config=demo", f"--data_url={folder / 'data'}", f"--train_url={folder / 'run'}",
                   *tiny_args(), "--warmup_epochs=0", *extra, env=env)


def train_tiny_run(folder: Path, *extra: str, **data) -> dict:
    """Train the tiny recipe (WRN-10-1, 2 epochs, no warm-up) into folder/run with `local/train.py` on
    make_cifar(folder/data, **data); returns its paths (as text) and its summary."""
    made = make_cifar(folder / "data", **data)
    done = tiny_training(folder, "--epochs=2", *extra)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"data": str(made), "run": str(folder / "run"), "summary": last_json(done.stdout)}


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> dict:
    """One tiny run trained once per session (2 epochs of WRN-10-1 on make_cifar's data, 43 eval images): "data", "run"
    (paths) and "summary". Read-only: a test that changes the run copies it first (shutil.copytree)."""
    # 43 eval images: a last eval batch that is not whole (the export and eval tests count on it)
    made = made_once(tmp_path_factory, "trained_run", lambda folder: train_tiny_run(folder, eval_size=43))
    return {**made, "data": Path(made["data"]), "run": Path(made["run"])}


def run_in_process(main, *argv: str, env: dict | None = None) -> tuple[int, str, str]:
    """Run a `wrn.cli` entry function as its script does (`run(main, argv)`: exit status, one-line errors) in this
    process: for the many variants of bad input, without a new Python (+ MindSpore) start each. Returns
    (status, stdout, stderr). `env` is added to the environment for the call. The entry scripts themselves keep
    their own subprocess tests.

    The call starts as a new process would and leaves this one as it found it: the environment, the OBS client,
    the signal handlers and the `wrn` loggers (no handler at the start, so a warning logged before the command
    sets up its log reaches stderr through Python's last-resort handler, as in the script; the handlers the
    command adds, its train.log included, are closed at the end)."""
    from wrn import cli, signals
    from wrn.platform.storage import reset_remote_storage

    out, err = io.StringIO(), io.StringIO()
    environ = dict(os.environ)
    os.environ.update(env or {})
    reset_remote_storage()  # a client is made from the environment once per process
    loggers = [logging.getLogger(name) for name in ("wrn", "wrn.file")]
    saved = [(logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.handlers.clear()
        logger.setLevel(logging.NOTSET)
        logger.propagate = False  # pytest's handlers on the root logger would otherwise take the warnings
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = cli.run(main, list(argv))
            except SystemExit as exit_:  # argparse's usage errors end the script with status 2 this way
                status = exit_.code
    finally:
        signals.uninstall()  # run() takes SIGINT/SIGTERM over as a command does; pytest keeps its own
        os.environ.clear()
        os.environ.update(environ)
        reset_remote_storage()
        for logger, (handlers, level, propagate) in zip(loggers, saved):
            for handler in logger.handlers:
                handler.close()
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def in_process():
    """`run_in_process`, for tests that take it as a fixture."""
    return run_in_process


# ---- one finished 4-epoch run shared by the training tests ----------------------------------------------------------

# A run that outlives its warm-up and both milestones, keeps every epoch's checkpoint and names its sink mode: the
# tests that read a finished run, its periodic checkpoints or its lr sequence (and those that resume from it or
# train its twin in sink mode) share it instead of each training one like it. Its 40 eval images are one batch: one
# eval graph to compile per network rather than two (trained_run keeps a last batch that is not whole).
WHOLE_RUN = {"epochs": 4, "lr": 0.1, "lr_schedule": "multistep", "lr_milestones": "2,3", "warmup_epochs": 1,
             "keep_checkpoint_max": 4, "dataset_sink_mode": "false", "eval_batch_size": 40}


@pytest.fixture(scope="session")
def whole_run(tmp_path_factory) -> dict:
    """WHOLE_RUN trained in-process once per session on make_cifar's data: "data", "run" (paths), "summary" (what
    train() returned) and "cfg" (the Config it was trained with, to resume it or build its trainer). Read-only."""
    from wrn.run.train import train

    cfg = load_config("demo", {**TINY, **WHOLE_RUN})

    def make(folder: Path) -> dict:
        data = make_cifar(folder / "data")
        summary = train(cfg, data, folder / "run")
        return {"data": str(data), "run": str(folder / "run"), "summary": summary}

    made = made_once(tmp_path_factory, "whole_run", make)
    return {**made, "data": Path(made["data"]), "run": Path(made["run"]), "cfg": cfg}


# ---- the session's exports of trained_run, and one run that has learnt the classes ---------------------------------

def model_args() -> list[str]:
    """The tiny recipe's keys without batch_size, which is an export's own argument (the exported batch)."""
    return [a for a in tiny_args() if not a.startswith("--batch_size=")]


def last_json_in_process(main, *argv: str) -> dict:
    """`run_in_process` of a command that must succeed (exit status 0): the JSON line it printed last."""
    status, out, err = run_in_process(main, *argv)
    assert status == 0, err[-3000:]
    return last_json(out)


def export_args(checkpoint, out: Path, *extra: str, batch: int | str = 4) -> list[str]:
    """An export command's arguments for a tiny-recipe checkpoint: a model of `batch` images into folder `out`;
    `extra` names the file format (--file_format=...) and any other option."""
    return ["--config=demo", f"--checkpoint={checkpoint}", f"--batch_size={batch}", f"--train_url={out}",
            *model_args(), *extra]


def make_trained_exports(folder: Path, trained: dict) -> dict:
    """eval's result on trained_run's best.ckpt and its exports, each as its command printed it. "mindir" holds the
    float MINDIR of batch 4 (through local/export.py itself: the script's success path) and of batch 1; "export"
    the float ONNX and the raw ONNX and MINDIR of batch 4 (each folder as one export command leaves it)."""
    from wrn.cli import eval_main, export_main

    data, checkpoint = trained["data"], Path(trained["run"]) / "ckpt" / "best.ckpt"
    evaluated = last_json_in_process(eval_main, "--config=demo", f"--data_url={data}", f"--checkpoint={checkpoint}",
                                     *tiny_args())
    made: dict = {"data": str(data), "checkpoint": str(checkpoint), "eval": evaluated, "exports": {}}
    requests = [("mindir", "MINDIR", 4, "normalised"), ("mindir", "MINDIR", 1, "normalised"),
                ("export", "ONNX", 4, "normalised"), ("export", "ONNX", 4, "raw"), ("export", "MINDIR", 4, "raw")]
    for place, file_format, batch, kind in requests:
        argv = export_args(checkpoint, folder / place, f"--file_format={file_format}", batch=batch)
        argv += ["--input=raw"] if kind == "raw" else []  # the float model is the default
        if not made["exports"]:
            done = run_cli("local/export.py", *argv)
            assert done.returncode == 0, done.stderr[-3000:]
            printed = last_json(done.stdout)
        else:
            printed = last_json_in_process(export_main, *argv)
        made["exports"][f"{file_format}/{batch}/{kind}"] = printed
    return made


@pytest.fixture(scope="session")
def trained_exports(tmp_path_factory, trained_run) -> dict:
    """Made once per session, read-only: "eval" (local/eval.py's result on trained_run's best.ckpt with the tiny
    recipe), "exports" ("FORMAT/BATCH/KIND" -> what the export printed: its "path", ...), "data", "checkpoint"."""
    made = made_once(tmp_path_factory, "trained_exports", lambda folder: make_trained_exports(folder, trained_run))
    return {**made, "data": Path(made["data"]), "checkpoint": Path(made["checkpoint"])}


@pytest.fixture(scope="session")
def learnt_run(tmp_path_factory) -> dict:
    """A tiny run on 320 training images and 60 eval images, made once per session: a model that has learnt the
    classes clearly (INT8 keeps its answers; two servings of it agree). "data", "run" (paths) and "summary";
    read-only."""
    made = made_once(tmp_path_factory, "learnt_run",
                     lambda root: train_tiny_run(root, train_sizes=(320,), eval_size=60))
    return {**made, "data": Path(made["data"]), "run": Path(made["run"])}


# ---- runs killed at a named point, shared by the fault tests -------------------------------------------------------

def killed_run(tmp_path_factory, point: str, *extra: str) -> tuple[Path, Path]:
    """(data, run folder) of a tiny training (`tiny_training` with `extra`) that SIGKILLed itself at
    WRN_TEST_KILL_AT=`point` (wrn/faults.py), made once per session: read-only, copy it to resume it."""
    def make(folder: Path) -> dict:
        data = make_cifar(folder / "data")
        killed = tiny_training(folder, *extra, env={"WRN_TEST_KILL_AT": point})
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        return {"data": str(data), "run": str(folder / "run")}

    name = "killed-" + "-".join((point, *extra)).replace(":", "_").replace("=", "_").replace("--", "")
    made = made_once(tmp_path_factory, name, make)
    return Path(made["data"]), Path(made["run"])
