"""One node's msrun launch: the plan (how many nodes, which one this is, the master, the workers here) and its run.

Where the plan comes from:
- offline: NODES, NODE_RANK, MASTER_ADDR, MASTER_PORT and the worker count per node (`local/run_distribute_train.sh
  N`); one node by default;
- ModelArts: the variables the platform sets in every training container (User Guide, "Managing Environment
  Variables of a Training Container", support.huaweicloud.com/intl/en-us/usermanual-standard-modelarts/
  develop-modelarts-0104.html, table "Distributed training job"): MA_NUM_HOSTS (node count), VC_TASK_INDEX (this
  container, from 0), VC_WORKER_HOSTS (the nodes' addresses in order, comma-separated; the page takes the first as
  the master address), MA_NUM_GPUS (accelerator cards of the flavor). msrun needs MindSpore 2.3 or newer
  ("Starting a Preset Image's Boot File", develop-modelarts-1415.html, boot mode msrun).

msrun itself (MindSpore tutorial "msrun Launching"): --worker_num (all nodes), --local_worker_num (this node),
--master_addr/--master_port (the scheduler), --node_rank (ranks node_rank * local_worker_num onwards), --log_dir,
--join, --cluster_time_out. msrun starts the scheduler on the node whose addresses (`ip -j addr`) hold master_addr.

A lost node: the survivors' workers wait in a collective until MindSpore's dynamic cluster gives the peer up. The
workers here get its heartbeat timeout MS_NODE_TIMEOUT = the plan's `lost_node_timeout` (LOST_NODE_TIMEOUT), so the
survivors fail within that bound plus MindSpore's teardown, and `run_node` ends with one line that names the lost
node and its ranks as the survivors' logs report them (`lost_peer`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from wrn.errors import WrnError
from wrn.values import env_number

DEFAULT_PORT = 8118
DEFAULT_LOST_NODE_TIMEOUT = 60
# The rank-table launch's variables: a ModelArts container started the per-card way still carries them, and they
# must not reach msrun's workers (msrun exports its own RANK_ID and RANK_SIZE).
_RANK_TABLE_VARS = ("RANK_TABLE_FILE", "RANK_ID", "RANK_SIZE", "DEVICE_ID", "ASCEND_DEVICE_ID")


class LaunchPlanError(WrnError):
    """The node variables do not describe a launch (a count below 1, a node index outside the nodes, ...)."""


@dataclass(frozen=True)
class NodePlan:
    nodes: int
    node_rank: int
    local_workers: int
    master_addr: str
    master_port: int
    log_dir: Path
    cluster_time_out: int = 600
    lost_node_timeout: int = DEFAULT_LOST_NODE_TIMEOUT
    source: str = "local"  # where the node variables came from: "local" or "ModelArts"

    @property
    def world_size(self) -> int:
        return self.nodes * self.local_workers

    @property
    def ranks(self) -> range:
        return range(self.node_rank * self.local_workers, (self.node_rank + 1) * self.local_workers)

    def msrun_args(self) -> list[str]:
        return [f"--worker_num={self.world_size}", f"--local_worker_num={self.local_workers}",
                f"--master_addr={self.master_addr}", f"--master_port={self.master_port}",
                f"--node_rank={self.node_rank}", f"--log_dir={self.log_dir}", "--join=True",
                f"--cluster_time_out={self.cluster_time_out}"]

    def describe(self) -> str:
        ranks = f"rank {self.ranks.start}" if self.local_workers == 1 else \
            f"ranks {self.ranks.start}-{self.ranks.stop - 1}"
        return (f"node {self.node_rank} of {self.nodes} ({self.source}): {self.local_workers} worker(s), {ranks} of "
                f"{self.world_size}; master {self.master_addr}:{self.master_port}; logs in {self.log_dir}/worker_*.log")


def _number(env: Mapping[str, str], name: str, default: int | None, minimum: int) -> int:
    return env_number(env, name, default, int, minimum=minimum, error=LaunchPlanError)


def on_modelarts(env: Mapping[str, str]) -> bool:
    return "VC_WORKER_HOSTS" in env or "MA_NUM_HOSTS" in env


def plan_from_env(env: Mapping[str, str], workers: int | None = None, log_dir: str | Path | None = None) -> NodePlan:
    """This node's plan from ModelArts' variables when they are set, else from NODES / NODE_RANK / MASTER_ADDR /
    MASTER_PORT; `workers` (the launcher's N) overrides the flavor's card count."""
    port = _number(env, "MASTER_PORT", DEFAULT_PORT, 1)
    # msrun's logs: LOG_DIR, else the platform's training log folder on ModelArts (MA_LOG_DIR), else ./msrun_log
    default_logs = Path(env["MA_LOG_DIR"]) / "msrun" if env.get("MA_LOG_DIR") else Path("msrun_log")
    common = dict(master_port=port, log_dir=Path(log_dir or env.get("LOG_DIR") or default_logs).absolute(),
                  cluster_time_out=_number(env, "CLUSTER_TIME_OUT", 600, 1),
                  lost_node_timeout=_number(env, "LOST_NODE_TIMEOUT", DEFAULT_LOST_NODE_TIMEOUT, 1))
    if on_modelarts(env):
        hosts = [h.strip() for h in env.get("VC_WORKER_HOSTS", "").split(",") if h.strip()]
        nodes = _number(env, "MA_NUM_HOSTS", len(hosts) or 1, 1)
        if nodes > 1 and len(hosts) != nodes:
            raise LaunchPlanError(f"VC_WORKER_HOSTS={env.get('VC_WORKER_HOSTS', '')!r} names {len(hosts)} host(s) "
                                  f"but MA_NUM_HOSTS={nodes}: expected one address per node")
        plan = NodePlan(nodes=nodes, node_rank=_number(env, "VC_TASK_INDEX", 0, 0),
                        local_workers=workers or _number(env, "MA_NUM_GPUS", None, 1),
                        master_addr=hosts[0] if hosts else "127.0.0.1", source="ModelArts", **common)
    else:
        plan = NodePlan(nodes=_number(env, "NODES", 1, 1), node_rank=_number(env, "NODE_RANK", 0, 0),
                        local_workers=workers or 1, master_addr=env.get("MASTER_ADDR") or "127.0.0.1", **common)
    if plan.local_workers < 1:
        raise LaunchPlanError(f"{plan.local_workers} workers per node: expected at least 1")
    if plan.node_rank >= plan.nodes:
        names = ("VC_TASK_INDEX", "MA_NUM_HOSTS") if plan.source == "ModelArts" else ("NODE_RANK", "NODES")
        raise LaunchPlanError(f"{names[0]}={plan.node_rank} is outside {names[1]}={plan.nodes}: expected "
                              f"0 <= {names[0]} < {names[1]}")
    return plan


def worker_environment(env: Mapping[str, str], plan: NodePlan, python: str) -> dict[str, str]:
    """msrun's environment: no rank-table variables, the launching Python first on PATH (msrun starts each worker as
    `python SCRIPT`), one launch id for this node's processes (they coordinate staging through it), and the heartbeat
    bound after which the survivors of a lost node fail."""
    out = {k: v for k, v in env.items() if k not in _RANK_TABLE_VARS}
    out["PATH"] = f"{Path(python).parent}{os.pathsep}{env.get('PATH', '')}"
    out.setdefault("WRN_LAUNCH_ID", f"msrun-node{plan.node_rank}-{os.getpid()}-{int(time.time())}")
    out["MS_NODE_TIMEOUT"] = str(plan.lost_node_timeout)
    out["WRN_NODE_RANK"], out["WRN_NODES"] = str(plan.node_rank), str(plan.nodes)
    out.setdefault("GLOG_v", "3")
    return out


def msrun_command(plan: NodePlan, script: str | Path, args: Sequence[str], python: str | None = None) -> list[str]:
    """msrun's own entry point through this Python, so the MindSpore launched is the one this Python imports."""
    python = python or sys.executable
    entry = "import sys; from mindspore.parallel.cluster.run import main; sys.argv[0] = 'msrun'; sys.exit(main())"
    return [python, "-c", entry, *plan.msrun_args(), str(script), *args]


def run_node(plan: NodePlan, script: str | Path, args: Sequence[str], env: Mapping[str, str] | None = None,
             python: str | None = None) -> int:
    """Run this node's msrun to its end; on failure, one line naming a lost node when the workers' logs show one."""
    python = python or sys.executable
    print(f"msrun: {plan.describe()} (scheduler.log too on the master node)", flush=True)
    started = time.monotonic()
    done = subprocess.run(msrun_command(plan, script, args, python),
                          env=worker_environment(os.environ if env is None else env, plan, python))
    if done.returncode != 0:
        seconds = time.monotonic() - started
        failed, lost = worker_error(plan.log_dir), lost_peer(plan)
        if failed:  # a worker's own error (a user error line) is the cause, not the peers it left behind
            print(f"error: node {plan.node_rank} stopped after {seconds:.0f} s: {failed}", file=sys.stderr, flush=True)
        elif lost:
            print(f"error: node {plan.node_rank} stopped after {seconds:.0f} s: {lost}; restart every node to resume",
                  file=sys.stderr, flush=True)
        else:
            print(f"error: msrun on node {plan.node_rank} exited with code {done.returncode} after {seconds:.0f} s; "
                  f"see {plan.log_dir}/worker_*.log", file=sys.stderr, flush=True)
    return done.returncode


# What MindSpore 2.8 logs when a peer stops answering (seen in tests/test_multinode.py): the scheduler (meta server)
# names the compute-graph nodes whose heartbeats timed out (their node ids are the ranks msrun gave them); a worker
# names the rank its ring all-reduce waited for in vain ("wait receiving [RANK,..." from the previous rank; "wait
# sending N failed" to the next one, rank + 1 in the ring), and fails to unregister from a scheduler that is gone.
_TIMED_OUT_NODE = re.compile(r"The node: (\d+) is timed out")
_WAITED_FOR_RANK = re.compile(r"wait receiving \[(\d+),")
_SEND_FAILED = re.compile(r"wait sending \d+ failed")
_SCHEDULER_GONE = re.compile(r"Failed to (?:unregister from|register to|connect to) the meta server node")


def worker_error(log_dir: Path) -> str:
    """The first one-line error (`error: ...`, as the entry points print a user error) of this node's workers."""
    for log in sorted(Path(log_dir).glob("worker_*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("error: "):
                return f"{log.stem.replace('worker_', 'rank ')}: {line[len('error: '):]}"
    return ""


def lost_peer(plan: NodePlan) -> str:
    """Which node this node lost, as this node's msrun logs tell it ('' when they do not)."""
    log_dir = Path(plan.log_dir)
    scheduler = log_dir / "scheduler.log"
    timed_out = _TIMED_OUT_NODE.findall(scheduler.read_text(errors="replace")) if scheduler.is_file() else []
    if timed_out:
        return _naming(plan, timed_out, f"its heartbeat timed out (MS_NODE_TIMEOUT={plan.lost_node_timeout} s)")
    waited, gone = [], False
    for log in sorted(log_dir.glob("worker_*.log")):  # worker_<rank>.log: msrun names them so with --node_rank
        text, rank = log.read_text(errors="replace"), log.stem.rsplit("_", 1)[-1]
        waited += [int(r) for r in _WAITED_FOR_RANK.findall(text)]
        if rank.isdigit() and _SEND_FAILED.search(text):
            waited.append((int(rank) + 1) % plan.world_size)
        gone = gone or _SCHEDULER_GONE.search(text) is not None
    waited = [rank for rank in waited if rank not in plan.ranks]
    if waited:
        return _naming(plan, waited, "the all-reduce waited for it in vain" +
                       (f"; the scheduler at {plan.master_addr}:{plan.master_port} is gone too" if gone else ""))
    if gone:  # nodes are alike (ModelArts gives every node the flavor's cards): node 0 holds ranks 0..workers-1
        return _naming(plan, list(range(plan.local_workers)),
                       f"msrun's scheduler there ({plan.master_addr}:{plan.master_port}) is gone")
    return ""


def _naming(plan: NodePlan, ranks: list, why: str) -> str:
    numbers = sorted({int(rank) for rank in ranks})
    nodes = sorted({rank // plan.local_workers for rank in numbers})
    return (f"node {', '.join(map(str, nodes))} (rank {', '.join(map(str, numbers))}) stopped answering: {why}")


def per_card_duplicate(env: Mapping[str, str]) -> bool:
    """Started per card by ModelArts' rank-table boot (RANK_TABLE_FILE set) on a card other than the first: the
    documented way to run a boot file once per node is to act on card 0 only (develop-modelarts-1415.html)."""
    if not env.get("RANK_TABLE_FILE"):
        return False
    card = env.get("ASCEND_DEVICE_ID") or env.get("DEVICE_ID") or "0"
    return card.strip() != "0"


def plan_text(plan: NodePlan, script: str | Path, args: Sequence[str]) -> str:
    """The dry run: the plan in words and the msrun command line."""
    command = ["msrun", *plan.msrun_args(), str(script), *args]
    return f"{plan.describe()}\n{' '.join(command)}"
