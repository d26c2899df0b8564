"""The run folder's parts one at a time, in this process, on real files: the run directory (RunDir), the checkpoint
saver, the run claim and staging. The fault catalogue (test_faults.py) covers the same guarantees end to end."""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import time
from pathlib import Path

import pytest

from wrn.errors import RunDirError
from wrn.platform.staging import StagingOptions, scratch_slot, stage_in
from wrn.platform.runtime import launch_id, process_start_ticks
from wrn.platform.storage import StorageError, storage_for
from wrn.platform.storage.local import LocalStorage
from wrn.output import checkpoint as ckpt
from wrn.output.claim import CLAIMS, Claim, RunClaim
from wrn.output.rundir import RunDir

# ---- the run directory ------------------------------------------------------------------------------------------


def test_a_run_directory_is_created_and_its_files_have_fixed_names(tmp_path):
    run = RunDir.open(tmp_path / "a" / "run")
    assert run.root == (tmp_path / "a" / "run").resolve() and run.root.is_dir() and list(run.root.iterdir()) == []
    assert (run.config.name, run.metrics.name, run.log.name, run.summary.name) == \
        ("config.yaml", "metrics.jsonl", "train.log", "summary.json")
    assert run.last_ckpt == run.root / "ckpt" / "last.ckpt" and run.best_ckpt == run.root / "ckpt" / "best.ckpt"
    assert run.epoch_ckpt(7) == run.root / "ckpt" / "epoch_0007.ckpt"
    assert RunDir.open(tmp_path / "r", rank=3).log == (tmp_path / "r").resolve() / "logs" / "rank_3" / "train.log"
    assert run.location("ckpt/last.ckpt") == str(run.root / "ckpt" / "last.ckpt") and str(run) == str(run.root)
    remote = RunDir.open(tmp_path / "copy", remote="obs://b/runs/x")
    assert remote.location("ckpt/last.ckpt") == "obs://b/runs/x/ckpt/last.ckpt" and str(remote) == "obs://b/runs/x"


def test_a_train_url_that_cannot_be_a_folder_is_one_line(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(RunDirError, match=r"train_url .*afile/run is not a writable folder: Not a directory"):
        RunDir.open(tmp_path / "afile" / "run")


def test_every_output_argument_is_proven_writable_before_the_work(tmp_path):
    """train_url, eval's --output file and infer's --output folder share one probe; each names its own argument."""
    from wrn.deploy.infer import check_output_folder
    from wrn.errors import WrnError
    from wrn.fileio import check_writable

    (tmp_path / "afile").write_text("x")
    with pytest.raises(WrnError, match=r"^--output .*afile/x/eval.json: its folder .*afile/x is not writable \(Not a "
                                       r"directory\)$"):
        check_writable(tmp_path / "afile" / "x" / "eval.json")
    with pytest.raises(WrnError, match=r"^--output .*afile/out: not a writable folder \(Not a directory\)$"):
        check_output_folder(tmp_path / "afile" / "out")
    check_writable(tmp_path / "new" / "eval.json")
    check_output_folder(tmp_path / "results")
    assert (tmp_path / "new").is_dir() and list((tmp_path / "results").iterdir()) == []  # no probe left behind


def test_writes_are_whole_or_absent_and_each_finished_one_is_reported(tmp_path):
    run = RunDir.open(tmp_path / "run")
    heard: list[tuple[str, bool]] = []
    run.listeners.append(lambda path, now: heard.append((path.name, now)))
    run.write_text(run.config, "depth: 10\n", upload_now=True)
    run.write_json(run.summary, {"b": 1, "a": 2})

    def half_then_fail(temp: Path) -> None:
        temp.write_text("half")
        raise ValueError("the writer failed")

    with pytest.raises(ValueError):
        run.write(run.config, half_then_fail)
    assert run.config.read_text() == "depth: 10\n"  # the old file, untouched
    assert json.loads(run.summary.read_text()) == {"a": 2, "b": 1}
    assert sorted(p.name for p in run.root.iterdir()) == ["config.yaml", "summary.json"]  # no temp file left
    run.append_line(run.metrics, json.dumps({"epoch": 1}))
    run.append_line(run.metrics, json.dumps({"epoch": 2}))
    assert run.metrics.read_text().splitlines() == ['{"epoch": 1}', '{"epoch": 2}']
    assert heard == [("config.yaml", True), ("summary.json", False), ("metrics.jsonl", False),
                     ("metrics.jsonl", False)]


def test_a_full_disk_while_writing_is_one_line_naming_the_folder(tmp_path):
    run = RunDir.open(tmp_path / "run")

    def disk_full(temp: Path) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(RunDirError, match=rf"cannot write last.ckpt in {run.root / 'ckpt'}: No space left on device "
                                          r"\(\d+\.\d MB free there\); free space or choose another train_url"):
        run.write(run.last_ckpt, disk_full)
    with pytest.raises(ValueError):  # anything else stays the error it is
        run.write(run.config, lambda temp: (_ for _ in ()).throw(ValueError("x")))


def test_links_removals_and_stale_temp_files(tmp_path):
    run = RunDir.open(tmp_path / "run")
    run.write_text(run.last_ckpt, "state of epoch 3")
    for epoch in (3, 1, 2):
        run.link(run.last_ckpt, run.epoch_ckpt(epoch))
    assert run.epoch_ckpt(3).read_text() == "state of epoch 3"
    assert run.epoch_ckpt(3).stat().st_ino == run.last_ckpt.stat().st_ino  # a hard link, not a second copy
    (run.root / "ckpt" / "epoch_12.ckpt").write_text("not a periodic name")
    assert run.periodic_ckpts() == [run.epoch_ckpt(1), run.epoch_ckpt(2), run.epoch_ckpt(3)]
    run.remove(run.epoch_ckpt(1))
    run.remove(run.epoch_ckpt(1))  # already gone: fine
    assert run.periodic_ckpts() == [run.epoch_ckpt(2), run.epoch_ckpt(3)]
    (run.root / ".summary.json.tmp123").write_text("half")
    (run.root / "ckpt" / ".last.ckpt.tmpabc.ckpt").write_text("half")
    run.clear_stale_temp_files()
    assert not list(run.root.rglob(".*.tmp*")) and run.last_ckpt.read_text() == "state of epoch 3"


# ---- the checkpoint saver ---------------------------------------------------------------------------------------

def saved_epoch(path: Path) -> int:
    return int(ckpt.read(path)["run_epoch"].asnumpy().item())


@pytest.fixture(scope="module")
def tiny_net():
    from wrn.core.model import create_model

    return create_model(depth=10, widen_factor=1)


def test_the_saver_keeps_last_best_and_the_newest_periodic_checkpoints(tmp_path, tiny_net):
    from wrn.run.saver import CheckpointSaver

    run = RunDir.open(tmp_path / "run")
    saver = CheckpointSaver(run, tiny_net, tiny_net, steps_per_epoch=6, keep_max=2, interval=1, final_epoch=4,
                            config_text="depth: 10\n")
    assert saver.save(1, 6, top1=0.5) == (0.5, 1)
    assert saver.save(2, 12, top1=0.4) == (0.5, 1)  # not better: best stays epoch 1
    assert saver.save(3, 18, top1=None) == (0.5, 1)  # not evaluated
    assert saver.save(4, 24, top1=0.7) == (0.7, 4)
    assert saved_epoch(run.last_ckpt) == 4 and saved_epoch(run.best_ckpt) == 4
    assert run.periodic_ckpts() == [run.epoch_ckpt(3), run.epoch_ckpt(4)]  # the newest keep_max=2
    last = ckpt.read(run.last_ckpt)
    assert [int(last[f"run_{k}"].asnumpy().item()) for k in ("epoch", "global_step", "steps_per_epoch", "best_epoch")] \
        == [4, 24, 6, 4]
    assert ckpt.read_config_text(run.best_ckpt) == "depth: 10\n"  # every checkpoint knows its network
    assert sorted(p.name for p in (run.root / "ckpt").iterdir()) == [
        "best.ckpt", "epoch_0003.ckpt", "epoch_0004.ckpt", "last.ckpt"]  # no temp file


def test_the_saver_with_keep_max_0_keeps_no_periodic_checkpoints_and_every_interval_otherwise(tmp_path, tiny_net):
    from wrn.run.saver import CheckpointSaver

    none_kept = RunDir.open(tmp_path / "none")
    saver = CheckpointSaver(none_kept, tiny_net, tiny_net, steps_per_epoch=2, keep_max=0, final_epoch=2)
    saver.save(1, 2, top1=0.1)
    saver.save(2, 4, top1=0.2)
    assert none_kept.periodic_ckpts() == [] and saved_epoch(none_kept.best_ckpt) == 2
    every_2nd = RunDir.open(tmp_path / "every2")
    saver = CheckpointSaver(every_2nd, tiny_net, tiny_net, steps_per_epoch=2, keep_max=5, interval=2, final_epoch=5)
    for epoch in range(1, 6):
        saver.save(epoch, 2 * epoch, top1=None)
    # every 2nd epoch and the final one
    assert every_2nd.periodic_ckpts() == [every_2nd.epoch_ckpt(2), every_2nd.epoch_ckpt(4), every_2nd.epoch_ckpt(5)]
    assert not every_2nd.best_ckpt.exists()  # never evaluated: no best


def test_a_resumed_best_epoch_gets_its_best_checkpoint_written(tmp_path, tiny_net):
    from wrn.run.saver import CheckpointSaver

    run = RunDir.open(tmp_path / "run")
    CheckpointSaver(run, tiny_net, tiny_net, steps_per_epoch=2).save(1, 2, top1=0.3)
    run.best_ckpt.unlink()  # as a kill between last.ckpt and best.ckpt leaves it
    state = ckpt.TrainState(epoch=1, global_step=2, steps_per_epoch=2, best_top1=0.3, best_epoch=1)
    resumed = CheckpointSaver(run, tiny_net, tiny_net, steps_per_epoch=2, best_top1=state.best_top1,
                              best_epoch=state.best_epoch)
    resumed.resumed(state)
    assert saved_epoch(run.best_ckpt) == 1
    elsewhere = RunDir.open(tmp_path / "other")  # another run's checkpoint: nothing of that epoch is kept here
    CheckpointSaver(elsewhere, tiny_net, tiny_net, steps_per_epoch=2, best_epoch=1).resumed(state)
    assert not elsewhere.best_ckpt.exists()


# ---- the run claim ----------------------------------------------------------------------------------------------

FAST = {"WRN_CLAIM_STALE": "0.5", "WRN_CLAIM_HEARTBEAT": "0.05"}


def other_claim(folder: Path, **fields) -> Path:
    """The claim file another process writes (named by its host, pid and start)."""
    claim = {"launch": "l0", "host": "another-host", "pid": 4242, "pid_start": "17", "started": time.time() - 60,
             "heartbeat": time.time(), **fields}
    (folder / CLAIMS).mkdir(exist_ok=True)
    path = folder / CLAIMS / Claim.parse(json.dumps(claim)).file_name()
    path.write_text(json.dumps(claim))
    return path


def test_a_claim_is_one_file_per_process_renewed_while_held_and_gone_with_its_folder_when_released(tmp_path):
    claim = RunClaim(LocalStorage(), str(tmp_path), env=FAST).acquire()
    try:
        files = list((tmp_path / CLAIMS).iterdir())
        assert [f.name for f in files] == [f"{socket.gethostname()}-{os.getpid()}-{process_start_ticks(os.getpid())}"
                                           ".json"]
        first = Claim.parse(files[0].read_text())
        assert first.pid == os.getpid() and first.launch == launch_id()
        time.sleep(0.3)
        assert Claim.parse(files[0].read_text()).heartbeat > first.heartbeat  # the heartbeat thread renews it
    finally:
        claim.release()
    assert not (tmp_path / CLAIMS).exists()


def test_a_claim_on_another_host_is_waited_for_until_stale_then_taken_over(tmp_path, caplog):
    other = other_claim(tmp_path, heartbeat=time.time())  # fresh now, stale in 0.5 s
    caplog.set_level(logging.INFO, logger="wrn")
    started = time.monotonic()
    claim = RunClaim(LocalStorage(), str(tmp_path), env=FAST).acquire()
    try:
        assert time.monotonic() - started >= 0.3 and not other.exists()
        assert "waiting for the claim of pid 4242 on host another-host" in caplog.text
        assert "taking over train_url from a stale claim: pid 4242 on host another-host" in caplog.text
    finally:
        claim.release()


def test_a_live_claim_on_another_host_that_stays_fresh_is_refused_naming_what_to_delete(tmp_path):
    other = other_claim(tmp_path, heartbeat=time.time() + 3600)  # renewed: never stale within the wait
    with pytest.raises(RunDirError, match=r"is in use by pid 4242 on host another-host .*: one training per run "
                                          r"directory; if that run is gone, its claim goes stale after 0 s without a "
                                          r"heartbeat \(WRN_CLAIM_STALE\), or delete .*another-host-4242-17.json"):
        RunClaim(LocalStorage(), str(tmp_path), env=FAST).acquire()
    assert [p.name for p in (tmp_path / CLAIMS).iterdir()] == [other.name]  # ours withdrawn, theirs kept


def test_the_claim_of_a_dead_process_on_this_host_is_taken_over_at_once(tmp_path):
    dead = other_claim(tmp_path, host=socket.gethostname(), pid=2 ** 22 + 7, pid_start="99")
    started = time.monotonic()
    claim = RunClaim(LocalStorage(), str(tmp_path), env={"WRN_CLAIM_STALE": "300"}).acquire()
    try:
        assert time.monotonic() - started < 2 and not dead.exists()
    finally:
        claim.release()


@pytest.mark.parametrize("text,reason", [("[1]", "a JSON list, not an object"), ('{"launch": "l"}', "no field 'host'"),
                                         ('{"launch": "l", "host": "h", "pid": true}', "field 'pid' is True")])
def test_a_claim_file_that_is_not_a_claim_names_what_is_wrong(text, reason):
    with pytest.raises(ValueError, match=reason.replace("(", r"\(")):
        Claim.parse(text)


def test_claim_timings_from_the_environment_are_checked():
    with pytest.raises(RunDirError, match="WRN_CLAIM_STALE"):
        RunClaim(LocalStorage(), "/nowhere", env={"WRN_CLAIM_STALE": "soon"})


# ---- staging ----------------------------------------------------------------------------------------------------

def test_a_local_location_is_used_in_place_and_process_identity_is_stable(tmp_path, monkeypatch):
    options = StagingOptions(scratch=tmp_path / "scratch")
    assert stage_in(str(tmp_path / "data"), 0, options) == tmp_path / "data" and not (tmp_path / "scratch").exists()
    assert scratch_slot(tmp_path, "data", "obs://b/x") == scratch_slot(tmp_path, "data", "obs://b/x") != \
        scratch_slot(tmp_path, "eval-data", "obs://b/x")
    assert process_start_ticks(os.getpid()).isdigit() and process_start_ticks(2 ** 22 + 7) == ""
    monkeypatch.setenv("WRN_LAUNCH_ID", "launch-7")
    assert launch_id() == "launch-7"
    monkeypatch.delenv("WRN_LAUNCH_ID")
    assert launch_id() == f"{os.getppid()}-{process_start_ticks(os.getppid())}"  # siblings share it
    monkeypatch.setenv("WRN_SCRATCH_DIR", str(tmp_path / "s"))
    assert StagingOptions.from_env().scratch == tmp_path / "s"
    assert StagingOptions.from_env(str(tmp_path / "given")).scratch == tmp_path / "given"


def test_remote_data_is_staged_once_per_launch_and_other_local_ranks_wait_for_it(obs_env, object_store, tmp_path,
                                                                                monkeypatch):
    bucket = object_store.new_bucket()
    storage = storage_for(f"obs://{bucket}")
    (tmp_path / "src" / "eval").mkdir(parents=True)
    (tmp_path / "src" / "eval" / "test_batch.bin").write_bytes(b"\x01" * 3073)
    storage.upload_tree(tmp_path / "src", f"obs://{bucket}/data")
    storage.upload_file(tmp_path / "src" / "eval" / "test_batch.bin", f"obs://{bucket}/ckpt/best.ckpt")
    options = StagingOptions(scratch=tmp_path / "scratch", wait_timeout=5, poll_interval=0.01)
    monkeypatch.setenv("WRN_LAUNCH_ID", "one")
    staged = stage_in(f"obs://{bucket}/data", 0, options)
    assert (staged / "eval" / "test_batch.bin").read_bytes() == b"\x01" * 3073
    assert stage_in(f"obs://{bucket}/data", 1, options) == staged  # local rank 1 reads rank 0's marker
    single = stage_in(f"obs://{bucket}/ckpt/best.ckpt", 0, options, kind="checkpoint")
    assert single.name == "best.ckpt" and single.read_bytes() == b"\x01" * 3073
    with pytest.raises(StorageError, match=f"obs://{bucket}/nothing holds no files"):
        stage_in(f"obs://{bucket}/nothing", 0, options)
    with pytest.raises(StorageError, match="staging .* failed on this node's local rank 0: .* holds no files"):
        stage_in(f"obs://{bucket}/nothing", 1, options)
    monkeypatch.setenv("WRN_LAUNCH_ID", "two")  # a new launch whose rank 0 never staged
    with pytest.raises(StorageError, match=r"waited 0 s for local rank 0 to stage .* set the same WRN_LAUNCH_ID"):
        stage_in(f"obs://{bucket}/data", 1, StagingOptions(scratch=tmp_path / "scratch", wait_timeout=0.2,
                                                           poll_interval=0.01))
