import mindspore as ms
import numpy as np
import pytest

from wrn.config import load_config
from wrn.core.loss import create_loss
from wrn.core.model import WideResNet
from wrn.core.optim import create_optimizer
from wrn.builder.build import build_schedule


def test_warmup_then_multistep():
    cfg = load_config("wrn40_10", {"epochs": 10, "warmup_epochs": 2, "lr_milestones": "4,8", "lr_gamma": 0.1})
    lrs = build_schedule(cfg, steps_per_epoch=5)
    assert lrs.dtype == np.float32 and len(lrs) == 50
    assert np.allclose(lrs[:10], 0.1 * np.arange(1, 11) / 10)  # linear warmup reaches lr at its last step
    assert np.allclose(lrs[10:20], 0.1) and np.allclose(lrs[20:40], 0.01) and np.allclose(lrs[40:], 0.001)


def test_warmup_then_cosine_to_min_lr():
    cfg = load_config("wrn16_4", {"epochs": 10, "warmup_epochs": 1, "lr": 0.2, "min_lr": 0.002})
    lrs = build_schedule(cfg, steps_per_epoch=4)
    assert lrs[3] == pytest.approx(0.2) and lrs[0] == pytest.approx(0.05)
    assert lrs[4] == pytest.approx(0.2) and 0.002 < lrs[-1] < 0.003
    assert (np.diff(lrs[4:]) <= 1e-9).all()


def test_no_warmup_starts_at_lr():
    lrs = build_schedule(load_config("wrn28_10", {"epochs": 200}), steps_per_epoch=2)
    assert lrs[0] == pytest.approx(0.1) and lrs[120] == pytest.approx(0.02) and lrs[-1] == pytest.approx(0.1 * 0.2**3)


def test_weight_decay_only_on_conv_and_dense_weights():
    """A step with zero gradients: decayed weights shrink by lr*wd, BN gamma/beta and biases stay exactly."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    try:
        net = WideResNet(10, 1)
        before = {p.name: p.asnumpy().copy() for p in net.trainable_params()}
        optimizer = create_optimizer(net, np.full(4, 0.5, np.float32), momentum=0.0, nesterov=False,
                                     weight_decay=0.1)
        optimizer(tuple(ms.ops.zeros_like(p) for p in optimizer.parameters))
        after = {p.name: p.asnumpy() for p in net.trainable_params()}
    finally:
        ms.set_context(mode=ms.GRAPH_MODE)
    bn_and_bias = [n for n in before if n.endswith(("gamma", "beta", "bias"))]
    weights = [n for n in before if n.endswith("weight")]
    assert len(bn_and_bias) == 2 * 7 + 1 and len(weights) == 10  # 7 BNs + fc bias; stem, 6 convs, 2 projections, fc
    for name in bn_and_bias:
        assert np.array_equal(before[name], after[name]), name
    for name in weights:
        assert np.allclose(after[name], before[name] * (1 - 0.5 * 0.1), atol=1e-7), name


def test_label_smoothing_matches_the_formula():
    logits = np.array([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]], np.float32)
    labels = np.array([0, 1], np.int32)
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    for eps in (0.0, 0.1, 0.3):
        target = np.full((2, 3), eps / 3) + (1 - eps) * np.eye(3)[labels]
        expected = -(target * log_p).sum(1).mean()
        loss = create_loss(label_smoothing=eps)
        assert float(loss(ms.Tensor(logits), ms.Tensor(labels)).asnumpy()) == pytest.approx(expected, rel=1e-5)
