"""The fault catalogue: what a run does under kills, damage, concurrent starts, full disks, bad input and signals.

Kill points are deterministic: WRN_TEST_KILL_AT=<point>:<epoch> makes the training process SIGKILL itself there
(wrn/faults.py); <point>:<n>:SIGSTOP makes it stop itself there, so a test acts on a run known to be alive at that
point (a second training, a signal from outside) and SIGCONTs it. No test races a long run. Each test names the
fault it covers; README "What survives what" states the guarantees.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import ROOT, killed_run, make_cifar, run_cli, tiny_args
from wrn.cli import train_main
from wrn.platform.staging import StagingOptions, stage_in
from wrn.platform.storage import storage_for
from wrn.output import checkpoint as ckpt

RUN = [*tiny_args(), "--warmup_epochs=0"]


def train_args(data: Path | str, run: Path | str, *extra: str) -> list[str]:
    return ["--config=demo", f"--data_url={data}", f"--train_url={run}", *RUN, *extra]


def train(data: Path, run: Path | str, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return run_cli("local/train.py", *train_args(data, run, *extra), env=env)


def epochs_in(metrics_text: str) -> list[int]:
    return [json.loads(line)["epoch"] for line in metrics_text.splitlines() if line.strip()]


def best_checkpoint_epoch(run: Path) -> int:
    return int(ckpt.read(run / "ckpt" / "best.ckpt")["run_epoch"].asnumpy().item())


def best_by_records(run: Path) -> int:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evaluated = [r for r in records if r["top1"] is not None]
    return max(evaluated, key=lambda r: (r["top1"], -r["epoch"]))["epoch"]


# ---- kills between writes -------------------------------------------------------------------------------------------
# The killed launch is a real process SIGKILLing itself at the point; the resume, whose files and output are what is
# checked, runs in this process (`run_in_process`, as local/train.py runs it). Each killed run is made once per
# session (conftest's `killed_run`) and copied by the tests that resume it.

KEEP_3 = ("--epochs=3", "--keep_checkpoint_max=3")


@pytest.mark.parametrize("point", ["after-metrics", "after-last"])
def test_a_kill_between_writes_leaves_each_epoch_once_and_best_agreeing_with_the_records(tmp_path_factory, tmp_path,
                                                                                         in_process, point):
    data, killed = killed_run(tmp_path_factory, f"{point}:2", *KEEP_3)
    run = copy_run(killed, tmp_path / "run")
    status, _, err = in_process(train_main, *train_args(data, run, *KEEP_3, "--resume=auto"))
    assert status == 0, err[-2000:]
    assert epochs_in((run / "metrics.jsonl").read_text()) == [1, 2, 3]
    summary = json.loads((run / "summary.json").read_text())
    assert best_checkpoint_epoch(run) == summary["best_epoch"] == best_by_records(run)


def test_a_kill_before_the_first_checkpoint_leaves_no_stale_record(tmp_path_factory, tmp_path, in_process):
    data, killed = killed_run(tmp_path_factory, "after-metrics:1", "--epochs=2")
    run = copy_run(killed, tmp_path / "run")
    assert epochs_in((run / "metrics.jsonl").read_text()) == [1] and not (run / "ckpt" / "last.ckpt").exists()
    status, _, err = in_process(train_main, *train_args(data, run, "--epochs=2", "--resume=auto"))
    assert status == 0, err[-2000:]
    assert epochs_in((run / "metrics.jsonl").read_text()) == [1, 2]


def test_a_resumed_best_epoch_gets_its_best_checkpoint_back(tmp_path_factory, tmp_path, in_process):
    """Killed after last.ckpt of the (only, hence best) epoch, before best.ckpt: the resume writes best.ckpt."""
    data, killed = killed_run(tmp_path_factory, "after-last:1", "--epochs=1")
    run = copy_run(killed, tmp_path / "run")
    assert not (run / "ckpt" / "best.ckpt").exists()
    status, out, _ = in_process(train_main, *train_args(data, run, "--epochs=1", "--resume=auto"))
    assert status == 0 and "already finished all 1 epochs" in out
    assert best_checkpoint_epoch(run) == 1


@pytest.mark.parametrize("damage", [b'{"epoch": 2, "train_lo', b"\x00" * 300, b'{"no_epoch": 1}\n'])
def test_damaged_metrics_after_the_last_record_is_dropped_with_a_warning(tmp_path_factory, tmp_path, in_process,
                                                                         damage):
    # One run killed after epoch 2's metrics line (before its checkpoint), copied by each kind of damage.
    data, killed = killed_run(tmp_path_factory, "after-metrics:2", *KEEP_3)
    run = copy_run(killed, tmp_path / "run")
    with open(run / "metrics.jsonl", "ab") as metrics:
        metrics.write(damage)
    status, out, err = in_process(train_main, *train_args(data, run, *KEEP_3, "--resume=auto"))
    assert status == 0, err[-2000:]
    assert "metrics.jsonl: dropped 1 damaged line" in out
    assert epochs_in((run / "metrics.jsonl").read_text()) == [1, 2, 3]


# ---- one writer per run directory -----------------------------------------------------------------------------------

def start(data: Path, run: Path | str, *extra: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "local/train.py", "--config=demo", f"--data_url={data}",
                             f"--train_url={run}", *RUN, *extra], cwd=ROOT, env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until_stopped(process: subprocess.Popen, seconds: float = 300) -> None:
    """Until `process` has stopped itself at its WRN_TEST_KILL_AT=<point>:<n>:SIGSTOP (state T in /proc): a run known
    to be alive, its claim held, at that point. (`seconds` only bounds a hang; nothing depends on the speed.)"""
    deadline = time.monotonic() + seconds
    while (Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "T":
        assert process.poll() is None, f"ended ({process.returncode}) before its stop point: {process.stderr.read()}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_second_training_into_a_claimed_run_directory_is_refused(tiny_data, tmp_path, in_process):
    """The first training stops itself after epoch 1's metrics line (claim held, pid alive); the second, started
    then, is refused; the first, continued, finishes and releases the claim."""
    run = tmp_path / "run"
    first = start(tiny_data, run, "--epochs=2", env={"WRN_TEST_KILL_AT": "after-metrics:1:SIGSTOP"})
    wait_until_stopped(first)
    status, _, err = in_process(train_main, *train_args(tiny_data, run, "--epochs=2", "--resume=auto"))
    first.send_signal(signal.SIGCONT)
    _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err[-2000:]
    assert status == 2 and f"train_url {run} is in use by pid {first.pid} on host" in err
    assert epochs_in((run / "metrics.jsonl").read_text()) == [1, 2]
    assert not (run / ".wrn-claims").exists()  # released at the end, and its folder with it


def test_the_claim_of_a_killed_run_is_taken_over(tmp_path_factory, tmp_path, in_process):
    # A run SIGKILLed after epoch 1's last.ckpt (its claim left behind, its pid gone), resumed in this process.
    data, killed = killed_run(tmp_path_factory, "after-last:1", "--epochs=1")
    run = copy_run(killed, tmp_path / "run")
    assert list((run / ".wrn-claims").iterdir())
    status, out, err = in_process(train_main, *train_args(data, run, "--epochs=1", "--resume=auto"))
    assert status == 0, err[-2000:]
    assert "taking over train_url from a stale claim: pid" in out + err
    assert not (run / ".wrn-claims").exists()


def test_two_trainings_into_one_obs_train_url(obs_env, object_store, tmp_path, in_process):
    """As the local case: the first stops itself after epoch 1's metrics line, the second (another launch) is refused
    meanwhile, the first finishes."""
    bucket = object_store.new_bucket()
    storage_for(f"obs://{bucket}").upload_tree(make_cifar(tmp_path / "data"), f"obs://{bucket}/cifar10")
    data, run = f"obs://{bucket}/cifar10", f"obs://{bucket}/runs/shared"
    first = start(data, run, "--epochs=2", env={**obs_env, "WRN_TEST_KILL_AT": "after-metrics:1:SIGSTOP"})
    wait_until_stopped(first)
    status, _, err = in_process(train_main, *train_args(data, run, "--epochs=2", "--resume=auto"),
                                env={"WRN_LAUNCH_ID": "second"})
    first.send_signal(signal.SIGCONT)
    _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err[-2000:]
    assert status == 2 and f"train_url {run} is in use by pid {first.pid}" in err
    assert epochs_in(object_store.read(bucket, "runs/shared/metrics.jsonl").decode()) == [1, 2]
    assert not [k for k in object_store.keys(bucket, "runs/shared/") if ".wrn-claims/" in k]
    # the refused launch left no scratch copy of its own; the finished one no upload snapshots
    assert len(list((Path(obs_env["WRN_SCRATCH_DIR"]) / "runs").iterdir())) == 1


def test_resuming_another_checkpoint_into_a_folder_that_holds_a_run_is_refused(finished, tmp_path, in_process):
    data, a = finished  # the session's run (read-only) and a copy of it in its own folder: two runs' checkpoints
    b = copy_run(a, tmp_path / "b")
    before = (b / "metrics.jsonl").read_text()
    status, _, err = in_process(train_main, *train_args(data, b, "--epochs=2", f"--resume={a / 'ckpt' / 'last.ckpt'}"))
    assert status == 2 and "already holds another run" in err
    assert (b / "metrics.jsonl").read_text() == before
    status, out, _ = in_process(train_main, *train_args(data, b, "--epochs=2", f"--resume={b / 'ckpt' / 'last.ckpt'}"))
    assert status == 0 and "already finished all 2 epochs" in out  # its own: allowed


# ---- numbers that are not numbers -----------------------------------------------------------------------------------

@pytest.mark.parametrize("override,message", [
    ("--lr=inf", "config key 'lr' has value inf, expected finite numbers"),
    ("--mean=nan,0.5,0.5", "config key 'mean' has value [nan, 0.5, 0.5], expected finite numbers"),
    ("--seed=-1", "config key 'seed' has value -1, expected an integer in [0, 4294967295]"),
    ("--num_workers=4096", "config key 'num_workers' has value 4096, expected at most"),
])
def test_non_finite_and_out_of_range_values_are_one_line_errors(tiny_data, tmp_path, in_process, override, message):
    status, _, err = in_process(train_main, *train_args(tiny_data, tmp_path / "run"), override)
    assert status == 2 and message in err and "Traceback" not in err


def test_a_diverging_loss_stops_the_run_and_keeps_the_last_good_checkpoint(finished, tmp_path, in_process):
    # The session's good 2-epoch run (cosine), resumed with a schedule whose lr makes the loss diverge.
    data, run = finished
    run = copy_run(run, tmp_path / "run")
    good = (run / "ckpt" / "last.ckpt").read_bytes()
    status, _, err = in_process(train_main, *train_args(data, run, "--epochs=4", "--lr_schedule=multistep",
                                                        "--lr=1e30", "--resume=auto"))
    assert status == 2, err[-2000:]
    assert re.search(r"error: epoch 3 step \d+: the (loss is|gradients are) not finite \(lr 1e\+30\): training diverged",
                     err), err[-1000:]
    assert (run / "ckpt" / "last.ckpt").read_bytes() == good
    assert epochs_in((run / "metrics.jsonl").read_text()) == [1, 2]


# ---- storage ----------------------------------------------------------------------------------------------------------

def test_a_remote_file_replaced_by_one_of_the_same_size_is_downloaded_again(obs_env, object_store, tmp_path):
    bucket = object_store.new_bucket()
    storage = storage_for(f"obs://{bucket}")
    source = make_cifar(tmp_path / "data")
    storage.upload_tree(source, f"obs://{bucket}/cifar10")
    options = StagingOptions(scratch=tmp_path / "scratch")
    os.environ["WRN_LAUNCH_ID"] = "first"
    try:
        staged = stage_in(f"obs://{bucket}/cifar10", 0, options)
        replaced = bytearray((source / "eval" / "test_batch.bin").read_bytes())
        replaced[1:100] = bytes(99)  # same size, other pixels
        (tmp_path / "new.bin").write_bytes(bytes(replaced))
        storage.upload_file(tmp_path / "new.bin", f"obs://{bucket}/cifar10/eval/test_batch.bin")
        os.environ["WRN_LAUNCH_ID"] = "second"
        staged_again = stage_in(f"obs://{bucket}/cifar10", 0, options)
    finally:
        del os.environ["WRN_LAUNCH_ID"]
    assert staged_again == staged and (staged / "eval" / "test_batch.bin").read_bytes() == bytes(replaced)


def test_a_killed_obs_run_resumes_from_the_uploaded_checkpoint_and_keeps_every_launchs_log(obs_env, object_store,
                                                                                             tmp_path, in_process):
    """As on ModelArts after a preemption: the launch is SIGKILLed (no clean-up at all) as soon as its first last.ckpt
    reached train_url; the restarted launch runs on a fresh node (a new scratch) whose only memory is train_url in
    OBS: it resumes from the uploaded checkpoint, numbers itself from the launches the uploaded train.log holds and
    appends to it. (The uploader sends files in the order they were completed: metrics.jsonl and train.log of that
    epoch got there first. Four epochs: the uploader, a thread beside the training, has three epochs'
    time to send epoch 1's files, so the kill comes mid-run however loaded the machine.)"""
    bucket = object_store.new_bucket()
    storage_for(f"obs://{bucket}").upload_tree(make_cifar(tmp_path / "data"), f"obs://{bucket}/cifar10")
    data, run = f"obs://{bucket}/cifar10", f"obs://{bucket}/runs/preempted"
    killed = train(data, run, "--epochs=4", "--resume=auto",
                   env={**obs_env, "WRN_TEST_KILL_AT": "uploaded-ckpt/last.ckpt:0", "WRN_LAUNCH_ID": "first",
                        "WRN_SCRATCH_DIR": str(tmp_path / "node1")})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    uploaded_epochs = epochs_in(object_store.read(bucket, "runs/preempted/metrics.jsonl").decode())
    assert 1 <= len(uploaded_epochs) < 4

    status, out, err = in_process(train_main, *train_args(data, run, "--epochs=4", "--resume=auto"),
                                  env={"WRN_LAUNCH_ID": "second", "WRN_SCRATCH_DIR": str(tmp_path / "node2")})
    assert status == 0, err[-2000:]
    assert "launch 2 of this run (a restart: 1 earlier launch logged above)" in out
    resumed_at = int(out.split("resumed from")[1].split("epoch ")[1].split(" done")[0])
    assert 1 <= resumed_at < 4 and f"epoch {resumed_at + 1}/4 step" in out and f"epoch {resumed_at}/4 step" not in out
    records = [json.loads(r) for r in object_store.read(bucket, "runs/preempted/metrics.jsonl").decode().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3, 4] and records[-1]["global_step"] == 4 * 6
    assert json.loads(object_store.read(bucket, "runs/preempted/summary.json"))["epochs"] == 4
    log = object_store.read(bucket, "runs/preempted/train.log").decode()
    assert log.count("single launch: rank 0/1") == 2 and "resumed from" in log
    assert log.index(" launch 1 of this run: ") < log.index(" launch 2 of this run (a restart: 1 earlier launch")


# ---- disk and folders -------------------------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 600 kB tmpfs: room for the run's small files, not for a checkpoint with optimizer moments."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    assert done.returncode == 0, f"mounting a tmpfs needs root: {done.stderr}"
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_one_line_naming_the_folder_and_leaves_no_temp_file(tiny_data, small_disk):
    run = small_disk / "run"
    done = train(tiny_data, run, "--epochs=2", "--widen_factor=2")
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot write last.ckpt in {run / 'ckpt'}: No space left on device (")
    assert "MB free there" in last and "Traceback" not in done.stderr
    assert not [p.name for p in run.rglob(".*tmp*")]


def test_a_read_only_train_url_is_one_line(tiny_data, small_disk):
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    done = train(tiny_data, small_disk / "run", "--epochs=1")
    assert done.returncode == 2 and "is not a writable folder: Read-only file system" in done.stderr


# ---- user errors --------------------------------------------------------------------------------------------------------

def test_user_errors_are_one_line(tiny_data, tmp_path, in_process):
    """The variants run in this process (the same `run(train_main)` the script calls); the scripts' own exit status
    and stderr line are proven by the subprocess test below."""
    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    (tmp_path / "empty.yaml").write_text("# only a comment\n")
    (tmp_path / "list.yaml").write_text("- depth: 10\n")
    cases = {
        "empty config": ((train_main, f"--config={tmp_path / 'empty.yaml'}", f"--data_url={tiny_data}",
                          f"--train_url={tmp_path / 'r0'}"), f"config {tmp_path / 'empty.yaml'}: empty, expected a "
                                                             "mapping of key: value"),
        "list config": ((train_main, f"--config={tmp_path / 'list.yaml'}", f"--data_url={tiny_data}",
                         f"--train_url={tmp_path / 'r0'}"), "expected a mapping of key: value, got list"),
        "ema_decay 1.0 in float32": ((train_main, "--config=demo", f"--data_url={tiny_data}",
                                      f"--train_url={tmp_path / 'r0'}", "--ema_decay=0.99999999"),
                                     "config key 'ema_decay' has value 0.99999999, expected a value below 1 in "
                                     "float32"),
        "config not UTF-8": ((train_main, f"--config={tmp_path / 'latin1.yaml'}", f"--data_url={tiny_data}",
                              f"--train_url={tmp_path / 'r1'}"), "not UTF-8 text (byte 0xe9 at offset 9)"),
        "empty train_url": ((train_main, f"--data_url={tiny_data}", "--train_url="), "argument --train_url: empty"),
        "empty data_url": ((train_main, "--data_url= ", f"--train_url={tmp_path / 'r2'}"),
                           "argument --data_url: empty"),
        "two resumes": ((train_main, f"--data_url={tiny_data}", f"--train_url={tmp_path / 'r3'}",
                         "--resume=auto", "--resume=x.ckpt"), "--resume given with different values ('auto', 'x.ckpt')"),
    }
    for name, ((main, *args), message) in cases.items():
        status, _, err = in_process(main, *args)
        assert status == 2, name
        assert message in err, (name, err[-1500:])
        assert "Traceback" not in err, name
    assert not (tmp_path / "r0").exists()


def test_user_errors_of_the_entry_scripts_are_one_line_with_status_2(tiny_data, tmp_path):
    """As a user meets them: a new process of each script, its exit status and its last stderr line."""
    (tmp_path / "empty.yaml").write_text("# only a comment\n")
    cases = {
        "empty config": (["local/train.py", f"--config={tmp_path / 'empty.yaml'}", f"--data_url={tiny_data}",
                          f"--train_url={tmp_path / 'r0'}"], f"error: config {tmp_path / 'empty.yaml'}: empty, "
                                                             "expected a mapping of key: value"),
        # a fresh process: the runtime is not yet set up on CPU as in a test worker that trained before
        "no GPU": (["local/train.py", "--config=demo", f"--data_url={tiny_data}", f"--train_url={tmp_path / 'r4'}",
                    "--device_target=GPU"], "device_target GPU is not available here"),
        "eval output is a folder": (["local/eval.py", "--config=demo", f"--data_url={tiny_data}",
                                     f"--checkpoint={tmp_path / 'x.ckpt'}", f"--output={tmp_path}"],
                                    f"error: --output {tmp_path} is a folder"),
    }
    for name, (args, message) in cases.items():
        done = run_cli(*args)
        assert done.returncode == 2, name
        assert message in done.stderr.strip().splitlines()[-1], (name, done.stderr[-1500:])
        assert "Traceback" not in done.stderr, name
    assert not (tmp_path / "r0").exists()


def test_a_data_file_that_cannot_be_read_is_one_line(tmp_path, in_process):
    data = make_cifar(tmp_path / "data")
    (data / "eval" / "test_batch.bin").unlink()
    (data / "eval" / "test_batch.bin").mkdir()  # what a reader meets when it cannot open the file
    status, _, err = in_process(train_main, *train_args(data, tmp_path / "run"))
    assert status == 2 and "test_batch.bin" in err and "Traceback" not in err


# ---- signals -------------------------------------------------------------------------------------------------------------

def test_sigterm_mid_run_exits_143_saying_what_was_kept(tiny_data, tmp_path, in_process):
    """SIGTERM from another process in the middle of epoch 2 (6 steps an epoch): the run stops itself after global
    step 9 (SIGSTOP), receives SIGTERM there and is continued, so the signal arrives at a known step mid-epoch."""
    run = tmp_path / "run"
    process = start(tiny_data, run, "--epochs=3", env={"WRN_TEST_KILL_AT": "step-end:9:SIGSTOP"})
    wait_until_stopped(process)
    process.send_signal(signal.SIGTERM)  # pending while stopped, delivered when continued
    process.send_signal(signal.SIGCONT)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 143, err[-2000:]
    assert err.strip().splitlines()[-1] == (f"stopped by SIGTERM: every completed epoch is in {run} "
                                            "(ckpt/last.ckpt); continue with the same command and --resume=auto")
    assert epochs_in((run / "metrics.jsonl").read_text()) == [1]  # epoch 2 was cut: its record never written
    # the claim was released: no stale-claim take-over
    status, out, err = in_process(train_main, *train_args(tiny_data, run, "--epochs=3", "--resume=auto"))
    assert status == 0 and "taking over" not in out + err, err[-2000:]
    assert epochs_in((run / "metrics.jsonl").read_text()) == [1, 2, 3]


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_starting_exits_cleanly(tiny_data, tmp_path, sig, code):
    process = start(tiny_data, tmp_path / "run")
    time.sleep(0.7)  # inside `import mindspore`
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    assert process.returncode == code and "Fatal Python error" not in err
    assert err.strip().splitlines()[-1].startswith(f"stopped by {sig.name}")


# ---- job files -----------------------------------------------------------------------------------------------------------

def test_job_files_keep_secrets_out_and_check_their_inputs(tmp_path):
    job = (ROOT / "modelarts" / "jobs" / "wrn40_10_1p.yaml").read_text()
    (tmp_path / "job.yaml").write_text(job.replace("  resume: auto", "  resume: auto\n  obs_secret_key: S3CR3T-VALUE"))
    secret = run_cli("modelarts/submit.py", "submit", str(tmp_path / "job.yaml"), "--dry-run", "--var", "OBS_BUCKET=bkt")
    assert secret.returncode == 2 and "hyperparameters.obs_secret_key: credentials never live in job files" in \
        secret.stderr and "S3CR3T" not in secret.stderr + secret.stdout
    (tmp_path / "job2.yaml").write_text(job.replace("  resume: auto", "  resume: auto\n  epochs: 7"))
    as_env = run_cli("modelarts/submit.py", "submit", str(tmp_path / "job2.yaml"), "--dry-run", "--var", "OBS_BUCKET=bkt",
                     env={"OBS_SECRET_ACCESS_KEY": "7"})
    assert as_env.returncode == 2 and "hyperparameters.epochs: credentials" in as_env.stderr
    (tmp_path / "job3.yaml").write_text(job.replace("  resume: auto", "  resume: auto\n  data_url: obs://bkt/other/"))
    clash = run_cli("modelarts/submit.py", "submit", str(tmp_path / "job3.yaml"), "--dry-run", "--var", "OBS_BUCKET=bkt")
    assert clash.returncode == 2 and "hyperparameters.data_url (obs://bkt/other/) disagrees with inputs.data_url" in \
        clash.stderr
    bad_var = run_cli("modelarts/submit.py", "submit", str(tmp_path / "job2.yaml"), "--dry-run", "--var", "OBS_BUCKET")
    assert bad_var.returncode == 2 and "--var 'OBS_BUCKET': expected NAME=VALUE" in bad_var.stderr
    (tmp_path / "job4.yaml").write_bytes(job.encode() + "# caf\xe9\n".encode("latin-1"))
    latin = run_cli("modelarts/submit.py", "submit", str(tmp_path / "job4.yaml"), "--dry-run", "--var", "OBS_BUCKET=bkt")
    assert latin.returncode == 2 and "not UTF-8 text" in latin.stderr


def test_scratch_and_record_folders_do_not_pile_up(obs_env, object_store, tmp_path, in_process):
    records_before = len(list(Path(tempfile.gettempdir()).glob("wrn-obs-records-*")))  # older versions made one each
    bucket = object_store.new_bucket()
    storage_for(f"obs://{bucket}").upload_tree(make_cifar(tmp_path / "data"), f"obs://{bucket}/cifar10")
    for launch in ("first", "second"):  # two launches of the job, in this process
        status, _, err = in_process(train_main, *train_args(f"obs://{bucket}/cifar10", f"obs://{bucket}/runs/again",
                                                            "--epochs=1", "--resume=auto"),
                                    env={"WRN_LAUNCH_ID": launch})
        assert status == 0, err[-2000:]
    copies = list((Path(obs_env["WRN_SCRATCH_DIR"]) / "runs").iterdir())
    assert len(copies) == 1  # the first launch's fully uploaded copy was removed by the second
    assert len(list(Path(tempfile.gettempdir()).glob("wrn-obs-records-*"))) == records_before


# ---- resume that cannot lie -----------------------------------------------------------------------------------------

@pytest.fixture
def finished(trained_run):
    """The session's finished 2-epoch run (its data, its folder: this file's RUN keys); tests copy the folder before
    changing it."""
    return trained_run["data"], trained_run["run"]


def copy_run(run: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(run, target)
    return target


def test_a_finished_checkpoint_resumed_into_a_new_folder_is_refused(finished, tmp_path, in_process):
    data, run = finished
    status, _, err = in_process(train_main, *train_args(data, tmp_path / "new", "--epochs=2",
                                                        f"--resume={run / 'ckpt' / 'last.ckpt'}"))
    assert status == 2 and "Traceback" not in err
    assert (f"checkpoint {run / 'ckpt' / 'last.ckpt'} completed all 2 epochs of its run: resuming it into a new "
            "train_url would train nothing") in err
    assert not (tmp_path / "new" / "summary.json").exists()


def test_epochs_below_the_completed_epochs_is_an_error(finished, tmp_path, in_process):
    data, run = finished
    status, _, err = in_process(train_main, *train_args(data, copy_run(run, tmp_path / "run"), "--epochs=1",
                                                        "--resume=auto"))
    assert status == 2 and ("config key 'epochs' has value 1, but checkpoint "
                            f"{tmp_path / 'run' / 'ckpt' / 'last.ckpt'} already completed 2 epochs") in err


@pytest.mark.parametrize("override", ["--cutout=8", "--batch_size=8", "--mean=0.5,0.5,0.5", "--depth=16",
                                      "--dataset=cifar100", "--label_smoothing=0.1", "--random_flip=true"])
def test_keys_that_change_what_completed_epochs_mean_are_refused_on_resume(finished, tmp_path, in_process, override):
    data, run = finished
    key = override[2:].split("=")[0]
    status, _, err = in_process(train_main, *train_args(data, copy_run(run, tmp_path / "run"), "--epochs=3",
                                                        "--resume=auto", override))
    assert status == 2 and "Traceback" not in err
    assert f"config key {key!r} has value" in err and "changes what the completed epochs mean" in err
    assert epochs_in((tmp_path / "run" / "metrics.jsonl").read_text()) == [1, 2]


def test_schedule_keys_changed_on_resume_warn_once_and_the_history_keeps_both(finished, tmp_path, in_process):
    data, run = finished
    run = copy_run(run, tmp_path / "run")
    status, out, err = in_process(train_main, *train_args(data, run, "--epochs=3", "--lr=0.02", "--resume=auto"))
    assert status == 0, err[-2000:]
    warnings = [line for line in out.splitlines() if "with changed keys" in line]
    assert len(warnings) == 1 and "epochs 2 -> 3, lr 0.05 -> 0.02" in warnings[0]
    history = [json.loads(line) for line in (run / "config_history.jsonl").read_text().splitlines()]
    assert [(h["from_epoch"], h["config"]["epochs"], h["config"]["lr"]) for h in history] == [(1, 2, 0.05), (3, 3, 0.02)]
    assert "epochs: 3" in (run / "config.yaml").read_text() and epochs_in((run / "metrics.jsonl").read_text()) == [1, 2, 3]


# ---- metrics records checked, not trusted ---------------------------------------------------------------------------

def complete_record(epoch: int = 1) -> dict:
    return {"epoch": epoch, "global_step": 6 * epoch, "train_loss": 2.1, "lr": 0.05, "epoch_seconds": 1.0,
            "step_seconds": 0.1, "images_per_second": 90.0, "loss_scale": 1.0, "overflow_steps": 0, "top1": 0.5,
            "top5": 0.9, "eval_loss": 1.9, "eval_images": 40}


def test_a_complete_record_is_kept_and_every_missing_or_mistyped_field_is_named():
    from wrn.output import records

    assert records.parse(json.dumps(complete_record())).kept == [complete_record()]
    for name in records.FIELDS:
        missing = {k: v for k, v in complete_record().items() if k != name}
        for damaged, reason in ((missing, f"no field {name!r}"),
                                ({**complete_record(), name: "7"}, f"field {name!r} is '7', expected"),
                                ({**complete_record(), name: True}, f"field {name!r} is True, expected")):
            parsed = records.parse(json.dumps(complete_record()) + "\n" + json.dumps({**damaged, "epoch": 2}
                                                                                     if name != "epoch" else damaged))
            assert [r["epoch"] for r in parsed.kept] == [1], name
            assert parsed.dropped[0][0] == 2 and reason in parsed.dropped[0][1], (name, parsed.dropped)
    for nullable in ("top1", "top5", "eval_loss", "eval_images"):
        assert records.parse(json.dumps({**complete_record(), nullable: None})).dropped == []
    for name in ("global_step", "train_loss", "lr", "overflow_steps"):
        assert "expected" in records.parse(json.dumps({**complete_record(), name: None})).dropped[0][1]
    repeated = records.parse("\n".join(json.dumps(complete_record(e)) for e in (1, 2, 2, 1, 3)))
    assert [r["epoch"] for r in repeated.kept] == [1, 2, 3]
    assert [n for n, _ in repeated.dropped] == [3, 4] and "epoch 2 again" in repeated.dropped[0][1]
    assert records.parse("[1, 2]\n").dropped == [(1, "a JSON list, not an object")]


@pytest.mark.parametrize("damage", ["missing", "mistyped", "repeated"])
def test_records_that_parse_but_are_not_complete_are_dropped_and_the_run_goes_on(finished, tmp_path, in_process,
                                                                                 damage):
    data, run = finished
    run = copy_run(run, tmp_path / "run")
    first = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    line = {"missing": {k: v for k, v in first.items() if k != "train_loss"},
            "mistyped": {**first, "epoch": 3, "lr": "0.1"}, "repeated": first}[damage]
    with open(run / "metrics.jsonl", "a") as metrics:
        metrics.write(json.dumps(line) + "\n")
    status, out, err = in_process(train_main, *train_args(data, run, "--epochs=3", "--resume=auto"))
    assert status == 0 and "Traceback" not in err, err[-2000:]
    assert "metrics.jsonl: dropped 1 damaged line(s) (line 3: " in out
    assert epochs_in((run / "metrics.jsonl").read_text()) == [1, 2, 3]
    assert json.loads((run / "summary.json").read_text())["epochs"] == 3


# ---- the run claim under damage -------------------------------------------------------------------------------------

def live_claim(**changes) -> dict:
    """The claim of a live process on this host (pid 1) as the claim code writes it."""
    import socket

    from wrn.platform.runtime import process_start_ticks

    return {"launch": "l1", "host": socket.gethostname(), "pid": 1, "pid_start": process_start_ticks(1),
            "started": time.time() - 60, "heartbeat": time.time(), **changes}


def claim_of(run: Path):
    from wrn.platform.storage.local import LocalStorage
    from wrn.output.claim import RunClaim

    return RunClaim(LocalStorage(), str(run), env={"WRN_CLAIM_STALE": "3", "WRN_CLAIM_HEARTBEAT": "0.5"})


def test_a_live_claim_on_this_host_is_refused_with_advice_that_helps(tmp_path):
    from wrn.errors import RunDirError

    (tmp_path / ".wrn-claims").mkdir()
    (tmp_path / ".wrn-claims" / "other.json").write_text(json.dumps(live_claim()))
    with pytest.raises(RunDirError, match=r"is in use by pid 1 on host .*: one training per run directory; that "
                                          r"process is running on this host: wait for it to end or stop it \(kill 1\)"):
        claim_of(tmp_path).acquire()
    assert [p.name for p in (tmp_path / ".wrn-claims").iterdir()] == ["other.json"]


@pytest.mark.parametrize("field", ["launch", "host", "pid", "pid_start", "started", "heartbeat"])
@pytest.mark.parametrize("damage", ["missing", "empty", "null", "zero"])
def test_a_claim_with_a_damaged_field_neither_blocks_nor_misleads(tmp_path, caplog, field, damage):
    claim = live_claim()
    if damage == "missing":
        del claim[field]
    else:
        claim[field] = {"empty": "", "null": None, "zero": 0}[damage]
    (tmp_path / ".wrn-claims").mkdir()
    (tmp_path / ".wrn-claims" / "damaged.json").write_text(json.dumps(claim))
    started = time.monotonic()
    holder = claim_of(tmp_path).acquire()
    try:
        assert time.monotonic() - started < 2  # taken at once, not after a stale wait
        assert not (tmp_path / ".wrn-claims" / "damaged.json").exists()
        assert f"removing the damaged run claim {tmp_path / '.wrn-claims' / 'damaged.json'}" in caplog.text
    finally:
        holder.release()


def test_a_claims_path_that_is_not_a_folder_is_one_line(tiny_data, tmp_path, in_process):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".wrn-claims").write_text("not a folder")
    status, _, err = in_process(train_main, *train_args(tiny_data, run))
    assert status == 2 and err.strip() == (
        f"error: {run / '.wrn-claims'} is not a folder: this package keeps the run claims of train_url {run} there; "
        "remove or rename it")


# ---- obs:// runs: leftovers and the final upload --------------------------------------------------------------------

def test_a_killed_obs_run_leaves_no_upload_or_empty_folders(obs_env, object_store, tmp_path, in_process):
    uploads_before = len(list(Path(tempfile.gettempdir()).glob("wrn-upload-*")))
    bucket = object_store.new_bucket()
    storage_for(f"obs://{bucket}").upload_tree(make_cifar(tmp_path / "data"), f"obs://{bucket}/cifar10")
    data, run = f"obs://{bucket}/cifar10", f"obs://{bucket}/runs/k"
    scratch = Path(obs_env["WRN_SCRATCH_DIR"]) / "runs"
    killed = train(data, run, "--epochs=2", "--resume=auto", env={**obs_env, "WRN_TEST_KILL_AT": "after-last:1",
                                                                  "WRN_LAUNCH_ID": "first"})
    assert killed.returncode == -signal.SIGKILL
    (scratch / (next(scratch.iterdir()).name.rsplit("-", 1)[0] + "-empty")).mkdir()  # a launch killed at its start
    status, out, err = in_process(train_main, *train_args(data, run, "--epochs=2", "--resume=auto"),
                                  env={"WRN_LAUNCH_ID": "second"})
    assert status == 0, err[-2000:]
    left = sorted(p.name.rsplit("-", 1)[1] for p in scratch.iterdir())
    assert left == ["first", "second"]  # the killed copy holds files (kept and named); no .upload, no empty copy
    assert "keeping " in out + err and len(list(Path(tempfile.gettempdir()).glob("wrn-upload-*"))) == uploads_before


def test_sigterm_during_the_final_upload_still_uploads_the_summary(obs_env, object_store, tmp_path):
    bucket = object_store.new_bucket()
    storage_for(f"obs://{bucket}").upload_tree(make_cifar(tmp_path / "data"), f"obs://{bucket}/cifar10")
    done = train(f"obs://{bucket}/cifar10", f"obs://{bucket}/runs/t", "--epochs=1",
                 env={**obs_env, "WRN_TEST_KILL_AT": "final-upload:0:SIGTERM"})
    assert done.returncode == 143 and "SIGTERM received: finishing the upload of the run's files first" in done.stdout
    assert done.stderr.strip().splitlines()[-1].startswith("stopped by SIGTERM")
    summary = json.loads(object_store.read(bucket, "runs/t/summary.json"))
    assert summary["epochs"] == 1 and "runs/t/ckpt/best.ckpt" in object_store.keys(bucket, "runs/t/")


def test_a_failed_start_leaves_no_run_folder(tmp_path):
    missing = tmp_path / "no-data"
    done = train(missing, tmp_path / "runs" / "exp")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert not (tmp_path / "runs" / "exp").exists()
