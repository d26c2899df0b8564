"""One writer per run directory: a claim object in train_url, local or obs://, held while a training runs.

Each process that would write a run writes its own claim, `<train_url>/.wrn-claims/<host>-<pid>-<start>.json`
(host, pid and its start time, launch id, start and heartbeat times), then lists the claims. A claim is stale when its process is gone (same host) or its
heartbeat is older than WRN_CLAIM_STALE seconds (default 300; a background thread renews it every
WRN_CLAIM_HEARTBEAT = 60 s). Among live claims the earliest wins; the others withdraw theirs and stop with an error
naming the holder. A holder on another host (a job that ModelArts restarts runs in a new container) is waited for
until its claim goes stale. Object stores have no atomic create-if-absent that every backend offers, so the claim is
a unique object per launch: the comparison, not the write, decides.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from wrn.errors import RunDirError
from wrn.platform.runtime import launch_id, process_start_ticks
from wrn.platform.storage import Storage, StorageError
from wrn.platform.storage.local import LocalStorage
from wrn.values import env_number

log = logging.getLogger("wrn")
CLAIMS = ".wrn-claims"


@dataclass(frozen=True)
class Claim:
    launch: str
    host: str
    pid: int
    pid_start: str
    started: float
    heartbeat: float

    def file_name(self) -> str:
        # Per process, not per launch: two trainings started from one shell share a launch id.
        return f"{self.host}-{self.pid}-{self.pid_start}.json"

    @classmethod
    def parse(cls, text: str) -> "Claim":
        """A claim file's content, every field present, of its type and not empty; else ValueError naming it."""
        values = json.loads(text)
        if not isinstance(values, dict):
            raise ValueError(f"a JSON {type(values).__name__}, not an object")
        for name, kind in _FIELD_KINDS.items():
            value = values.get(name)
            if value is None:
                raise ValueError(f"no field {name!r}")
            if isinstance(value, bool) or not isinstance(value, kind) or value in ("", 0):
                raise ValueError(f"field {name!r} is {value!r}")
        return cls(**{name: values[name] for name in _FIELD_KINDS})

    def describe(self) -> str:
        return (f"pid {self.pid} on host {self.host} (launch {self.launch}, since "
                f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(self.started))})")


_FIELD_KINDS: dict[str, type | tuple[type, ...]] = {"launch": str, "host": str, "pid": int, "pid_start": str,
                                                    "started": (int, float), "heartbeat": (int, float)}


class RunClaim:
    def __init__(self, storage: Storage, run_location: str, env: dict | None = None) -> None:
        env = dict(os.environ if env is None else env)
        self.storage, self.folder = storage, storage.join(run_location, CLAIMS)
        self.heartbeat_s = env_number(env, "WRN_CLAIM_HEARTBEAT", 60.0, float, minimum=0.01, error=RunDirError)
        self.stale_s = env_number(env, "WRN_CLAIM_STALE", 300.0, float, minimum=0.01, error=RunDirError)
        now = time.time()
        self.mine = Claim(launch=launch_id(), host=socket.gethostname(), pid=os.getpid(),
                          pid_start=process_start_ticks(os.getpid()), started=now, heartbeat=now)
        self.location = storage.join(self.folder, self.mine.file_name())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> "RunClaim":
        self._check_folder()
        self._put(self.mine)
        deadline = time.monotonic() + self.stale_s + self.heartbeat_s
        while True:
            live = [c for c in self._others() if not self._stale(c)]
            holder = min([self.mine, *live], key=lambda c: (c.started, c.file_name()))
            if holder == self.mine:
                break
            if holder.host == self.mine.host or time.monotonic() >= deadline:
                self._withdraw()
                raise RunDirError(f"train_url {self.folder.rsplit('/', 1)[0]} is in use by {holder.describe()}: "
                                  f"one training per run directory; {self._advice(holder)}")
            log.info("waiting for the claim of %s to go stale", holder.describe())
            time.sleep(min(self.heartbeat_s, 5.0))
        for stale in self._others():
            log.warning("taking over train_url from a stale claim: %s", stale.describe())
            self.storage.delete(self.storage.join(self.folder, stale.file_name()))
        self._thread = threading.Thread(target=self._beat, name="wrn-claim", daemon=True)
        self._thread.start()
        return self

    def _advice(self, holder: Claim) -> str:
        """What can free the folder: on this host the claim lives exactly as long as its process."""
        if holder.host == self.mine.host:
            return f"that process is running on this host: wait for it to end or stop it (kill {holder.pid})"
        return (f"if that run is gone, its claim goes stale after {self.stale_s:.0f} s without a heartbeat "
                f"(WRN_CLAIM_STALE), or delete {self.storage.join(self.folder, holder.file_name())}")

    def _check_folder(self) -> None:
        """`.wrn-claims` must be a folder (an object store has only prefixes; a local path may be a file)."""
        if isinstance(self.storage, LocalStorage) and Path(self.folder).exists() and not Path(self.folder).is_dir():
            raise RunDirError(f"{self.folder} is not a folder: this package keeps the run claims of train_url "
                              f"{Path(self.folder).parent} there; remove or rename it")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._withdraw()

    def _withdraw(self) -> None:
        try:
            self.storage.delete(self.location)
        except StorageError as exc:  # the claim goes stale by itself; the run's own outcome matters more
            log.warning("could not remove the run claim %s: %s", self.location, exc)
        if isinstance(self.storage, LocalStorage):  # an object store has no folders to leave behind
            try:
                Path(self.folder).rmdir()
            except OSError:
                pass  # another run's claim is in it

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                self._put(Claim(**{**asdict(self.mine), "heartbeat": time.time()}))
            except StorageError as exc:
                log.warning("run claim heartbeat failed (will retry): %s", exc)

    def _stale(self, claim: Claim) -> bool:
        if claim.host == self.mine.host:
            return process_start_ticks(claim.pid) != claim.pid_start  # gone, or its pid reused
        return time.time() - claim.heartbeat > self.stale_s

    def _others(self) -> list[Claim]:
        if not self.storage.exists(self.folder):
            return []
        claims = []
        with tempfile.TemporaryDirectory(prefix="wrn-claims-") as scratch:
            for entry in self.storage.list(self.folder):
                if entry.relative == self.mine.file_name() or not entry.relative.endswith(".json"):
                    continue
                local = Path(scratch) / "claim.json"
                location = self.storage.join(self.folder, entry.relative)
                try:
                    self.storage.download_file(location, local)
                    text = local.read_text(encoding="utf-8", errors="replace")
                except StorageError:
                    continue  # withdrawn while listed
                try:
                    claims.append(Claim.parse(text))
                except ValueError as exc:
                    # Claims are written whole (a temp file renamed, or one object): a damaged one names no process
                    # that could ever renew or release it, so it would block the folder for good.
                    log.warning("removing the damaged run claim %s (%s): it names no process that holds the run",
                                location, str(exc)[:200])
                    self.storage.delete(location)
        return claims

    def _put(self, claim: Claim) -> None:
        with tempfile.TemporaryDirectory(prefix="wrn-claim-") as scratch:
            local = Path(scratch) / "claim.json"
            local.write_text(json.dumps(asdict(claim)))
            self.storage.upload_file(local, self.location)
