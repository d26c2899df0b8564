"""Device and process topology: how this process was launched, which launch and process it is, and MindSpore set
up for it (imported when set up: reading the launch or the process identity loads no MindSpore).

Launch styles: a single process; `msrun` (its workers carry MS_ROLE=MS_WORKER, MS_WORKER_NUM, DEVICE_ID = local
rank); a rank table (RANK_TABLE_FILE, RANK_ID, RANK_SIZE, DEVICE_ID or ASCEND_DEVICE_ID: ModelArts' Ascend default,
one process per card). ModelArts adds MA_* variables, VC_TASK_INDEX (this node) and MA_NUM_HOSTS (node count).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

from wrn.errors import LaunchError
from wrn.platform.ranktable import rank_table_servers, read_rank_table
from wrn.values import env_number

log = logging.getLogger("wrn")

# MindSpore 2.9+ on CPU runs plain-layout 3x3 convolutions through oneDNN's reference kernel (~100x slower).
SLOW_CPU_CONV_FROM = (2, 9)
MODELARTS_VARS = ("MA_JOB_DIR", "MA_LOG_DIR", "MA_NUM_HOSTS", "VC_TASK_INDEX", "MA_CURRENT_IP")


@dataclass(frozen=True)
class Topology:
    device_target: str = "CPU"
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    node: int = 0
    nodes: int = 1
    device_id: int | None = None
    launcher: str = "single"
    on_modelarts: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self) -> str:
        where = " on ModelArts" if self.on_modelarts else ""
        return (f"{self.launcher} launch{where}: rank {self.rank}/{self.world_size}, local rank {self.local_rank}, "
                f"node {self.node}/{self.nodes}, {self.device_target}"
                + (f" device {self.device_id}" if self.device_id is not None else ""))


def _int(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    return env_number(env, name, default, int, error=LaunchError)


def detect_launch(env: Mapping[str, str] | None = None, rank_table_timeout: float = 600.0) -> Topology:
    """Read the launch style from the environment (device target left for `setup` to choose)."""
    env = os.environ if env is None else env
    on_modelarts = any(name in env for name in MODELARTS_VARS)
    # ModelArts names the node; the package's own msrun launcher (wrn/platform/launch.py) does so offline.
    node = _int(env, "VC_TASK_INDEX", _int(env, "WRN_NODE_RANK", 0))
    nodes = _int(env, "MA_NUM_HOSTS", _int(env, "WRN_NODES", 1))
    if env.get("MS_ROLE") == "MS_SCHED":
        # msrun runs the script once more as its scheduler: init() serves the cluster there, then exits.
        return Topology(world_size=_int(env, "MS_WORKER_NUM"), node=node, nodes=nodes, launcher="msrun-scheduler",
                        on_modelarts=on_modelarts)
    if env.get("MS_ROLE") == "MS_WORKER":
        world = _int(env, "MS_WORKER_NUM")
        local_rank = _int(env, "DEVICE_ID", 0)
        rank = _int(env, "RANK_ID", _int(env, "MS_NODE_ID", local_rank))  # final rank comes from init()
        topology = Topology(rank=rank, world_size=world, local_rank=local_rank, node=node, nodes=nodes,
                            device_id=local_rank, launcher="msrun", on_modelarts=on_modelarts)
    elif env.get("RANK_TABLE_FILE"):
        topology = _rank_table_launch(env, on_modelarts, node, nodes, rank_table_timeout)
    else:
        size = _int(env, "RANK_SIZE", 1)
        if size > 1:
            raise LaunchError(f"RANK_SIZE={size} but neither RANK_TABLE_FILE nor msrun's worker environment is set: "
                              "launch with local/run_distribute_train.sh (msrun) or with a rank table")
        device = env.get("DEVICE_ID") or env.get("ASCEND_DEVICE_ID")
        topology = Topology(device_id=int(device) if device and device.isdigit() else None, node=node, nodes=nodes,
                            on_modelarts=on_modelarts)
    if not 0 <= topology.rank < topology.world_size:
        raise LaunchError(f"rank {topology.rank} is outside world size {topology.world_size} "
                          f"({topology.launcher} launch): expected 0 <= rank < size")
    if not 0 <= topology.node < topology.nodes:
        raise LaunchError(f"VC_TASK_INDEX={topology.node} is outside MA_NUM_HOSTS={topology.nodes}")
    return topology


def _rank_table_launch(env: Mapping[str, str], on_modelarts: bool, node: int, nodes: int,
                       timeout: float) -> Topology:
    path = Path(env["RANK_TABLE_FILE"])
    rank, size = _int(env, "RANK_ID"), _int(env, "RANK_SIZE")
    device_text = env.get("DEVICE_ID") or env.get("ASCEND_DEVICE_ID")
    if device_text is None:
        raise LaunchError("rank table launch: neither DEVICE_ID nor ASCEND_DEVICE_ID is set")
    device_id = _int({"DEVICE_ID": device_text}, "DEVICE_ID")
    table = read_rank_table(path, timeout)
    servers = rank_table_servers(table, path)
    devices = sum(len(s) for s in servers)
    if devices and devices != size:
        raise LaunchError(f"RANK_SIZE={size} but rank table {path} lists {devices} devices")
    if not 0 <= rank < size:
        raise LaunchError(f"RANK_ID={rank} is outside RANK_SIZE={size}: expected 0 <= RANK_ID < RANK_SIZE")
    for index, ranks in enumerate(servers):
        if rank in ranks:
            node, nodes = index, len(servers)
            local_rank = ranks.index(rank)
            break
    else:
        local_rank = device_id
    return Topology(rank=rank, world_size=size, local_rank=local_rank, node=node, nodes=nodes, device_id=device_id,
                    launcher="ranktable", on_modelarts=on_modelarts)


def launch_id() -> str:
    """Shared by the processes of one launch on one node, different for the next launch.

    WRN_LAUNCH_ID when a launcher sets it; else the parent process and its start time (msrun's workers, or the
    processes a rank-table launcher starts, are siblings).
    """
    explicit = os.environ.get("WRN_LAUNCH_ID")
    if explicit:
        return explicit
    parent = os.getppid()
    return f"{parent}-{process_start_ticks(parent) or '0'}"


def process_start_ticks(pid: int) -> str:
    """When process `pid` started (clock ticks since boot): with the pid, it names one process even after the pid
    is reused. Empty when there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def available_device() -> str:
    """The best device this MindSpore build can use: Ascend, then GPU, then CPU."""
    import mindspore as ms

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
    import mindspore as ms

    if ms.get_context("device_target") == target and device_id is None:
        return
    if hasattr(ms, "set_device"):
        ms.set_device(target, device_id) if device_id is not None else ms.set_device(target)
    else:
        kwargs = {"device_target": target}
        if device_id is not None:
            kwargs["device_id"] = device_id
        ms.set_context(**kwargs)


_configured: Topology | None = None


def setup(device_target: str = "auto") -> Topology:
    """Graph mode, the device, and (for a world larger than one) collectives with data-parallel gradient averaging.

    Idempotent: a second call in the same process returns the first result (init() may run only once).
    """
    import mindspore as ms

    global _configured
    target = available_device() if device_target == "auto" else device_target
    if _configured is not None:
        if _configured.device_target != target:
            raise LaunchError(f"device_target {target} requested, but this process already runs on "
                              f"{_configured.device_target}")
        return _configured
    launch = detect_launch()
    ms.set_context(mode=ms.GRAPH_MODE)
    try:
        if target != "CPU" and hasattr(ms, "hal") and not ms.hal.is_available(target):
            raise RuntimeError(f"no {target} device or {target} support in this build")
        set_device(target, launch.device_id if target != "CPU" else None)
    except (RuntimeError, ValueError) as exc:
        raise LaunchError(f"device_target {target} is not available here: MindSpore {ms.__version__} says "
                          f"{str(exc).splitlines()[0]!r}; use device_target=auto (the best device present) or CPU") \
            from None
    topology = replace(launch, device_target=target)
    if launch.world_size > 1:
        from mindspore.communication import get_group_size, get_rank, init

        init()
        topology = replace(topology, rank=get_rank(), world_size=get_group_size())
        ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True,
                                     device_num=topology.world_size)
    _configured = topology
    return topology


def all_reduce_sum(values: list[float]) -> list[float]:
    """Element-wise sum of `values` over all ranks (the data-parallel group)."""
    import mindspore as ms
    import mindspore.nn as nn
    import mindspore.ops as ops
    import numpy as np

    class _Sum(nn.Cell):
        def __init__(self) -> None:
            super().__init__()
            self.reduce = ops.AllReduce(ops.ReduceOp.SUM)

        def construct(self, x):
            return self.reduce(x)

    return [float(v) for v in _Sum()(ms.Tensor(np.asarray(values, dtype=np.float32))).asnumpy()]


def warn_if_slow_cpu_build(target: str) -> None:
    """One line when this CPU build runs 3x3 convolutions through the slow reference kernel (measured, ~0.1 s)."""
    if target != "CPU":
        return
    import mindspore as ms

    from wrn.platform.perfcheck import conv_ratio

    probe = conv_ratio(batch=8, repeats=1) if version_tuple(ms.__version__) >= SLOW_CPU_CONV_FROM else None
    if probe is not None and probe["slow"]:
        log.warning("MindSpore %s on this CPU runs 3x3 convolutions %.0fx slower than 1x1 ones (oneDNN reference "
                    "kernel; ~100x slower training than 2.8.0): install mindspore==2.8.0 for CPU training",
                    ms.__version__, probe["ratio"])
