"""Two msrun nodes on this machine: node 0 here, node 1 in a network namespace (another host to msrun), each with
its own scratch folder, data_url and train_url on the S3-protocol server. They train in step, stage once per node,
only rank 0 writes train_url, a restart resumes, and the loss of either node ends the other within a bound, with one
line naming the lost node."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import ROOT, free_port, make_cifar, tiny_args
from objectstore import start_object_store
from secondhost import second_host
from wrn.platform.storage import reset_remote_storage, storage_for

LOST_NODE_TIMEOUT = 10


@pytest.fixture(scope="module")
def cluster():
    with second_host() as host:
        store = start_object_store(host.master_addr)  # both nodes reach it over the link
        try:
            yield host, store
        finally:
            store.server.stop()


def _start_node(rank: int, host, store, tmp_path: Path, launch: str, port: int, args: list[str],
                scratch: str = "scratch") -> subprocess.Popen:
    """Node `rank` of launch `launch`: its scratch folder (tmp_path/scratchRANK) is the node's across launches, its
    msrun logs the launch's (tmp_path/launch/msrunRANK)."""
    env = {**os.environ, **store.env(WRN_SCRATCH_DIR=str(tmp_path / f"{scratch}{rank}")), "NODES": "2",
           "NODE_RANK": str(rank), "MASTER_ADDR": host.master_addr, "MASTER_PORT": str(port),
           "LOG_DIR": str(tmp_path / launch / f"msrun{rank}"), "LOST_NODE_TIMEOUT": str(LOST_NODE_TIMEOUT)}
    command = ["bash", "local/run_distribute_train.sh", "1", *args]
    return subprocess.Popen(host.prefix() + command if rank == 1 else command, cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _start_both(host, store, tmp_path: Path, launch: str, args: list[str], scratch: str = "scratch",
                port: int | None = None) -> list[subprocess.Popen]:
    port = port or free_port(host.master_addr)
    return [_start_node(rank, host, store, tmp_path, launch, port, args, scratch) for rank in (0, 1)]


def _await_step(log: Path, line: str, node: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while line not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline and node.poll() is None, node.communicate()[0][-3000:]
        time.sleep(0.2)


def _descendants(pid: int) -> list[int]:
    """`pid` and every process below it (msrun starts its workers in sessions of their own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _logs(tmp_path: Path, launch: str, rank: int, output: str) -> str:
    """What a failed assertion shows: the node's output and the tails of its msrun logs."""
    tails = [f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}"
             for log in sorted((tmp_path / launch / f"msrun{rank}").glob("*.log"))]
    return "\n".join([output[-3000:], *tails])


def _checksum(log: str) -> str:
    return re.findall(r"trainable weights checksum (\w+)", log)[-1]


def _last_launch(log: str) -> str:
    """A run's log from its last launch's first line on (a restarted run appends to the same train.log)."""
    return log.rsplit(" INFO launch ", 1)[1]


def test_two_nodes_train_in_step_resume_and_survive_a_lost_node(cluster, tmp_path: Path):
    """Three launches: the first loses node 1 in epoch 2; then, side by side, its restart (it resumes and finishes
    with every check of a two-node run) and a launch of another run that loses node 0 (the master). Each loss needs
    a launch of its own. The successful run is the resumed one, so the restart and the run's outputs are checked on
    one launch; the master's loss needs no earlier run, so its launch (mostly the survivor's wait for MindSpore to
    give the master up) runs beside the restart, with its own port, scratch folders and train_url."""
    host, store = cluster
    reset_remote_storage()
    bucket = store.new_bucket()
    data = make_cifar(tmp_path / "data", train_sizes=(128,), eval_size=40)
    os.environ.update(store.env())
    try:
        storage_for(f"obs://{bucket}").upload_tree(data, f"obs://{bucket}/cifar10")
    finally:
        reset_remote_storage()
    common = ["--config=demo", f"--data_url=obs://{bucket}/cifar10", *tiny_args(), "--warmup_epochs=0",
              "--log_interval=1", "--resume=auto"]
    args = [*common, f"--train_url=obs://{bucket}/runs/2nodes"]

    # 1. two epochs on two nodes; node 1 is lost in the middle of the second
    nodes = _start_both(host, store, tmp_path, "launch1", [*args, "--epochs=2"])
    _await_step(tmp_path / "launch1" / "msrun0" / "worker_0.log", "epoch 2/2 step 2/4", nodes[0])
    for pid in host.pids():  # the whole second host goes away: its launcher, msrun and workers
        os.kill(pid, signal.SIGKILL)
    lost_at = time.monotonic()
    survivor = nodes[0].communicate(timeout=LOST_NODE_TIMEOUT + 120)[0]
    survived_seconds = time.monotonic() - lost_at
    nodes[1].communicate(timeout=30)
    assert nodes[0].returncode != 0
    lines = [line for line in survivor.splitlines() if line.startswith("error: node 0 stopped")]
    assert len(lines) == 1 and "node 1 (rank 1) stopped answering" in lines[0], \
        _logs(tmp_path, "launch1", 0, survivor)
    lost_node_1 = lines[0]

    # 2. both restarted: they resume after epoch 1 (the lost node cost at most the epoch it was in) and finish.
    # 3. Meanwhile, another run on two more nodes; its node 0 (the master, with msrun's scheduler) is lost at step 2:
    # its node 1 ends and names it.
    started = time.monotonic()
    ports = [free_port(host.master_addr)]
    while len(ports) < 2:  # nobody listens on either yet: two probes may return the same free port
        ports += [port for port in [free_port(host.master_addr)] if port != ports[0]]
    resumed = _start_both(host, store, tmp_path, "launch2", [*args, "--epochs=2"], port=ports[0])
    with ThreadPoolExecutor(max_workers=2) as readers:  # the restart's output is read while the other run goes on
        resumed_outputs = [readers.submit(node.communicate, timeout=400) for node in resumed]
        nodes = _start_both(host, store, tmp_path, "launch3",
                            [*common, f"--train_url=obs://{bucket}/runs/master-lost", "--epochs=1"],
                            scratch="other_scratch", port=ports[1])
        _await_step(tmp_path / "launch3" / "msrun0" / "worker_0.log", "epoch 1/1 step 2/4", nodes[0])
        for pid in _descendants(nodes[0].pid):  # node 0's launcher, msrun, scheduler and workers (own sessions)
            os.kill(pid, signal.SIGKILL)
        lost_at = time.monotonic()
        survivor = nodes[1].communicate(timeout=LOST_NODE_TIMEOUT + 120)[0]
        master_lost_seconds = time.monotonic() - lost_at
        nodes[0].communicate(timeout=30)
        lost_node_0 = [line for line in survivor.splitlines() if line.startswith("error: node 1 stopped")]
        assert len(lost_node_0) == 1 and "node 0 (rank 0) stopped answering" in lost_node_0[0], \
            _logs(tmp_path, "launch3", 1, survivor)
        outputs = [output.result()[0] for output in resumed_outputs]
    for node, output in zip(resumed, outputs):
        assert node.returncode == 0, output[-4000:]
    resumed_seconds = time.monotonic() - started
    keys = store.keys(bucket, "runs/2nodes/")
    written = {k.split("runs/2nodes/", 1)[1] for k in keys}
    # rank 1 writes its own log only; everything else comes from rank 0
    assert {name for name in written if "rank_" in name} == {"logs/rank_1/train.log"}
    assert {"ckpt/last.ckpt", "metrics.jsonl", "summary.json", "train.log", "config.yaml"} <= written
    assert any(name.startswith("tensorboard/events.out.tfevents.") for name in written)  # uploaded like the rest
    rank0 = _last_launch(store.read(bucket, "runs/2nodes/train.log").decode())
    rank1 = _last_launch(store.read(bucket, "runs/2nodes/logs/rank_1/train.log").decode())
    assert "epoch 1 done, global step 4" in rank0 and "epochs 2..2" in rank0
    assert "msrun launch: rank 0/2, local rank 0, node 0/2" in rank0
    assert "msrun launch: rank 1/2, local rank 0, node 1/2" in rank1
    assert _checksum(rank0) == _checksum(rank1)
    # each node staged the data once in this launch, into its own scratch folder
    for rank, log in ((0, rank0), (1, rank1)):
        staged = re.findall(r"staged obs://\S+/cifar10 into (\S+):", log)
        assert len(staged) == 1 and staged[0].startswith(str(tmp_path / f"scratch{rank}")), log
    records = [json.loads(line) for line in store.read(bucket, "runs/2nodes/metrics.jsonl").decode().splitlines()]
    assert [(r["epoch"], r["global_step"]) for r in records] == [(1, 4), (2, 8)]  # 128 images / (16 x 2 ranks)
    print(f"2 nodes: survivor ended {survived_seconds:.1f} s after the loss of node 1 with: {lost_node_1}; "
          f"{resumed_seconds:.1f} s for the resumed epoch (beside the other run), checksum {_checksum(rank0)} on "
          f"both ranks; node 1 ended {master_lost_seconds:.1f} s after the loss of node 0 with: {lost_node_0[0]}")
