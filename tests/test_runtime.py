import json
import threading
import time
from pathlib import Path

import pytest

from conftest import run_in_process
from wrn.cli import ranktable_main
from wrn.errors import LaunchError
from wrn.platform.runtime import detect_launch


def rank_table(path: Path, servers: int, per_server: int, status: str = "completed") -> Path:
    table = {"version": "1.0", "server_count": str(servers), "status": status, "server_list": [
        {"server_id": f"10.0.0.{s}", "device": [
            {"device_id": str(d), "device_ip": f"192.168.{s}.{d}", "rank_id": str(s * per_server + d)}
            for d in range(per_server)]} for s in range(servers)]}
    path.write_text(json.dumps(table))
    return path


def test_single_process():
    topology = detect_launch({})
    assert (topology.launcher, topology.rank, topology.world_size, topology.on_modelarts) == ("single", 0, 1, False)


def test_msrun_worker_and_scheduler():
    worker = detect_launch({"MS_ROLE": "MS_WORKER", "MS_WORKER_NUM": "4", "RANK_ID": "2", "DEVICE_ID": "2"})
    assert (worker.launcher, worker.rank, worker.world_size, worker.local_rank) == ("msrun", 2, 4, 2)
    scheduler = detect_launch({"MS_ROLE": "MS_SCHED", "MS_WORKER_NUM": "4", "RANK_ID": "0"})
    assert scheduler.launcher == "msrun-scheduler" and scheduler.world_size == 4


def test_rank_table_on_two_modelarts_nodes(tmp_path):
    env = {"RANK_TABLE_FILE": str(rank_table(tmp_path / "rt.json", 2, 8)), "RANK_ID": "11", "RANK_SIZE": "16",
           "ASCEND_DEVICE_ID": "3", "MA_JOB_DIR": "/home/ma-user/modelarts/user-job-dir", "VC_TASK_INDEX": "1",
           "MA_NUM_HOSTS": "2"}
    topology = detect_launch(env)
    assert (topology.launcher, topology.rank, topology.world_size) == ("ranktable", 11, 16)
    assert (topology.node, topology.nodes, topology.local_rank, topology.device_id) == (1, 2, 3, 3)
    assert topology.on_modelarts and "rank 11/16, local rank 3, node 1/2" in topology.describe()


def jobstart_hccl(folder: Path, instances: int, per_instance: int) -> Path:
    """ModelArts' older rank table (jobstart_hccl.json, group_list layout): instances carry no rank_id."""
    table = {"status": "completed", "group_count": "1", "group_list": [{
        "group_name": "job-wrn", "device_count": str(instances * per_instance), "instance_count": str(instances),
        "instance_list": [{"pod_name": f"job-wrn-{i}", "server_id": f"10.0.0.{i}", "devices": [
            {"device_id": str(d), "device_ip": f"192.1.{i}.{d}"} for d in range(per_instance)]}
            for i in range(instances)]}]}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "jobstart_hccl.json").write_text(json.dumps(table))
    return folder / "jobstart_hccl.json"


def test_modelarts_group_list_ranks_follow_instance_then_device_order(tmp_path):
    table = jobstart_hccl(tmp_path, instances=2, per_instance=4)
    topology = detect_launch({"RANK_TABLE_FILE": str(table), "RANK_ID": "6", "RANK_SIZE": "8", "DEVICE_ID": "2"})
    assert (topology.rank, topology.world_size, topology.local_rank, topology.node, topology.nodes) == (6, 8, 2, 1, 2)


def test_rank_table_file_may_name_the_folder_holding_jobstart_hccl(tmp_path):
    jobstart_hccl(tmp_path / "rank_table", instances=1, per_instance=2)
    env = {"RANK_TABLE_FILE": str(tmp_path / "rank_table"), "RANK_ID": "1", "RANK_SIZE": "2", "DEVICE_ID": "1"}
    assert (detect_launch(env).rank, detect_launch(env).local_rank) == (1, 1)
    with pytest.raises(LaunchError, match="empty/jobstart_hccl.json does not exist"):
        (tmp_path / "empty").mkdir()
        detect_launch({**env, "RANK_TABLE_FILE": str(tmp_path / "empty")}, rank_table_timeout=0.1)


def test_waits_until_the_rank_table_is_completed(tmp_path):
    path = rank_table(tmp_path / "rt.json", 1, 2, status="initializing")
    threading.Timer(0.8, lambda: rank_table(path, 1, 2)).start()
    started = time.monotonic()
    topology = detect_launch({"RANK_TABLE_FILE": str(path), "RANK_ID": "1", "RANK_SIZE": "2", "DEVICE_ID": "1"})
    assert topology.world_size == 2 and time.monotonic() - started >= 0.7


@pytest.mark.parametrize("case,message", [
    ("rank too big", "RANK_ID=2 is outside RANK_SIZE=2"),
    ("missing table", "does not exist"),
    ("malformed", "malformed JSON"),
    ("never completed", "status is 'initializing'"),
    ("size mismatch", "RANK_SIZE=4 but rank table"),
    ("no device", "neither DEVICE_ID nor ASCEND_DEVICE_ID"),
    ("size without launcher", "RANK_SIZE=8 but neither RANK_TABLE_FILE nor msrun"),
    ("msrun rank", "rank 5 is outside world size 2"),
    ("node", "VC_TASK_INDEX=2 is outside MA_NUM_HOSTS=2"),
    ("not a number", "RANK_ID='one' is not an integer"),
])
def test_inconsistent_environments_are_clear_errors(tmp_path, case, message):
    table = str(rank_table(tmp_path / "rt.json", 1, 2))
    base = {"RANK_TABLE_FILE": table, "RANK_ID": "0", "RANK_SIZE": "2", "DEVICE_ID": "0"}
    env = {
        "rank too big": {**base, "RANK_ID": "2"},
        "missing table": {**base, "RANK_TABLE_FILE": str(tmp_path / "nope.json")},
        "malformed": {**base, "RANK_TABLE_FILE": str(tmp_path / "bad.json")},
        "never completed": {**base, "RANK_TABLE_FILE": str(rank_table(tmp_path / "w.json", 1, 2, "initializing"))},
        "size mismatch": {**base, "RANK_SIZE": "4"},
        "no device": {k: v for k, v in base.items() if k != "DEVICE_ID"},
        "size without launcher": {"RANK_SIZE": "8"},
        "msrun rank": {"MS_ROLE": "MS_WORKER", "MS_WORKER_NUM": "2", "RANK_ID": "5"},
        "node": {"VC_TASK_INDEX": "2", "MA_NUM_HOSTS": "2"},
        "not a number": {**base, "RANK_ID": "one"},
    }[case]
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(LaunchError, match=message.replace("(", "\\(")):
        detect_launch(env, rank_table_timeout=0.6)


def test_ranktable_command_gives_the_devices_of_a_server(tmp_path):
    """What scripts/run_distribute_train.sh asks (one process per card): the same parser as the launch."""
    for table, devices in ((rank_table(tmp_path / "one.json", 1, 8), "8"),
                           (rank_table(tmp_path / "two.json", 2, 4), "4"),
                           (jobstart_hccl(tmp_path / "ma", instances=2, per_instance=2), "2")):
        assert run_in_process(ranktable_main, "devices", str(table)) == (0, devices + "\n", ""), table
    # ModelArts may name the folder that holds jobstart_hccl.json, as for the launch
    assert run_in_process(ranktable_main, "devices", str(tmp_path / "ma")) == (0, "2\n", "")


@pytest.mark.parametrize("content,problem", [
    ("{not json", "rank table {path}: malformed JSON (Expecting property name enclosed in double quotes at line 1); "
                  'expected a JSON object with "status": "completed"'),
    ('{"status": "initializing", "server_list": []}', "rank table {path}: status is 'initializing'; expected a JSON "
                                                      'object with "status": "completed"'),
    ('{"version": "1.0"}', "rank table {path}: neither server_list nor group_list found"),
    ('{"server_list": [{"device": [{"device_id": "0"}]}]}', "rank table {path}: unexpected layout (KeyError: "
                                                            "'rank_id')"),
    ('{"server_list": [{"server_id": "10.0.0.1", "device": []}]}', "rank table {path} lists no devices: expected a "
                                                                   "server with at least one device"),
    (None, "RANK_TABLE_FILE {path} does not exist"),
])
def test_ranktable_command_refuses_a_bad_table_in_one_line(tmp_path, content, problem):
    path = tmp_path / "rank_table.json"
    if content is not None:
        path.write_text(content)
    code, out, err = run_in_process(ranktable_main, "devices", str(path))
    assert (code, out, err) == (2, "", "error: " + problem.format(path=path) + "\n")


def test_a_command_run_inside_a_process_gives_the_signals_back():
    """The command-line wrapper takes SIGINT/SIGTERM over; a caller that ran it in its own process (as the tests do)
    gets its own handlers back with `signals.uninstall()`."""
    import signal

    from wrn import signals
    from wrn.cli import run

    def ours(signum, frame):
        pass

    before = {signum: signal.signal(signum, ours) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        seen = {}
        assert run(lambda argv: seen.update(handler=signal.getsignal(signal.SIGTERM)) or 0, []) == 0
        assert seen["handler"] is not ours  # taken over while the command ran
        signals.uninstall()
        assert signal.getsignal(signal.SIGINT) is ours and signal.getsignal(signal.SIGTERM) is ours
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
