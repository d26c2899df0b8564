"""The node plan of an msrun launch: from ModelArts' node variables or the offline ones, each damaged variable one
line naming it; the boot file's dry run and its per-card start. The real two-node run: tests/test_multinode.py."""

from __future__ import annotations

import pytest

from conftest import run_cli
from wrn.platform.launch import LaunchPlanError, plan_from_env

MODELARTS_NODE_1 = {"MA_NUM_HOSTS": "2", "VC_TASK_INDEX": "1", "MA_NUM_GPUS": "8", "VC_WORKER_NUM": "2",
                    "VC_WORKER_HOSTS": "job-worker-0.svc,job-worker-1.svc", "MA_CURRENT_IP": "192.168.0.12"}


def test_modelarts_variables_make_the_msrun_arguments(tmp_path):
    plan = plan_from_env(MODELARTS_NODE_1, log_dir=tmp_path)
    assert plan.msrun_args() == ["--worker_num=16", "--local_worker_num=8", "--master_addr=job-worker-0.svc",
                                 "--master_port=8118", "--node_rank=1", f"--log_dir={tmp_path}", "--join=True",
                                 "--cluster_time_out=600"]
    assert list(plan.ranks) == list(range(8, 16)) and plan.source == "ModelArts"
    logs = plan_from_env({**MODELARTS_NODE_1, "MA_LOG_DIR": str(tmp_path / "ma-log")}).log_dir
    assert logs == tmp_path / "ma-log" / "msrun"  # the platform's training log folder


def test_offline_variables_and_defaults(tmp_path):
    one = plan_from_env({}, workers=2, log_dir=tmp_path)
    assert (one.nodes, one.node_rank, one.world_size, one.master_addr, one.master_port) == (1, 0, 2, "127.0.0.1", 8118)
    two = plan_from_env({"NODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "10.0.0.5", "MASTER_PORT": "9000"}, workers=4,
                        log_dir=tmp_path)
    assert "--worker_num=8" in two.msrun_args() and "--node_rank=1" in two.msrun_args()
    assert "--master_addr=10.0.0.5" in two.msrun_args() and "--master_port=9000" in two.msrun_args()


@pytest.mark.parametrize("env,named", [
    ({**MODELARTS_NODE_1, "VC_TASK_INDEX": "2"}, "VC_TASK_INDEX=2 is outside MA_NUM_HOSTS=2"),
    ({**MODELARTS_NODE_1, "VC_TASK_INDEX": "-1"}, "VC_TASK_INDEX='-1'"),
    ({**MODELARTS_NODE_1, "MA_NUM_GPUS": "0"}, "MA_NUM_GPUS='0'"),
    ({**MODELARTS_NODE_1, "MA_NUM_GPUS": "eight"}, "MA_NUM_GPUS='eight' is not an integer"),
    ({k: v for k, v in MODELARTS_NODE_1.items() if k != "MA_NUM_GPUS"}, "MA_NUM_GPUS is not set"),
    ({**MODELARTS_NODE_1, "MA_NUM_HOSTS": "3"}, "names 2 host(s) but MA_NUM_HOSTS=3"),
    ({**MODELARTS_NODE_1, "VC_WORKER_HOSTS": ""}, "names 0 host(s) but MA_NUM_HOSTS=2"),
    ({**MODELARTS_NODE_1, "MASTER_PORT": "http"}, "MASTER_PORT='http' is not an integer"),
    ({"NODES": "2", "NODE_RANK": "2"}, "NODE_RANK=2 is outside NODES=2"),
    ({"NODES": "0"}, "NODES='0'"),
    ({"NODE_RANK": "x"}, "NODE_RANK='x' is not an integer"),
    ({"LOST_NODE_TIMEOUT": "0"}, "LOST_NODE_TIMEOUT='0'"),
])
def test_every_damaged_node_variable_is_named(env, named):
    with pytest.raises(LaunchPlanError) as error:
        plan_from_env(env, workers=None if "MA_NUM_HOSTS" in env else 1)
    assert named in str(error.value)


def test_boot_file_dry_run_and_per_card_start(tmp_path):
    env = {**MODELARTS_NODE_1, "LOG_DIR": str(tmp_path)}
    done = run_cli("modelarts/launch.py", "--dry-run", "--config=wrn40_10", "--resume=auto", env=env)
    assert done.returncode == 0, done.stderr
    plan, command = done.stdout.strip().splitlines()
    assert plan.startswith("node 1 of 2 (ModelArts): 8 worker(s), ranks 8-15 of 16; master job-worker-0.svc:8118")
    assert command.startswith("msrun --worker_num=16 --local_worker_num=8 --master_addr=job-worker-0.svc")
    assert command.endswith("modelarts/train.py --config=wrn40_10 --resume=auto")
    # ModelArts' default start runs the boot file once per card: only card 0 launches the node
    other_card = run_cli("modelarts/launch.py", "--config=wrn40_10",
                         env={**env, "RANK_TABLE_FILE": str(tmp_path / "rank_table.json"), "ASCEND_DEVICE_ID": "3"})
    assert other_card.returncode == 0 and "runs on card 0" in other_card.stdout
    bad = run_cli("modelarts/launch.py", "--dry-run", env={**env, "VC_TASK_INDEX": "5"})
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "error: VC_TASK_INDEX=5 is outside MA_NUM_HOSTS=2: expected 0 <= VC_TASK_INDEX < MA_NUM_HOSTS"]
    usage = run_cli("local/launch.py", "two", "--config=demo")
    assert usage.returncode == 2 and "number of workers on this node" in usage.stderr


def test_a_workers_own_error_is_the_nodes_error_line(tmp_path):
    """Not a lost node: a bad key fails both workers of a one-node msrun before training; the line names it."""
    from conftest import ROOT
    import os
    import socket
    import subprocess

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "LOG_DIR": str(tmp_path / "logs"), "MASTER_PORT": str(port)}
    done = subprocess.run(["bash", "local/run_distribute_train.sh", "2", "--config=demo", f"--data_url={tmp_path}",
                           f"--train_url={tmp_path / 'run'}", "--epochz=2"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.startswith("error: node 0 stopped")]
    assert len(lines) == 1 and "unknown config key 'epochz'" in lines[0] and "rank " in lines[0], done.stderr[-2000:]


# Lines MindSpore 2.8.0 wrote in real two-node runs of tests/test_multinode.py (the survivors' msrun logs), each way
# the loss of a node showed: the master's scheduler, a worker whose receive failed, a worker whose send failed.
SCHEDULER_LINE = ("[ERROR] DISTRIBUTED(9685,7fab0bfff6c0,python):2026-12-02-00:44:24.214.686 [mindspore/ccsrc/cluster/"
                  "topology/meta_server_node.cc:544] UpdateTopoState] The node: 1 is timed out. It may exit with "
                  "exception, please check this node's log.")
RECEIVE_LINE = ("[ERROR] DISTRIBUTED(27838,7f28a97fb6c0,python):2026-12-02-01:04:09.136.534 [mindspore/ccsrc/cluster/rpc/"
                "core/collective_ops_impl.cc:152] RunRingAllReduce] Ring ReduceScatter wait receiving [0,137] failed.")
SEND_LINE = ("[ERROR] DISTRIBUTED(23179,7ff61f5fe6c0,python):2026-12-02-01:41:37.490.670 [mindspore/ccsrc/cluster/rpc/"
             "core/collective_ops_impl.cc:163] RunRingAllReduce] Ring ReduceScatter wait sending 113 failed.")

# the form a worker logs when only the scheduler's loss reached it (no all-reduce was waiting)
SCHEDULER_GONE_LINE = ("[ERROR] DISTRIBUTED(23179,7ff61f5fe6c0,python):2026-12-02-01:41:37.490.670 [mindspore/ccsrc/"
                       "distributed/cluster/topology/compute_graph_node.cc:239] Unregister] Failed to unregister from "
                       "the meta server node.")


@pytest.mark.parametrize("node,files,named", [
    (0, {"scheduler.log": SCHEDULER_LINE, "worker_0.log": RECEIVE_LINE.replace("[0,", "[1,")},
     "node 1 (rank 1) stopped answering: its heartbeat timed out"),
    (1, {"worker_1.log": RECEIVE_LINE}, "node 0 (rank 0) stopped answering: the all-reduce waited for it in vain"),
    (1, {"worker_1.log": SEND_LINE}, "node 0 (rank 0) stopped answering: the all-reduce waited for it in vain"),
    (1, {"worker_1.log": SCHEDULER_GONE_LINE},
     "node 0 (rank 0) stopped answering: msrun's scheduler there (127.0.0.1:8118) is gone"),
    (1, {"worker_1.log": "Traceback ...\nRuntimeError: something else"}, ""),
])
def test_the_lost_node_is_named_from_the_survivors_logs(tmp_path, node, files, named):
    from wrn.platform.launch import lost_peer

    for name, text in files.items():
        (tmp_path / name).write_text(f"INFO start\n{text}\nINFO end\n")
    plan = plan_from_env({"NODES": "2", "NODE_RANK": str(node)}, workers=1, log_dir=tmp_path)
    assert lost_peer(plan).startswith(named) if named else lost_peer(plan) == ""
