"""Fine-tuning (--pretrained): weights only, a new classifier when the classes differ, epoch 1, a fresh optimizer."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import make_cifar, run_in_process, tiny_args
from wrn.cifar import read_records, write_records
from wrn.cli import train_main
from wrn.output import checkpoint as ckpt

# the 40 eval images in one batch: one eval graph to compile per run rather than two
RUN = [*tiny_args(), "--warmup_epochs=0", "--eval_batch_size=40"]


def train(data, run, *extra) -> subprocess.CompletedProcess:
    """local/train.py's entry function in this process (its exit status, stdout and stderr): the script itself has
    its own subprocess tests (test_cli), fine-tuning is what these check."""
    argv = ["--config=demo", f"--data_url={data}", f"--train_url={run}", *RUN, *extra]
    status, out, err = run_in_process(train_main, *argv)
    return subprocess.CompletedProcess(["local/train.py", *argv], status, out, err)


@pytest.fixture
def pretrained(trained_run):
    """The checkpoints of the session's tiny CIFAR-10 run (2 epochs, this file's RUN keys), read-only."""
    return trained_run["run"] / "ckpt"


def test_a_cifar10_model_fine_tuned_onto_cifar100_with_a_frozen_backbone(pretrained, tmp_path):
    data = make_cifar(tmp_path / "c100", dataset="cifar100")
    done = train(data, tmp_path / "ft", "--epochs=1", "--dataset=cifar100", "--freeze_backbone=true",
                 f"--pretrained={pretrained / 'best.ckpt'}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "its classifier (fc.weight, fc.bias) does not fit this run's 100 classes" in done.stdout
    before, after = ckpt.read(pretrained / "best.ckpt"), ckpt.read(tmp_path / "ft" / "ckpt" / "last.ckpt")
    assert tuple(after["fc.weight"].shape) == (100, 64)  # WRN-10-1: 64 features
    frozen = [n for n in before if not n.startswith("fc.") and n.endswith(("weight", "gamma", "beta"))
              and not n.startswith(("moments.", "run_"))]
    assert frozen and all(np.array_equal(before[n].asnumpy(), after[n].asnumpy()) for n in frozen)
    # "trains the classifier only": the backbone's BatchNorm statistics stay the pretrained ones too
    statistics = [n for n in before if n.endswith(("moving_mean", "moving_variance")) and "." in n
                  and not n.startswith(("moments.", "ema."))]
    assert statistics and all(np.array_equal(before[n].asnumpy(), after[n].asnumpy()) for n in statistics)


def test_pretrained_weights_that_are_not_finite_are_refused_before_training(pretrained, tmp_path):
    import mindspore as ms

    params = ckpt.read(pretrained / "best.ckpt")
    weight = params["blocks.0.conv1.weight"].asnumpy().copy()
    weight[0, 0, 0, 0] = np.nan
    params["blocks.0.conv1.weight"] = ms.Parameter(ms.Tensor(weight), name="blocks.0.conv1.weight")
    ms.save_checkpoint([{"name": k, "data": v} for k, v in params.items() if k != ckpt.CONFIG_KEY],
                       str(tmp_path / "nan.ckpt"))
    done = train(make_cifar(tmp_path / "c10"), tmp_path / "ft", "--epochs=1", f"--pretrained={tmp_path / 'nan.ckpt'}")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (f"checkpoint {tmp_path / 'nan.ckpt'}: parameter 'blocks.0.conv1.weight' holds nan or inf values"
            in done.stderr) and not (tmp_path / "ft" / "metrics.jsonl").exists()


def test_fine_tuning_starts_at_epoch_one_with_a_fresh_optimizer(pretrained, tmp_path):
    data = make_cifar(tmp_path / "c10")
    done = train(data, tmp_path / "ft", "--epochs=1", f"--pretrained={pretrained / 'last.ckpt'}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "every weight loaded; epoch 1 with a fresh optimizer" in done.stdout
    records = [json.loads(r) for r in (tmp_path / "ft" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1] and records[0]["global_step"] == 6  # not 12 + 6
    again = train(data, tmp_path / "ft", "--epochs=2", "--resume=auto", f"--pretrained={pretrained / 'last.ckpt'}")
    assert again.returncode == 0 and "is not applied again" in again.stdout
    records = [json.loads(r) for r in (tmp_path / "ft" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["global_step"]) for r in records] == [(1, 6), (2, 12)]  # its own run went on


def test_a_pretrained_checkpoint_of_another_width_names_the_parameter(pretrained, tmp_path):
    done = train(make_cifar(tmp_path / "c10"), tmp_path / "ft", "--epochs=1", "--widen_factor=2",
                 f"--pretrained={pretrained / 'best.ckpt'}")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert ("does not match this network: parameter 'blocks.0.conv1.weight' has shape (16, 16, 3, 3) in the "
            "checkpoint, (32, 16, 3, 3) in the network") in done.stderr


def subset(source: Path, dest: Path, classes: int) -> Path:
    """The images of the first `classes` classes of a CIFAR-10 folder, in the same layout."""
    for path in source.rglob("*.bin"):
        images, labels = read_records([path])
        keep = labels < classes
        write_records(dest / path.relative_to(source), images[keep], labels[keep])
    return dest


def test_fine_tuning_onto_a_subset_of_the_classes(pretrained, tmp_path):
    data = subset(make_cifar(tmp_path / "c10", train_sizes=(192,)), tmp_path / "five", 5)
    done = train(data, tmp_path / "ft", "--epochs=1", "--num_classes=5", f"--pretrained={pretrained / 'best.ckpt'}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "its classifier (fc.weight, fc.bias) does not fit this run's 5 classes" in done.stdout
    assert tuple(ckpt.read(tmp_path / "ft" / "ckpt" / "best.ckpt")["fc.weight"].shape) == (5, 64)
    wrong = train(make_cifar(tmp_path / "all"), tmp_path / "wrong", "--epochs=1", "--num_classes=5")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert re.search(r"data_batch_1\.bin: holds label [5-9] \(fine\), expected labels below num_classes 5",
                     wrong.stderr), wrong.stderr[-1000:]
