"""Rank tables (RANK_TABLE_FILE; on ModelArts jobstart_hccl.json): read once complete, ranks per server, devices
per server. The one parser: the launch reads it (`runtime`), and so do the shell scripts, through
`python -m wrn.cli ranktable`."""

from __future__ import annotations

import json
import time
from pathlib import Path

from wrn.errors import LaunchError

MODELARTS_RANK_TABLE = "jobstart_hccl.json"


def read_rank_table(path: Path, timeout: float, poll: float = 0.5) -> dict:
    """The rank table once its "status" is "completed" (ModelArts may still be writing it when we start)."""
    if path.is_dir():
        path = path / MODELARTS_RANK_TABLE  # ModelArts may name the folder that holds it
    deadline = time.monotonic() + timeout
    while True:
        if not path.is_file():
            raise LaunchError(f"RANK_TABLE_FILE {path} does not exist")
        try:
            table = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            table, problem = None, f"malformed JSON ({exc.msg} at line {exc.lineno})"
        else:
            if not isinstance(table, dict):
                table, problem = None, "expected a JSON object"
            elif table.get("status", "completed") == "completed":
                return table
            else:
                problem = f"status is {table.get('status')!r}"
        if time.monotonic() >= deadline:
            raise LaunchError(f"rank table {path}: {problem}; expected a JSON object with \"status\": \"completed\"")
        time.sleep(poll)


def rank_table_servers(table: dict, path: Path) -> list[list[int]]:
    """Rank ids per server, for the v1.0 layout (server_list: devices carry rank_id) and ModelArts' older one
    (group_list: instances carry no rank_id; ranks follow the order of instances, then of their devices)."""
    try:
        if "server_list" in table:
            return [[int(d["rank_id"]) for d in server.get("device", [])] for server in table["server_list"]]
        if "group_list" in table:
            by_server: dict[str, list[int]] = {}
            next_rank = 0
            for group in table["group_list"]:
                for index, instance in enumerate(group.get("instance_list", [])):
                    devices = len(instance.get("devices", [])) or 1
                    server = str(instance.get("server_id", f"instance {index}"))
                    by_server.setdefault(server, []).extend(range(next_rank, next_rank + devices))
                    next_rank += devices
            return list(by_server.values())
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise LaunchError(f"rank table {path}: unexpected layout ({type(exc).__name__}: {exc})") from None
    raise LaunchError(f"rank table {path}: neither server_list nor group_list found")


def devices_per_server(path: Path) -> int:
    """How many devices a server of the rank table at `path` has (the most any server lists): the processes a
    one-process-per-card launch starts there (scripts/run_distribute_train.sh asks, through wrn.cli ranktable)."""
    devices = max((len(ranks) for ranks in rank_table_servers(read_rank_table(path, timeout=0), path)), default=0)
    if not devices:
        raise LaunchError(f"rank table {path} lists no devices: expected a server with at least one device")
    return devices
