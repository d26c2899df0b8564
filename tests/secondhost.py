"""A second host on this machine, for msrun's multi-node tests: a network namespace joined to this one by a veth
pair. msrun starts its scheduler on the node whose addresses (`ip -j addr`) hold --master_addr
(mindspore/parallel/cluster/process_entity/_utils.py, `_is_local_ip`), and the scheduler listens on that address
only: inside the namespace the master's address is another host's, reached through the veth link, as on a cluster.
Needs root (CAP_NET_ADMIN) and iproute2's `ip`."""

from __future__ import annotations

import os
import random
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator


@dataclass(frozen=True)
class SecondHost:
    namespace: str
    master_addr: str  # this host's end of the link: where node 0 and the object store listen
    address: str  # the second host's own address

    def prefix(self) -> list[str]:
        """Run a command on the second host."""
        return ["ip", "netns", "exec", self.namespace]

    def pids(self) -> list[int]:
        out = subprocess.run(["ip", "netns", "pids", self.namespace], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@contextmanager
def second_host() -> Iterator[SecondHost]:
    name = f"wrn{os.getpid() % 100000}{random.randint(10, 99)}"
    subnet = f"10.{random.randint(100, 250)}.{random.randint(0, 255)}"
    host = SecondHost(namespace=name, master_addr=f"{subnet}.1", address=f"{subnet}.2")
    _ip("netns", "add", name)
    try:
        _ip("link", "add", f"{name}a", "type", "veth", "peer", "name", f"{name}b")
        _ip("link", "set", f"{name}b", "netns", name)
        _ip("addr", "add", f"{host.master_addr}/30", "dev", f"{name}a")
        _ip("link", "set", f"{name}a", "up")
        for args in (("addr", "add", f"{host.address}/30", "dev", f"{name}b"), ("link", "set", f"{name}b", "up"),
                     ("link", "set", "lo", "up")):
            _ip("netns", "exec", name, "ip", *args)
        yield host
    finally:
        for pid in host.pids():
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        subprocess.run(["ip", "link", "del", f"{name}a"], capture_output=True)
