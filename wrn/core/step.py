"""One optimizer step as one graph: micro-batches, loss scaling, overflow check, clipping, update, weight EMA.

MindSpore's `Model.train` builds a `TrainOneStepCell` that knows none of gradient accumulation, clipping or an EMA,
and its loss-scaled variant cannot check overflows on CPU. `TrainStep` extends MindSpore's loss-scale cell (which
keeps its parallel gradient reducer, its Ascend/GPU overflow status and its dynamic scale update) and does the rest
in the same graph, so it also runs in dataset sink mode, where host callbacks see one call per sink, not per step.
Running figures a host callback cannot see per step live in `StepStats`' parameters.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops
import numpy as np
from mindspore import Parameter, ParameterTuple, Tensor
from mindspore.common import dtype as mstype

# Names of the statistics parameters: they are per-epoch counters, never restored from a checkpoint.
STATS_PREFIX = "step_stats."
EMA_PREFIX = "ema."

_unscale = ops.MultitypeFuncGraph("unscale")
_is_finite = ops.MultitypeFuncGraph("is_finite")
_ema_update = ops.MultitypeFuncGraph("ema_update")


@_unscale.register("Tensor", "Tensor")
def _unscale_tensor(scale, grad):
    # A division, not a multiplication by the reciprocal: 1/scale of a large scale is a float32 denormal that CPU
    # kernels flush to zero, which silently zeroes every gradient.
    return grad / ops.cast(scale, ops.dtype(grad))


@_is_finite.register("Tensor")
def _is_finite_tensor(grad):
    return ops.isfinite(grad).all()


@_ema_update.register("Tensor", "Tensor", "Tensor")
def _ema_update_tensor(decay, average, weight):
    return ops.assign(average, average * decay + ops.cast(weight, ops.dtype(average)) * (1.0 - decay))


class LossOf(nn.Cell):
    """network -> loss, the logits cast to float32 first (a float16 network under AMP O2/O3 still has a float32
    loss, as MindSpore's own AMP wrapper does)."""

    def __init__(self, network: nn.Cell, loss_fn: nn.Cell) -> None:
        super().__init__(auto_prefix=False)
        self.network, self.loss_fn = network, loss_fn

    def construct(self, data, label):
        return self.loss_fn(ops.cast(self.network(data), mstype.float32), label)


class WeightEma(nn.Cell):
    """An exponential moving average of every parameter of `net` (weights and BatchNorm statistics), updated as
    ema = decay * ema + (1 - decay) * weight after each applied optimizer step. Its parameters are `ema.<name>`,
    so a checkpoint of the train step carries them."""

    def __init__(self, net: nn.Cell, decay: float) -> None:
        super().__init__(auto_prefix=False)
        self.weights = ParameterTuple(list(net.get_parameters()))
        self.averages = ParameterTuple([Parameter(Tensor(p.asnumpy()), name=EMA_PREFIX + p.name, requires_grad=False)
                                        for p in self.weights])
        self.decay = Tensor(decay, mstype.float32)
        self.hyper_map = ops.HyperMap()

    def construct(self):
        return self.hyper_map(ops.partial(_ema_update, self.decay), self.averages, self.weights)

    def restart_from_weights(self) -> None:
        """The average starts at the network's weights (after pretrained weights are loaded)."""
        for average, weight in zip(self.averages, self.weights):
            average.set_data(Tensor(weight.asnumpy()))

    @contextmanager
    def applied(self) -> Iterator[None]:
        """The network holds the averaged weights inside the block, its own weights again after it."""
        saved = [Tensor(weight.asnumpy()) for weight in self.weights]
        for average, weight in zip(self.averages, self.weights):
            weight.set_data(Tensor(average.asnumpy()).astype(weight.dtype))
        try:
            yield
        finally:
            for value, weight in zip(saved, self.weights):
                weight.set_data(value)


class StepStats(nn.Cell):
    """Counters of the running epoch, kept in the graph: loss sum, steps, overflowed steps, and the first step (1-based
    in the epoch, 0 = none) with a non-finite loss and with non-finite gradients."""

    def __init__(self) -> None:
        super().__init__(auto_prefix=False)

        def counter(name: str, dtype) -> Parameter:
            return Parameter(Tensor(0, dtype), name=STATS_PREFIX + name, requires_grad=False)

        self.loss_sum = counter("loss_sum", mstype.float32)
        self.steps = counter("steps", mstype.int32)
        self.overflows = counter("overflows", mstype.int32)
        self.first_bad_loss = counter("first_bad_loss", mstype.int32)
        self.first_overflow = counter("first_overflow", mstype.int32)

    def construct(self, loss, overflow):
        step = self.steps + 1
        bad_loss = ops.logical_not(ops.isfinite(loss))
        ops.assign(self.first_bad_loss, ops.select(ops.logical_and(bad_loss, self.first_bad_loss == 0), step,
                                                   self.first_bad_loss))
        ops.assign(self.first_overflow, ops.select(ops.logical_and(overflow, self.first_overflow == 0), step,
                                                   self.first_overflow))
        ops.assign(self.overflows, self.overflows + ops.cast(overflow, mstype.int32))
        ops.assign(self.loss_sum, self.loss_sum + loss)
        return ops.assign(self.steps, step)

    def reset(self) -> None:
        for counter in (self.loss_sum, self.steps, self.overflows, self.first_bad_loss, self.first_overflow):
            counter.set_data(Tensor(0, counter.dtype))

    def read(self) -> dict[str, float]:
        return {"loss_sum": float(self.loss_sum.asnumpy()), "steps": int(self.steps.asnumpy()),
                "overflows": int(self.overflows.asnumpy()), "first_bad_loss": int(self.first_bad_loss.asnumpy()),
                "first_overflow": int(self.first_overflow.asnumpy())}


class TrainStep(nn.TrainOneStepWithLossScaleCell):
    """(data, label) of `accumulation_steps` micro-batches -> (mean loss, overflow, loss scale), one optimizer step.

    The micro-batch gradients are summed in the graph, unscaled and averaged, reduced over devices, checked for
    overflow, clipped to `clip_grad_norm` (global norm; 0 = off), then applied unless they overflowed; the EMA
    follows each applied step. The network (in `loss_network`) sees `len(data) / accumulation_steps` images at a
    time, so BatchNorm statistics are those of a micro-batch, as with accumulation anywhere.
    """

    def __init__(self, loss_network: nn.Cell, optimizer: nn.Optimizer, *, loss_scale: float, dynamic_scale: bool,
                 accumulation_steps: int = 1, clip_grad_norm: float = 0.0, ema: WeightEma | None = None) -> None:
        scale = nn.DynamicLossScaleUpdateCell(loss_scale, scale_factor=2, scale_window=1000) if dynamic_scale \
            else Tensor(loss_scale, mstype.float32)
        super().__init__(loss_network, optimizer, scale_sense=scale)
        self.accumulation_steps = accumulation_steps
        self.clip_grad_norm = clip_grad_norm
        self.ema = ema
        self.stats = StepStats()
        self.on_cpu = ms.get_context("device_target") == "CPU"

    def construct(self, data, label):
        weights = self.weights
        scale = self.scale_sense
        size = data.shape[0] // self.accumulation_steps
        loss, grads = self._scaled_grads(data[0:size], label[0:size], weights, scale)
        for index in range(1, self.accumulation_steps):
            begin, end = index * size, (index + 1) * size
            # Each micro-batch waits for the previous one's gradients, so its activations can reuse their memory.
            micro_data = ops.depend(data[begin:end], grads)
            micro_loss, micro_grads = self._scaled_grads(micro_data, label[begin:end], weights, scale)
            loss = loss + micro_loss
            grads = self.hyper_map(ops.add, grads, micro_grads)
        loss = loss / self.accumulation_steps
        grads = self.hyper_map(ops.partial(_unscale, scale * self.accumulation_steps), grads)
        grads = self.grad_reducer(grads)
        overflow = self._overflowed(grads)
        overflow = self.process_loss_scale(overflow)
        if self.clip_grad_norm > 0:
            grads = ops.clip_by_global_norm(grads, self.clip_grad_norm)
        loss = ops.depend(loss, self.stats(loss, overflow))
        if not overflow:
            loss = ops.depend(loss, self.optimizer(grads))
            if self.ema is not None:
                loss = ops.depend(loss, self.ema())
        return loss, overflow, scale

    def _scaled_grads(self, data, label, weights, scale):
        loss = self.network(data, label)
        sens = ops.ones_like(loss) * ops.cast(scale, ops.dtype(loss))
        return loss, self.grad(self.network, weights)(data, label, sens)

    def _overflowed(self, grads):
        if self.on_cpu:  # MindSpore's own check uses Ascend/GPU status kernels that CPU does not have
            return ops.logical_not(ops.stack(self.hyper_map(_is_finite, grads)).all())
        return self.get_overflow_status(Tensor([0] * 8, mstype.int32), grads)

    @property
    def loss_scale(self) -> float:
        return float(np.asarray(self.scale_sense.asnumpy()).reshape(()))
