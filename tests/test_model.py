import numpy as np
import mindspore as ms
import pytest

from wrn.errors import ConfigError
from wrn.core.model import WideResNet, blocks_per_group, count_trainable_parameters


@pytest.mark.parametrize("depth,width,expected", [(16, 4, 2_748_890), (28, 10, 36_479_194), (40, 10, 55_841_754)])
def test_parameter_counts_match_the_paper(depth, width, expected):
    assert count_trainable_parameters(WideResNet(depth, width, num_classes=10)) == expected


@pytest.mark.parametrize("depth", [17, 9, 4, 0, 12])
def test_depth_must_be_6n_plus_4(depth):
    with pytest.raises(ConfigError, match=f"depth {depth} is not 6n\\+4"):
        WideResNet(depth, 1)


def test_structure_is_pre_activation_with_projection_only_where_shape_changes():
    net = WideResNet(16, 2, num_classes=7, dropout=0.3)
    assert blocks_per_group(16) == 2
    blocks = list(net.blocks.cells())
    assert len(blocks) == 6
    # Group starts change width or stride: a 1x1 projection; the others are identity shortcuts.
    assert [b.projects for b in blocks] == [True, False, True, False, True, False]
    assert [b.conv1.stride for b in blocks][::2] == [(1, 1), (2, 2), (2, 2)]
    assert [b.conv2.out_channels for b in blocks] == [32, 32, 64, 64, 128, 128]
    assert all(not b.conv1.has_bias and not b.conv2.has_bias for b in blocks)
    assert blocks[0].shortcut.kernel_size == (1, 1)
    assert all(abs(b.dropout.p - 0.3) < 1e-9 for b in blocks)
    assert net.fc.out_channels == 7


def test_forward_shape_and_he_initialisation():
    net = WideResNet(10, 2)
    net.set_train(False)
    out = net(ms.Tensor(np.random.default_rng(0).normal(size=(3, 3, 32, 32)).astype(np.float32)))
    assert out.shape == (3, 10)
    conv = net.blocks[1].conv2.weight.asnumpy()
    fan_in = conv.shape[1] * 9
    assert conv.std() == pytest.approx(np.sqrt(2.0 / fan_in), rel=0.1)
