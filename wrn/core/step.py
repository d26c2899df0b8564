"""One optimizer step as one graph: micro-batches, loss scaling, overflow check, clipping, update, weight EMA.

MindSpore's `Model.train` builds a `TrainOneStepCell` that knows none of gradient accumulation, clipping or an EMA,
and its loss-scaled variant cannot check overflows on CPU. `TrainStep` extends MindSpore's loss-scale cell (which
keeps its parallel gradient reducer, its Ascend/GPU overflow status and its dynamic scale update) and does the rest
in the same graph, so it also runs in dataset sink mode, where host callbacks see one call per sink, not per step.
Running figures a host callback cannot see per step live in `StepStats`' parameters. (Accumulation is a loop of
calls, not micro-batches unrolled in one graph: unrolled, the CPU graph kept every micro-batch's activations, and
WRN-16-4 at 8 x 4 peaked at 1,227 MB against 903 MB for one batch of 32; as a loop, 32 x 4 peaks at 989 MB
against 1,259 MB for one batch of 128.)
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
ACCUMULATED_PREFIX = "accumulated."

_unscale = ops.MultitypeFuncGraph("unscale")
_is_finite = ops.MultitypeFuncGraph("is_finite")
_ema_update = ops.MultitypeFuncGraph("ema_update")
_zero = ops.MultitypeFuncGraph("zero")


@_unscale.register("Tensor", "Tensor")
def _unscale_tensor(scale, grad):
    # A division, not a multiplication by the reciprocal: 1/scale of a large scale is a float32 denormal that CPU
    # kernels flush to zero, which silently zeroes every gradient.
    return grad / ops.cast(scale, ops.dtype(grad))


@_is_finite.register("Tensor")
def _is_finite_tensor(grad):
    return ops.isfinite(grad).all()


@_zero.register("Tensor", "Tensor")
def _zero_tensor(accumulator, after):
    return ops.assign(accumulator, ops.depend(ops.zeros_like(accumulator), after))


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
    ema = d * ema + (1 - d) * weight after the n-th applied optimizer step, with d = min(decay, (1 + n) / (10 + n))
    (the warm-up of TensorFlow's ExponentialMovingAverage with num_updates): early on the average follows the
    weights, so a run shorter than 1 / (1 - decay) steps does not evaluate its random initialisation. Its parameters
    are `ema.<name>`, so a checkpoint of the train step carries them."""

    def __init__(self, net: nn.Cell, decay: float) -> None:
        super().__init__(auto_prefix=False)
        self.weights = ParameterTuple(list(net.get_parameters()))
        self.averages = ParameterTuple([Parameter(Tensor(p.asnumpy()), name=EMA_PREFIX + p.name, requires_grad=False)
                                        for p in self.weights])
        self.decay = Tensor(decay, mstype.float32)
        self.hyper_map = ops.HyperMap()

    def construct(self, applied_steps):
        steps = ops.cast(applied_steps, mstype.float32)
        decay = ops.minimum(self.decay, (1.0 + steps) / (10.0 + steps))
        return self.hyper_map(ops.partial(_ema_update, decay), self.averages, self.weights)

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


class _ResetCounters(nn.Cell):
    def __init__(self, counters) -> None:
        super().__init__(auto_prefix=False)
        self.counters = ParameterTuple(counters)
        self.hyper_map = ops.HyperMap()

    def construct(self):
        return self.hyper_map(_zero, self.counters)


@_zero.register("Tensor")
def _zero_counter(counter):
    return ops.assign(counter, ops.zeros_like(counter))


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
        # Outside the cell tree (object.__setattr__): a graph of its own, never part of the train step's.
        object.__setattr__(self, "_reset_counters", _ResetCounters(
            (self.loss_sum, self.steps, self.overflows, self.first_bad_loss, self.first_overflow)))

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
        # In a graph of its own, not with Parameter.set_data: a counter that the train graph updates inside a
        # control-flow branch (accumulation) kept counting in its old device memory after set_data (MindSpore 2.8).
        self._reset_counters()

    def read(self) -> dict[str, float]:
        return {"loss_sum": float(self.loss_sum.asnumpy()), "steps": int(self.steps.asnumpy()),
                "overflows": int(self.overflows.asnumpy()), "first_bad_loss": int(self.first_bad_loss.asnumpy()),
                "first_overflow": int(self.first_overflow.asnumpy())}


class TrainStep(nn.TrainOneStepWithLossScaleCell):
    """(data, label) -> (loss, loss scale): one micro-batch; every `accumulation_steps`-th call is an optimizer step.

    The gradients are unscaled, summed over the micro-batches in `accumulated.*` parameters (one copy of the
    weights: memory stays a micro-batch's), averaged, reduced over devices, checked for overflow, clipped to
    `clip_grad_norm` (global norm; 0 = off), then applied unless they overflowed; the EMA follows each applied step
    and `stats` counts optimizer steps. BatchNorm statistics are those of a micro-batch, as with accumulation
    anywhere.

    `scaled_gradients` False (a float32 network, AMP O0): the loss is not multiplied by the scale, so there is
    nothing to unscale. Float32 gradients do not underflow, and multiplying by a power of two and dividing again
    changes no bit, but the unscaling pass held a second copy of every gradient (and MindSpore 2.8's CPU runtime
    did not reuse the first): WRN-16-8 batch 16 peaked at 1,219 MB with it, 1,049 MB without, against 1,065 MB for
    `nn.TrainOneStepCell` (bench/README.md). The scale and its dynamic update still run (an overflow is still a
    non-finite gradient), so a run's records read the same.
    """

    def __init__(self, loss_network: nn.Cell, optimizer: nn.Optimizer, *, loss_scale: float, dynamic_scale: bool,
                 accumulation_steps: int = 1, clip_grad_norm: float = 0.0, ema: WeightEma | None = None,
                 scaled_gradients: bool = True) -> None:
        scale = nn.DynamicLossScaleUpdateCell(loss_scale, scale_factor=2, scale_window=1000) if dynamic_scale \
            else Tensor(loss_scale, mstype.float32)
        super().__init__(loss_network, optimizer, scale_sense=scale)
        self.accumulation_steps, self.dynamic_scale = accumulation_steps, dynamic_scale
        self.scaled_gradients = scaled_gradients
        self.clip_grad_norm = clip_grad_norm
        self.ema = ema
        self.stats = StepStats()
        self.on_cpu = ms.get_context("device_target") == "CPU"
        if accumulation_steps > 1:
            self.accumulated = self.weights.clone(prefix=ACCUMULATED_PREFIX[:-1], init="zeros")
            self.accumulated_loss = Parameter(Tensor(0.0, mstype.float32), name=ACCUMULATED_PREFIX + "loss",
                                              requires_grad=False)
            self.micro_step = Parameter(Tensor(0, mstype.int32), name=ACCUMULATED_PREFIX + "micro_step",
                                        requires_grad=False)

    def construct(self, data, label):
        weights = self.weights
        scale = self.scale_sense
        loss = self.network(data, label)
        if self.scaled_gradients:
            sens = ops.ones_like(loss) * ops.cast(scale, ops.dtype(loss))
            grads = self.grad(self.network, weights)(data, label, sens)
            grads = self.hyper_map(ops.partial(_unscale, scale), grads)
        else:
            grads = self.grad(self.network, weights)(data, label, ops.ones_like(loss))
        if self.accumulation_steps == 1:
            loss = ops.depend(loss, self._apply(loss, grads))
            return loss, scale
        loss = ops.depend(loss, self.hyper_map(ops.assign_add, self.accumulated, grads))
        loss = ops.depend(loss, ops.assign_add(self.accumulated_loss, loss))
        micro_step = self.micro_step + 1
        loss = ops.depend(loss, ops.assign(self.micro_step, micro_step))
        if micro_step % self.accumulation_steps == 0:
            count = Tensor(self.accumulation_steps, mstype.float32)
            mean = self.hyper_map(ops.partial(_unscale, count), self.accumulated)
            applied = self._apply(self.accumulated_loss / count, mean)
            applied = ops.depend(applied, self.hyper_map(_zero, self.accumulated, mean))
            loss = ops.depend(loss, ops.assign(self.accumulated_loss, ops.depend(Tensor(0.0, mstype.float32),
                                                                                 applied)))
        return loss, scale

    def _apply(self, loss, grads):
        """One optimizer step from the unscaled mean gradients; returns the overflow flag."""
        grads = self.grad_reducer(grads)
        overflow = self.process_loss_scale(self._overflowed(grads))
        if self.clip_grad_norm > 0:
            grads = ops.clip_by_global_norm(grads, self.clip_grad_norm)
        overflow = ops.depend(overflow, self.stats(loss, overflow))
        if not overflow:
            overflow = ops.depend(overflow, self.optimizer(grads))
            if self.ema is not None:  # after the optimizer has counted this step
                overflow = ops.depend(overflow, self.ema(self.optimizer.global_step))
        return overflow

    def _overflowed(self, grads):
        if self.on_cpu:  # MindSpore's own check uses Ascend/GPU status kernels that CPU does not have
            return ops.logical_not(ops.stack(self.hyper_map(_is_finite, grads)).all())
        return self.get_overflow_status(Tensor([0] * 8, mstype.int32), grads)

    @property
    def loss_scale(self) -> float:
        return float(np.asarray(self.scale_sense.asnumpy()).reshape(()))


def is_transient(name: str) -> bool:
    """Parameters a checkpoint leaves out: per-epoch counters, and accumulators that are zero at every epoch end."""
    return name.startswith((STATS_PREFIX, ACCUMULATED_PREFIX))
