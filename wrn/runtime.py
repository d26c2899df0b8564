"""Device and process topology: which device, which rank, and MindSpore's context for it."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import mindspore as ms

log = logging.getLogger("wrn")

# MindSpore 2.9+ on CPU runs plain-layout 3x3 convolutions through oneDNN's reference kernel (~100x slower).
SLOW_CPU_CONV_FROM = (2, 9)


@dataclass(frozen=True)
class Topology:
    device_target: str
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    node: int = 0
    launcher: str = "single"

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def available_device() -> str:
    """The best device this MindSpore build can use: Ascend, then GPU, then CPU."""
    for target in ("Ascend", "GPU"):
        try:
            if ms.hal.is_available(target):
                return target
        except (AttributeError, RuntimeError, ValueError):
            pass
    return "CPU"


def set_device(target: str, device_id: int | None = None) -> None:
    """`ms.set_device` exists from 2.5 on; older images (ModelArts ships 2.3+) only know set_context.

    The device can be set only before the first kernel runs; setting the one already in use is skipped.
    """
    if ms.get_context("device_target") == target and device_id is None:
        return
    if hasattr(ms, "set_device"):
        ms.set_device(target, device_id) if device_id is not None else ms.set_device(target)
    else:
        kwargs = {"device_target": target}
        if device_id is not None:
            kwargs["device_id"] = device_id
        ms.set_context(**kwargs)


def setup(cfg) -> Topology:
    """Set MindSpore's graph mode, device and (under msrun) data-parallel collectives for this process."""
    target = available_device() if cfg.device_target == "auto" else cfg.device_target
    ms.set_context(mode=ms.GRAPH_MODE)
    device_id = int(os.environ.get("DEVICE_ID", 0)) if target != "CPU" else None
    set_device(target, device_id)
    ms.set_seed(cfg.seed)
    topology = Topology(device_target=target)
    if os.environ.get("MS_ROLE") == "MS_WORKER" and int(os.environ.get("MS_WORKER_NUM", "1")) > 1:
        from mindspore.communication import get_group_size, get_rank, init

        init()
        ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True)
        rank = get_rank()
        topology = Topology(device_target=target, rank=rank, world_size=get_group_size(),
                            local_rank=int(os.environ.get("MS_LOCAL_RANK_ID", rank)), launcher="msrun")
    warn_if_slow_cpu_build(target)
    return topology


def warn_if_slow_cpu_build(target: str) -> None:
    if target == "CPU" and version_tuple(ms.__version__) >= SLOW_CPU_CONV_FROM:
        log.warning("MindSpore %s on CPU runs 3x3 convolutions ~100x slower than 2.8.0 (oneDNN reference kernel); "
                    "install mindspore==2.8.0 for CPU training", ms.__version__)


def amp_level(cfg, topology: Topology) -> str:
    if cfg.amp_level != "auto":
        return cfg.amp_level
    return "O0" if topology.device_target == "CPU" else "O2"
