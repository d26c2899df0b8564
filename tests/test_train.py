import json
from pathlib import Path

import numpy as np
import pytest
import yaml

import wrn.run.train
from wrn.output import checkpoint as ckpt
from wrn.builder.build import build_trainer, setup_runtime
from wrn.run.callbacks import EpochEnd
from wrn.config import build_config
from wrn.errors import CheckpointError, ConfigError, RunDirError
from wrn.run.train import train
from conftest import WHOLE_RUN, make_cifar

RUN_FILES = ["config.yaml", "config_history.jsonl", "metrics.jsonl", "train.log", "ckpt/last.ckpt", "ckpt/best.ckpt", "curves.png",
             "summary.json"]


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_training_learns_and_fills_the_run_directory(whole_run):
    run, summary = whole_run["run"], whole_run["summary"]  # 4 epochs, lr 0.1 (WHOLE_RUN)
    for name in RUN_FILES:
        assert (run / name).is_file(), name
    assert not [p for p in run.rglob("*") if ".tmp" in p.name]
    records = metrics(run)
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    assert records[-1]["global_step"] == 4 * 6 and records[-1]["eval_images"] == 40
    assert summary["best_top1"] == max(r["top1"] for r in records) and summary["best_top1"] >= 0.5
    assert build_config(yaml.safe_load((run / "config.yaml").read_text())).epochs == 4
    log = (run / "train.log").read_text()
    assert "epoch 1/4 step 5/6 loss" in log and "img/s" in log and " lr " in log
    assert json.loads((run / "summary.json").read_text()) == summary
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    state = ckpt.train_state(ckpt.read(run / "ckpt" / "last.ckpt"), "last")
    assert (state.epoch, state.global_step) == (4, 24)
    assert state.best_top1 == pytest.approx(summary["best_top1"])


def test_eval_schedule_periodic_checkpoints_loss_scale_and_accumulation(tiny_data: Path, tiny_cfg, tmp_path: Path):
    # one run for four options that do not interact: which epochs evaluate, which checkpoints are kept, a fixed loss
    # scale, and optimizer steps of 5 accumulated micro-batches of 4
    cfg = tiny_cfg(epochs=5, eval_interval=2, eval_start_epoch=2, keep_checkpoint_max=2, loss_scale=1024,
                   batch_size=4, accumulation_steps=5, log_interval=2)
    run = tmp_path / "run"
    train(cfg, tiny_data, run)
    records = metrics(run)
    assert [r["epoch"] for r in records if r["top1"] is not None] == [2, 4, 5]  # 5: the last epoch always evaluates
    assert all(np.isfinite(r["train_loss"]) for r in records)
    assert [(r["loss_scale"], r["overflow_steps"]) for r in records] == [(1024, 0)] * 5
    assert sorted(p.name for p in (run / "ckpt").glob("epoch_*")) == ["epoch_0004.ckpt", "epoch_0005.ckpt"]
    # 96 images = 24 micro-batches of 4 = 4 optimizer steps of 5 micro-batches, the last 4 left out
    assert [r["global_step"] for r in records] == [4, 8, 12, 16, 20]
    last = ckpt.read(run / "ckpt" / "last.ckpt")
    state = ckpt.train_state(last, "last")
    assert (state.global_step, state.steps_per_epoch) == (20, 4)
    assert last["global_step"].asnumpy().item() == 20  # the LR position
    assert not [name for name in last if name.startswith("accumulated.")]
    log = (run / "train.log").read_text()
    assert "batch 4 per device x 5 accumulated, 20 global" in log and "epoch 5/5 step 4/4 loss" in log
    assert "the last 4 of 24 micro-batches per epoch make no whole optimizer step" in log


def test_periodic_checkpoints_are_the_epochs_whole_state_and_best_holds_weights(whole_run):
    ckpt_dir = whole_run["run"] / "ckpt"  # keep_checkpoint_max 4 of 4 epochs (WHOLE_RUN)
    assert (ckpt_dir / "last.ckpt").stat().st_ino == (ckpt_dir / "epoch_0004.ckpt").stat().st_ino  # linked
    assert ckpt.train_state(ckpt.read(ckpt_dir / "epoch_0001.ckpt"), "e1").epoch == 1
    assert "moments.stem.weight" in ckpt.read(ckpt_dir / "epoch_0001.ckpt")
    assert "moments.stem.weight" not in ckpt.read(ckpt_dir / "best.ckpt")


class _Interrupt(Exception):
    pass


def test_resume_continues_at_the_next_epoch_with_the_same_lr_sequence(whole_run, tiny_cfg, tmp_path, monkeypatch):
    # the uninterrupted run: WHOLE_RUN's 4 epochs of a warm-up, then milestones at 2 and 3
    cfg, whole, tiny_data = WHOLE_RUN, whole_run["run"], whole_run["data"]

    class StopAfterTwo(EpochEnd):
        def on_train_epoch_end(self, run_context):
            super().on_train_epoch_end(run_context)
            if run_context.original_args().cur_epoch_num == 2:
                raise _Interrupt

    parted = tmp_path / "parted"
    monkeypatch.setattr(wrn.run.train, "EpochEnd", StopAfterTwo)
    with pytest.raises(_Interrupt):
        train(tiny_cfg(**cfg), tiny_data, parted)
    monkeypatch.setattr(wrn.run.train, "EpochEnd", EpochEnd)
    with pytest.raises(RunDirError, match="already holds a run"):
        train(tiny_cfg(**cfg), tiny_data, parted)
    stopped = ckpt.read(parted / "ckpt" / "last.ckpt")
    train(tiny_cfg(**cfg), tiny_data, parted, resume="auto")

    a, b = metrics(whole), metrics(parted)
    assert [r["epoch"] for r in b] == [1, 2, 3, 4]
    assert [(r["global_step"], r["lr"]) for r in a] == [(r["global_step"], r["lr"]) for r in b]
    final = ckpt.read(parted / "ckpt" / "last.ckpt")
    # The optimizer's own step counter (which indexes the LR array) continued from the checkpoint.
    assert stopped["global_step"].asnumpy().item() == 12 and final["global_step"].asnumpy().item() == 24
    log = (parted / "train.log").read_text()
    after_resume = log.split("resumed from")[1]
    assert "epoch 3/4 step 5/6" in after_resume and "epoch 2/4" not in after_resume and "epoch 1/4" not in after_resume


def test_restoring_a_checkpoint_brings_back_optimizer_state(whole_run):
    cfg = whole_run["cfg"]
    saved = ckpt.read(whole_run["run"] / "ckpt" / "last.ckpt")
    trainer = build_trainer(cfg, 6, setup_runtime(cfg))
    ckpt.load_into(trainer.step, saved, "last", skip=("learning_rate",))
    params = {p.name: p for p in trainer.step.get_parameters()}
    moments = [n for n in saved if n.startswith("moments.")]
    assert moments and all(np.array_equal(params[n].asnumpy(), saved[n].asnumpy()) for n in moments)
    assert np.abs(saved["moments.stem.weight"].asnumpy()).sum() > 0


def test_bad_resume_sources_are_clear_errors(whole_run, tiny_cfg, tmp_path):
    # resumes of the shared 4-epoch run into new folders, one epoch further, each changing one thing
    run, tiny_data = whole_run["run"], whole_run["data"]

    def cfg(**changed):
        return tiny_cfg(**{**WHOLE_RUN, "epochs": 5, **changed})

    with pytest.raises(CheckpointError, match="holds weights only .*use --pretrained"):
        train(cfg(), tiny_data, tmp_path / "r2", resume=str(run / "ckpt" / "best.ckpt"))
    # keys that change what the completed epochs mean are named (the checkpoint carries its config)
    with pytest.raises(ConfigError, match="config key 'widen_factor' has value 2, but checkpoint .* was trained "
                                          "with 1: changing it on resume changes what the completed epochs mean"):
        train(cfg(widen_factor=2), tiny_data, tmp_path / "r3", resume=str(run / "ckpt" / "last.ckpt"))
    with pytest.raises(ConfigError, match="config key 'batch_size' has value 32, but checkpoint .* trained with 16"):
        train(cfg(batch_size=32), tiny_data, tmp_path / "r4", resume=str(run / "ckpt" / "last.ckpt"))
    bigger = make_cifar(tmp_path / "bigger", train_sizes=(192,))  # other data, same keys: the position would shift
    with pytest.raises(CheckpointError, match="written with 6 steps per epoch, this run has 12"):
        train(cfg(), bigger, tmp_path / "r4b", resume=str(run / "ckpt" / "last.ckpt"))
    with pytest.raises(CheckpointError, match="does not exist"):
        train(cfg(), tiny_data, tmp_path / "r5", resume=str(tmp_path / "nope.ckpt"))
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="cannot be read"):
        train(cfg(), tiny_data, tmp_path / "r6", resume=str(tmp_path / "junk.ckpt"))
    for failed in ("r2", "r3", "r4", "r5", "r6"):
        assert not (tmp_path / failed / "ckpt" / "last.ckpt").exists()
        assert not (tmp_path / failed / "metrics.jsonl").exists()
