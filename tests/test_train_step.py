"""The train step: weight EMA, gradient clipping, gradient accumulation, loss-scale overflows, dataset sink mode and
resuming from a periodic checkpoint. Real MindSpore steps on WRN-10-1 and the tiny CIFAR-format data."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import mindspore as ms
import mindspore.nn as nn
import numpy as np
import pytest

import wrn.run.train
from wrn.core.loss import create_loss
from wrn.core.model import WideResNet
from wrn.core.optim import create_optimizer
from wrn.core.step import LossOf, TrainStep, WeightEma
from wrn.errors import TrainingError
from wrn.output import checkpoint as ckpt
from wrn.run.callbacks import EpochEnd, StepLogger
from wrn.run.evaluate import evaluate_checkpoint
from wrn.run.train import train
from conftest import WHOLE_RUN

TIMING = ("epoch_seconds", "step_seconds", "images_per_second", "eval_seconds")


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def untimed(run: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records(run)]


def batch(size: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (ms.Tensor(rng.normal(size=(size, 3, 32, 32)).astype(np.float32)),
            ms.Tensor(rng.integers(0, 10, size).astype(np.int32)))


def make_step(*, lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 5e-4, accumulation_steps: int = 1,
              clip_grad_norm: float = 0.0, ema_decay: float = 0.0, seed: int = 3, loss_scale: float = 1.0,
              scaled_gradients: bool = True) -> tuple[WideResNet, TrainStep]:
    ms.set_seed(seed)
    net = WideResNet(10, 1)
    optimizer = create_optimizer(net, np.full(100, lr, np.float32), momentum=momentum, nesterov=False,
                                 weight_decay=weight_decay)
    step = TrainStep(LossOf(net, create_loss(label_smoothing=0.0)), optimizer, loss_scale=loss_scale,
                     dynamic_scale=False, accumulation_steps=accumulation_steps, clip_grad_norm=clip_grad_norm,
                     ema=WeightEma(net, ema_decay) if ema_decay else None, scaled_gradients=scaled_gradients)
    step.set_train()
    return net, step


def weights(net) -> dict[str, np.ndarray]:
    return {p.name: p.asnumpy().copy() for p in net.get_parameters()}


# ---- EMA ------------------------------------------------------------------------------------------------------------

def test_the_ema_follows_its_formula_after_each_step():
    decay = 0.35  # reached by the warm-up at the 4th step
    net, step = make_step(ema_decay=decay)
    expected = weights(net)  # the average starts at the initial weights
    for applied in range(1, 5):
        step(*batch(16, applied))
        now = weights(net)
        d = min(decay, (1 + applied) / (10 + applied))  # 0.18, 0.25, 0.31 (the warm-up), then 0.35
        expected = {name: d * expected[name] + (1 - d) * now[name] for name in now}
    averages = {p.name[len("ema."):]: p.asnumpy() for p in step.ema.averages}
    assert set(averages) == set(expected)  # weights and BatchNorm statistics
    for name, value in expected.items():
        np.testing.assert_allclose(averages[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
    raw = weights(net)
    with step.ema.applied():
        assert all(np.array_equal(p.asnumpy(), averages[p.name]) for p in net.get_parameters())
    assert all(np.array_equal(p.asnumpy(), raw[p.name]) for p in net.get_parameters())


class _Interrupt(Exception):
    pass


def test_the_ema_survives_a_resume_and_is_what_eval_and_best_measure(tiny_data, tiny_cfg, tmp_path, monkeypatch):
    # stopped after epoch 1 of 2 and resumed: a third epoch would measure nothing more; the 40 eval images in one
    # batch, one eval graph to compile per network
    cfg = tiny_cfg(epochs=2, ema_decay=0.7, warmup_epochs=0, eval_batch_size=40)

    class StopAfterOne(EpochEnd):
        def on_train_epoch_end(self, run_context):
            super().on_train_epoch_end(run_context)
            if run_context.original_args().cur_epoch_num == 1:
                raise _Interrupt

    resumed_with = {}

    class SeeTheResumedAverage(StepLogger):
        def on_train_epoch_begin(self, run_context):
            resumed_with.setdefault("ema", {p.name: p.asnumpy().copy() for p in self.step.ema.averages})
            super().on_train_epoch_begin(run_context)

    run = tmp_path / "run"
    monkeypatch.setattr(wrn.run.train, "EpochEnd", StopAfterOne)
    with pytest.raises(_Interrupt):
        train(cfg, tiny_data, run)
    stopped = ckpt.read(run / "ckpt" / "last.ckpt")
    monkeypatch.setattr(wrn.run.train, "EpochEnd", EpochEnd)
    monkeypatch.setattr(wrn.run.train, "StepLogger", SeeTheResumedAverage)
    train(cfg, tiny_data, run, resume="auto")

    averaged = [name for name in stopped if name.startswith("ema.")]
    assert "ema.stem.weight" in averaged and "ema.blocks.0.bn1.moving_mean" in averaged
    assert sorted(resumed_with["ema"]) == sorted(averaged)
    for name in averaged:  # the average went on from the checkpoint's, not from the weights
        assert np.array_equal(resumed_with["ema"][name], stopped[name].asnumpy()), name
    assert not np.allclose(stopped["ema.stem.weight"].asnumpy(), stopped["stem.weight"].asnumpy())

    final = records(run)[-1]
    assert [r["eval_weights"] for r in records(run)] == ["ema"] * 2
    last = ckpt.read(run / "ckpt" / "last.ckpt")
    measured = evaluate_checkpoint(cfg, str(tiny_data), str(run / "ckpt" / "last.ckpt"))
    assert measured["top1"] == final["top1"]  # eval (and export, through the same loader) use the average
    best_epoch = json.loads((run / "summary.json").read_text())["best_epoch"]
    best = ckpt.read(run / "ckpt" / "best.ckpt")
    source = last if best_epoch == 2 else stopped
    # best.ckpt holds the average under the network's own names
    assert np.array_equal(best["stem.weight"].asnumpy(), source["ema.stem.weight"].asnumpy())


# ---- clipping and accumulation --------------------------------------------------------------------------------------

def test_clipping_bounds_the_global_norm_of_the_applied_gradients():
    data = batch(16)
    # Plain SGD with lr 1: the weight change is the gradient.
    plain = dict(lr=1.0, momentum=0.0, weight_decay=0.0)
    net, step = make_step(**plain)
    before = weights(net)
    step(*data)
    raw = {n: before[n] - v for n, v in weights(net).items() if n in {p.name for p in net.trainable_params()}}
    raw_norm = np.sqrt(sum(float((g ** 2).sum()) for g in raw.values()))
    bound = raw_norm / 10
    net, step = make_step(clip_grad_norm=bound, **plain)
    step(*data)
    clipped = {n: before[n] - weights(net)[n] for n in raw}
    clipped_norm = np.sqrt(sum(float((g ** 2).sum()) for g in clipped.values()))
    assert clipped_norm == pytest.approx(bound, rel=1e-4)
    for name in raw:  # the same direction, scaled down
        np.testing.assert_allclose(clipped[name], raw[name] * bound / raw_norm, rtol=1e-3, atol=1e-7)


def _batchnorm_in_inference_mode(step):
    for _, cell in step.cells_and_names():
        if isinstance(cell, nn.BatchNorm2d):
            cell.set_train(False)


def test_accumulating_four_batches_of_8_is_one_step_on_a_batch_of_32():
    results = []
    for accumulation_steps in (1, 4):
        net, step = make_step(accumulation_steps=accumulation_steps)
        _batchnorm_in_inference_mode(step)  # with batch statistics, 8 images are not 32
        for seed in range(2):
            images, labels = batch(32, seed)
            for part in range(accumulation_steps):  # the micro-batches, one call each
                size = 32 // accumulation_steps
                step(images[part * size:(part + 1) * size], labels[part * size:(part + 1) * size])
            if accumulation_steps == 4 and seed == 0:
                applied = step.stats.read()["steps"]
        results.append((step.stats.read()["loss_sum"], weights(net)))
    (loss_32, weights_32), (loss_8x4, weights_8x4) = results
    assert applied == 1 and loss_8x4 == pytest.approx(loss_32, rel=1e-5)  # the mean loss of each optimizer step
    for name in weights_32:
        np.testing.assert_allclose(weights_8x4[name], weights_32[name], rtol=1e-4, atol=1e-6, err_msg=name)
    assert not np.array_equal(weights_32["stem.weight"], make_step()[0].stem.weight.asnumpy())


# How a whole run counts accumulated optimizer steps (records, checkpoint, log): test_train.py's
# test_eval_schedule_periodic_checkpoints_loss_scale_and_accumulation, one run for several options.


# ---- loss scale -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("accumulation_steps", [1, 2])
def test_a_float32_step_without_gradient_scaling_updates_the_weights_as_the_scaled_one(accumulation_steps):
    # AMP O0 builds the step with scaled_gradients=False (no unscaling pass, one gradient copy less): a power-of-two
    # scale multiplies and divides float32 gradients exactly, so both steps must give the same weights.
    results = []
    for scaled in (True, False):
        net, step = make_step(loss_scale=32.0, scaled_gradients=scaled, accumulation_steps=accumulation_steps)
        for seed in range(4):
            loss, scale = step(*batch(16, seed))
        results.append((weights(net), float(loss.asnumpy()), float(scale.asnumpy())))
    (scaled_weights, scaled_loss, scaled_scale), (plain_weights, plain_loss, plain_scale) = results
    assert scaled_loss == plain_loss and scaled_scale == plain_scale == 32.0
    for name, value in scaled_weights.items():
        np.testing.assert_allclose(plain_weights[name], value, rtol=1e-6, atol=1e-7, err_msg=name)


def test_a_dynamic_scale_counts_its_overflows_and_a_fixed_one_stops(tiny_data, tiny_cfg, tmp_path):
    # A float16 network (AMP O2 runs on CPU too) with an initial scale of 2^24: the scaled gradients overflow float16
    # until the dynamic scale has halved enough, as on Ascend with a too-large loss_scale.
    oversized = dict(amp_level="O2", loss_scale=2.0 ** 24)
    run = tmp_path / "dynamic"
    # the 40 eval images in one batch: one eval graph to compile
    train(tiny_cfg(epochs=2, loss_scale_type="dynamic", eval_batch_size=40, **oversized), tiny_data, run)
    first, second = records(run)
    assert first["overflow_steps"] >= 1
    assert first["loss_scale"] == 2.0 ** 24 / 2 ** first["overflow_steps"]
    assert second["loss_scale"] == first["loss_scale"] / 2 ** second["overflow_steps"]
    assert first["overflow_steps"] + second["overflow_steps"] < 12 and np.isfinite(second["train_loss"])
    optimizer_steps = ckpt.read(run / "ckpt" / "last.ckpt")["global_step"].asnumpy().item()
    assert optimizer_steps == 12 - first["overflow_steps"] - second["overflow_steps"]  # skipped steps are not applied
    assert f"epoch 1: loss scale {first['loss_scale']:g}, {first['overflow_steps']} step(s) with overflowed" in \
        (run / "train.log").read_text()
    with pytest.raises(TrainingError, match=r"epoch 1 step 1: the gradients overflowed \(inf/nan\) under the fixed "
                                            r"loss scale 1\.67772e\+07; the step was not applied"):
        train(tiny_cfg(epochs=2, **oversized), tiny_data, tmp_path / "fixed")
    assert not (tmp_path / "fixed" / "ckpt" / "last.ckpt").exists()


# ---- sink mode ------------------------------------------------------------------------------------------------------

def test_sink_mode_on_and_off_give_the_same_run(whole_run, tiny_cfg, tmp_path):
    # sink off: the shared 4-epoch run (WHOLE_RUN, dataset_sink_mode false); sink on: the same keys but that one
    off_run, on_run = whole_run["run"], tmp_path / "true"
    train(tiny_cfg(**{**WHOLE_RUN, "dataset_sink_mode": "true"}), whole_run["data"], on_run)
    assert untimed(on_run) == untimed(off_run)
    on, off = (ckpt.read(run / "ckpt" / "last.ckpt") for run in (on_run, off_run))
    # the run_* counters and the config each checkpoint carries (which names its own sink mode) aside
    assert all(np.array_equal(on[name].asnumpy(), off[name].asnumpy()) for name in off
               if not name.startswith("run_") and name != ckpt.CONFIG_KEY)
    assert "MindSpore has no dataset sink on CPU" in (on_run / "train.log").read_text()
    assert "MindSpore has no dataset sink on CPU" not in (off_run / "train.log").read_text()


def test_the_step_figures_are_whole_when_a_sink_reports_once_per_epoch():
    """MindSpore's sink loop (mindspore/train/model.py, Model._train_dataset_sink_process, 2.8) runs a whole sink in
    the graph, then calls on_train_step_end once with the last step's outputs: the figures come from the graph."""
    net, step = make_step()
    lrs = np.full(100, 0.1, np.float32)
    per_step = StepLogger(step, lrs, 4, 1, images_per_step=8, log_interval=2, global_step=0)
    per_sink = StepLogger(step, lrs, 4, 1, images_per_step=8, log_interval=2, global_step=0)
    outputs = SimpleNamespace(cur_epoch_num=1, net_outputs=None)
    context = SimpleNamespace(original_args=lambda: outputs)
    for logger in (per_step, per_sink):
        logger.on_train_epoch_begin(context)
    per_sink.on_train_step_begin(context)
    losses = []
    for seed in range(4):
        per_step.on_train_step_begin(context)
        outputs.net_outputs = step(*batch(8, seed))
        losses.append(float(outputs.net_outputs[0].asnumpy()))
        per_step.on_train_step_end(context)
    per_sink.on_train_step_end(context)  # the sink's one call, with the last step's outputs
    a, b = per_step.epoch_stats(1), per_sink.epoch_stats(1)
    assert (a.global_step, a.train_loss) == (b.global_step, b.train_loss) == (4, pytest.approx(np.mean(losses)))


# ---- resume from a periodic checkpoint ------------------------------------------------------------------------------

def test_a_periodic_checkpoint_resumes_where_it_was_written(whole_run, tiny_cfg, tmp_path, monkeypatch):
    # the shared 4-epoch run keeps every epoch's checkpoint: its third is continued into a new run
    whole, periodic_path = whole_run["run"], whole_run["run"] / "ckpt" / "epoch_0003.ckpt"
    periodic = ckpt.read(periodic_path)
    resumed_with = {}

    class SeeTheResumedState(StepLogger):
        def on_train_epoch_begin(self, run_context):
            resumed_with.update({p.name: p.asnumpy().copy() for p in self.step.get_parameters()})
            super().on_train_epoch_begin(run_context)

    monkeypatch.setattr(wrn.run.train, "StepLogger", SeeTheResumedState)
    branch = tmp_path / "branch"
    train(tiny_cfg(**WHOLE_RUN), whole_run["data"], branch, resume=str(periodic_path))
    restored = [name for name in periodic if name.startswith("moments.") or name in ("global_step", "stem.weight")]
    for name in restored:
        assert np.array_equal(resumed_with[name], periodic[name].asnumpy()), name
    full = records(whole)
    assert [(r["epoch"], r["global_step"], r["lr"]) for r in records(branch)] == \
        [(4, full[3]["global_step"], full[3]["lr"])]
    assert sorted(p.name for p in (branch / "ckpt").iterdir()) == ["best.ckpt", "epoch_0004.ckpt", "last.ckpt"]
