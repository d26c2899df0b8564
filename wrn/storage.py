"""Where data_url, train_url and checkpoints live: local paths, or obs:// (s3://) through MoXing or the OBS SDK.

One small interface (`Storage`: list, exists, download/upload of a file or a tree) with three implementations:
`LocalStorage`, `MoxingStorage` (Huawei's MoXing, present only inside ModelArts images) and `ObsStorage`
(`esdk-obs-python`, configured from the environment). Nothing else in `wrn` imports `obs` or `moxing`.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import tempfile
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from wrn.errors import WrnError

log = logging.getLogger("wrn")

REMOTE_SCHEMES = ("obs://", "s3://")
CREDENTIAL_VARS = ("OBS_ACCESS_KEY_ID", "OBS_SECRET_ACCESS_KEY", "OBS_SECURITY_TOKEN")


class StorageError(WrnError):
    """A remote location cannot be read or written; the message names it (never a credential)."""


# ---- URLs and keys ------------------------------------------------------------------------------------------------

def is_remote(location: str | os.PathLike) -> bool:
    return str(location).lower().startswith(REMOTE_SCHEMES)


@dataclass(frozen=True)
class RemoteUrl:
    """obs://bucket/prefix (s3:// is an alias); `prefix` has no leading or trailing slash."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> "RemoteUrl":
        text = str(url)
        scheme = next((s for s in REMOTE_SCHEMES if text.lower().startswith(s)), None)
        if scheme is None:
            raise StorageError(f"{url!r} is not an obs:// or s3:// URL")
        bucket, _, prefix = text[len(scheme):].partition("/")
        if not (3 <= len(bucket) <= 63) or not all(c.islower() or c.isdigit() or c in "-." for c in bucket):
            raise StorageError(f"{url!r}: bucket name {bucket!r} is not valid (3-63 characters: a-z, 0-9, '-', '.')")
        prefix = prefix.strip("/")
        if prefix:
            safe_relative(prefix, url)
        return cls(bucket, prefix)

    def join(self, relative: str) -> "RemoteUrl":
        relative = relative.strip("/")
        return RemoteUrl(self.bucket, f"{self.prefix}/{relative}" if self.prefix and relative else self.prefix or relative)

    @property
    def key(self) -> str:
        return self.prefix

    def __str__(self) -> str:
        return f"obs://{self.bucket}/{self.prefix}"


def safe_relative(key: str, where: str | RemoteUrl) -> str:
    """Refuse keys that would land outside the target folder: '..', '.', absolute or empty segments."""
    if key.startswith("/") or "\\" in key:
        raise StorageError(f"object key {key!r} under {where}: absolute or backslash keys are refused")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise StorageError(f"object key {key!r} under {where}: '..', '.' and empty path segments are refused "
                           "(it would land outside the target folder)")
    return key


@dataclass(frozen=True)
class Entry:
    """One file below a listed location: its path relative to that location, and its size in bytes."""

    relative: str
    size: int


@dataclass
class TransferStats:
    files: int = 0
    skipped: int = 0
    bytes: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        mb = self.bytes / 1e6
        return (f"{self.files} files ({mb:.1f} MB) in {self.seconds:.1f} s, {self.skipped} already present"
                f"{f', {mb / self.seconds:.1f} MB/s' if self.seconds > 0 and mb else ''}")


# ---- the interface ------------------------------------------------------------------------------------------------

class Storage:
    """Tree transfers run `threads` file transfers at once; subclasses implement the single-file operations."""

    threads: int = 8

    def list(self, location: str) -> list[Entry]:
        raise NotImplementedError

    def exists(self, location: str) -> bool:
        raise NotImplementedError

    def download_file(self, location: str, destination: Path, size: int | None = None) -> None:
        raise NotImplementedError

    def upload_file(self, source: Path, location: str) -> None:
        raise NotImplementedError

    def join(self, location: str, relative: str) -> str:
        raise NotImplementedError

    def download_tree(self, location: str, destination: Path) -> TransferStats:
        """Copy every file below `location` into `destination`, skipping files already there with the same size."""
        started = time.perf_counter()
        stats = TransferStats()
        todo = []
        for entry in self.list(location):
            target = destination / entry.relative
            if target.is_file() and target.stat().st_size == entry.size:
                stats.skipped += 1
            else:
                todo.append(entry)
        lock = threading.Lock()

        def fetch(entry: Entry) -> None:
            self.download_file(self.join(location, entry.relative), destination / entry.relative, entry.size)
            with lock:
                stats.files += 1
                stats.bytes += entry.size

        _run_parallel(fetch, todo, self.threads)
        stats.seconds = time.perf_counter() - started
        return stats

    def upload_tree(self, source: Path, location: str, include: Callable[[str], bool] = lambda rel: True) -> TransferStats:
        """Copy every file below `source` (whose relative path passes `include`) to `location`."""
        started = time.perf_counter()
        files = [p for p in sorted(source.rglob("*")) if p.is_file()]
        todo = [(p, p.relative_to(source).as_posix()) for p in files]
        todo = [(p, rel) for p, rel in todo if include(rel)]
        stats = TransferStats()
        lock = threading.Lock()

        def send(item: tuple[Path, str]) -> None:
            path, rel = item
            size = path.stat().st_size
            self.upload_file(path, self.join(location, rel))
            with lock:
                stats.files += 1
                stats.bytes += size

        _run_parallel(send, todo, self.threads)
        stats.seconds = time.perf_counter() - started
        return stats


def _run_parallel(work: Callable[[Any], None], items: list, threads: int) -> None:
    """Run `work` over `items` on a pool; the first failure cancels what has not started and is raised."""
    if not items:
        return
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(items)))) as pool:
        futures = [pool.submit(work, item) for item in items]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in futures:
            if future.done() and not future.cancelled() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]


def _replace_into(partial: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, destination)


def partial_path(destination: Path) -> Path:
    """Where a download is written until complete: never under the final name."""
    return destination.with_name(f".{destination.name}.part")


# ---- local file system --------------------------------------------------------------------------------------------

class LocalStorage(Storage):
    def list(self, location: str) -> list[Entry]:
        root = Path(location)
        if not root.exists():
            raise StorageError(f"{root} does not exist")
        if root.is_file():
            return [Entry(root.name, root.stat().st_size)]
        return [Entry(p.relative_to(root).as_posix(), p.stat().st_size) for p in sorted(root.rglob("*")) if p.is_file()]

    def exists(self, location: str) -> bool:
        return Path(location).exists()

    def join(self, location: str, relative: str) -> str:
        return str(Path(location) / safe_relative(relative, location))

    def download_file(self, location: str, destination: Path, size: int | None = None) -> None:
        self._copy(Path(location), destination)

    def upload_file(self, source: Path, location: str) -> None:
        self._copy(source, Path(location))

    @staticmethod
    def _copy(source: Path, destination: Path) -> None:
        if not source.is_file():
            raise StorageError(f"{source} does not exist" if not source.exists() else f"{source} is not a file")
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = partial_path(destination)
        shutil.copyfile(source, partial)
        os.replace(partial, destination)


# ---- OBS through the OBS SDK --------------------------------------------------------------------------------------

class _Redactor:
    """Replaces credential values in any text that may reach a log or an exception."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: object) -> str:
        text = str(text)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        return f"_Redactor({len(self._secrets)} secrets)"


_TRANSIENT_STATUS = {408, 429}


@dataclass(frozen=True)
class ObsSettings:
    endpoint: str
    signature: str = "obs"
    path_style: bool = False
    threads: int = 8
    multipart_threshold: int = 16 * 1024 * 1024
    part_size: int = 8 * 1024 * 1024
    retries: int = 4
    backoff: float = 1.0
    sdk_retries: int = 3
    timeout: int = 60

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "ObsSettings":
        env = dict(os.environ if env is None else env)
        endpoint = env.get("OBS_ENDPOINT") or env.get("S3_ENDPOINT") or ""
        if not endpoint:
            raise StorageError("no OBS endpoint: set OBS_ENDPOINT (e.g. https://obs.cn-north-4.myhuaweicloud.com); "
                               "ModelArts sets S3_ENDPOINT")
        if "://" not in endpoint:
            secure = env.get("S3_USE_HTTPS", "1").strip().lower() not in ("0", "false", "no")
            endpoint = f"{'https' if secure else 'http'}://{endpoint}"
        signature = env.get("OBS_SIGNATURE", "obs").strip().lower()
        if signature not in ("obs", "v2", "v4"):
            raise StorageError(f"OBS_SIGNATURE={signature!r}: expected obs, v2 or v4")

        def number(name: str, default: float, kind=int):
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise StorageError(f"{name}={raw!r}: expected a {kind.__name__}") from None
            if value < 0:
                raise StorageError(f"{name}={raw!r}: expected a value >= 0")
            return value

        return cls(endpoint=endpoint, signature=signature,
                   path_style=env.get("OBS_PATH_STYLE", "").strip().lower() in ("1", "true", "yes"),
                   threads=max(1, number("WRN_STORAGE_THREADS", 8)),
                   multipart_threshold=number("WRN_MULTIPART_THRESHOLD_MB", 16) * 1024 * 1024,
                   part_size=max(5, number("WRN_PART_SIZE_MB", 8)) * 1024 * 1024,
                   retries=number("WRN_STORAGE_RETRIES", 4), backoff=number("WRN_STORAGE_BACKOFF", 1.0, float),
                   sdk_retries=number("WRN_OBS_SDK_RETRIES", 3), timeout=max(1, number("WRN_OBS_TIMEOUT", 60)))


class ObsStorage(Storage):
    """The OBS SDK with clear errors, retries with backoff on top of the SDK's own, and redacted credentials."""

    def __init__(self, settings: ObsSettings, access_key: str, secret_key: str, security_token: str = "") -> None:
        from obs import ObsClient

        if not access_key or not secret_key:
            raise StorageError("no OBS credentials: set OBS_ACCESS_KEY_ID and OBS_SECRET_ACCESS_KEY "
                               "(and OBS_SECURITY_TOKEN for temporary credentials)")
        self.settings = settings
        self.threads = settings.threads
        self._redact = _Redactor([access_key, secret_key, security_token])
        self._client = ObsClient(access_key_id=access_key, secret_access_key=secret_key,
                                 security_token=security_token or None, server=settings.endpoint,
                                 signature=settings.signature, path_style=settings.path_style,
                                 max_retry_count=settings.sdk_retries, timeout=settings.timeout)
        self._records = Path(tempfile.mkdtemp(prefix="wrn-obs-records-"))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "ObsStorage":
        env = dict(os.environ if env is None else env)
        return cls(ObsSettings.from_env(env), env.get("OBS_ACCESS_KEY_ID", ""), env.get("OBS_SECRET_ACCESS_KEY", ""),
                   env.get("OBS_SECURITY_TOKEN", ""))

    def __repr__(self) -> str:
        return f"ObsStorage(endpoint={self.settings.endpoint!r}, signature={self.settings.signature!r})"

    def join(self, location: str, relative: str) -> str:
        return str(RemoteUrl.parse(location).join(safe_relative(relative, location)))

    # Every SDK call goes through here: transient failures are retried, the rest become one clear error.
    def _call(self, what: str, url: RemoteUrl, operation: Callable[[], Any], missing_ok: bool = False) -> Any:
        attempts = self.settings.retries + 1
        last = ""
        for attempt in range(1, attempts + 1):
            try:
                response = operation()
            except Exception as exc:  # the SDK raises bare Exceptions and socket errors after its own retries
                last = f"{type(exc).__name__}: {exc}"
            else:
                status = int(getattr(response, "status", 0) or 0)
                if status < 300:
                    return response
                if status == 404 and missing_ok:
                    return None
                if status < 500 and status not in _TRANSIENT_STATUS:
                    raise StorageError(self._redact(self._http_error(what, url, response)))
                last = self._http_error(what, url, response)
            if attempt < attempts:
                delay = self.settings.backoff * 2 ** (attempt - 1) * (0.5 + random.random() / 2)
                log.warning("%s: attempt %d/%d failed (%s); retrying in %.1f s", self._redact(what), attempt,
                            attempts, self._redact(last), delay)
                time.sleep(delay)
        raise StorageError(self._redact(f"{what} failed after {attempts} attempts: {last}"))

    def _http_error(self, what: str, url: RemoteUrl, response: Any) -> str:
        status = response.status
        code = getattr(response, "errorCode", None) or ""
        message = getattr(response, "errorMessage", None) or ""
        request_id = getattr(response, "requestId", None) or "-"
        if status == 403:
            return (f"{what}: access denied (HTTP 403 {code}) to bucket {url.bucket!r}: check the credentials in "
                    f"{', '.join(CREDENTIAL_VARS)} and the bucket's permissions (request id {request_id})")
        if status == 404:
            if code == "NoSuchBucket":
                return f"{what}: bucket {url.bucket!r} does not exist (HTTP 404, endpoint {self.settings.endpoint})"
            return f"{what}: no object {url} (HTTP 404 {code})".rstrip()
        return f"{what}: HTTP {status} {code} {message} (request id {request_id})".replace("  ", " ")

    def list(self, location: str) -> list[Entry]:
        url = RemoteUrl.parse(location)
        prefix = f"{url.prefix}/" if url.prefix else ""
        entries: list[Entry] = []
        marker = None
        while True:
            response = self._call(f"listing {url}", url, lambda: self._client.listObjects(
                url.bucket, prefix=prefix or None, marker=marker, max_keys=1000))
            contents = response.body.contents or []
            for item in contents:
                relative = item.key[len(prefix):]
                if not relative or relative.endswith("/"):
                    continue  # folder placeholder objects
                entries.append(Entry(safe_relative(relative, url), int(item.size)))
            if not response.body.is_truncated or not contents:
                return entries
            marker = response.body.next_marker or contents[-1].key

    def exists(self, location: str) -> bool:
        url = RemoteUrl.parse(location)
        if url.prefix:
            found = self._call(f"checking {url}", url, lambda: self._client.getObjectMetadata(url.bucket, url.key),
                               missing_ok=True)
            if found is not None:
                return True
        response = self._call(f"listing {url}", url, lambda: self._client.listObjects(
            url.bucket, prefix=f"{url.prefix}/" if url.prefix else None, max_keys=1))
        return bool(response.body.contents)

    def download_file(self, location: str, destination: Path, size: int | None = None) -> None:
        url = RemoteUrl.parse(location)
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = partial_path(destination)
        if size is not None and size >= self.settings.multipart_threshold:
            # Ranged, parallel and resumable: the record file lets a restarted download continue.
            record = destination.with_name(f".{destination.name}.download-record")
            self._call(f"downloading {url}", url, lambda: self._client.downloadFile(
                url.bucket, url.key, downloadFile=str(partial), partSize=self.settings.part_size, taskNum=4,
                enableCheckpoint=True, checkpointFile=str(record)))
        else:
            self._call(f"downloading {url}", url, lambda: self._client.getObject(
                url.bucket, url.key, downloadPath=str(partial)))
        if size is not None and partial.stat().st_size != size:
            partial.unlink(missing_ok=True)
            raise StorageError(f"downloading {url}: got {partial.stat().st_size if partial.exists() else 0} "
                               f"bytes, expected {size}")
        _replace_into(partial, destination)

    def upload_file(self, source: Path, location: str) -> None:
        url = RemoteUrl.parse(location)
        if not url.prefix:
            raise StorageError(f"cannot upload {source} to the bucket root {location}: name an object key")
        size = source.stat().st_size
        if size >= self.settings.multipart_threshold:
            record = self._records / f"{abs(hash((str(source), str(url))))}.upload-record"
            self._call(f"uploading {source} to {url}", url, lambda: self._client.uploadFile(
                url.bucket, url.key, str(source), partSize=self.settings.part_size, taskNum=4,
                enableCheckpoint=True, checkpointFile=str(record)))
        else:
            self._call(f"uploading {source} to {url}", url, lambda: self._client.putFile(url.bucket, url.key,
                                                                                           str(source)))


# ---- OBS through MoXing (inside ModelArts) ------------------------------------------------------------------------

def find_moxing() -> Any | None:
    """Huawei's MoXing if importable and real (PyPI's unrelated `moxing` lacks mox.file.copy_parallel)."""
    try:
        import moxing  # type: ignore[import-not-found]
    except Exception:
        return None
    file_api = getattr(moxing, "file", None)
    return moxing if callable(getattr(file_api, "copy_parallel", None)) else None


class MoxingStorage(Storage):
    """MoXing already authenticates inside ModelArts and parallelises tree copies itself."""

    def __init__(self, mox: Any) -> None:
        self.mox = mox

    def __repr__(self) -> str:
        return "MoxingStorage()"

    @staticmethod
    def _obs(location: str) -> str:
        return str(RemoteUrl.parse(location)).rstrip("/")

    def join(self, location: str, relative: str) -> str:
        return str(RemoteUrl.parse(location).join(safe_relative(relative, location)))

    def _do(self, what: str, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except Exception as exc:
            raise StorageError(f"{what} through MoXing failed: {type(exc).__name__}: {exc}") from None

    def list(self, location: str) -> list[Entry]:
        """Files under `location`. MoXing's recursive listing names folders too (relative, no trailing slash):
        a name that prefixes others is a folder; any other is asked about, since an empty folder looks the same."""
        url = self._obs(location)
        if not self._do(f"checking {url}", lambda: self.mox.file.is_directory(url)):
            return []  # a single object or nothing: what list_directory does there is not documented
        names = self._do(f"listing {url}", lambda: self.mox.file.list_directory(url, recursive=True))
        parents = {"/".join(name.split("/")[:depth]) for name in names for depth in range(1, name.count("/") + 1)}
        entries = []
        for name in names:
            full = f"{url}/{name.rstrip('/')}"
            if name.endswith("/") or name in parents:
                continue
            if self._do(f"checking {full}", lambda: self.mox.file.is_directory(full)):
                continue
            size = self._do(f"reading the size of {full}", lambda: self.mox.file.get_size(full))
            entries.append(Entry(safe_relative(name, url), int(size)))
        return entries

    def exists(self, location: str) -> bool:
        url = self._obs(location)
        return bool(self._do(f"checking {url}", lambda: self.mox.file.exists(url)))

    def download_file(self, location: str, destination: Path, size: int | None = None) -> None:
        url = self._obs(location)
        partial = partial_path(destination)
        destination.parent.mkdir(parents=True, exist_ok=True)
        self._do(f"downloading {url}", lambda: self.mox.file.copy(url, str(partial)))
        _replace_into(partial, destination)

    def upload_file(self, source: Path, location: str) -> None:
        url = self._obs(location)
        self._do(f"uploading {source} to {url}", lambda: self.mox.file.copy(str(source), url))

    def download_tree(self, location: str, destination: Path) -> TransferStats:
        started = time.perf_counter()
        entries = self.list(location)  # validates every key before anything is written
        url = self._obs(location)
        self._do(f"downloading {url}", lambda: self.mox.file.copy_parallel(url, str(destination)))
        return TransferStats(files=len(entries), bytes=sum(e.size for e in entries),
                             seconds=time.perf_counter() - started)


# ---- choosing ------------------------------------------------------------------------------------------------------

_remote: Storage | None = None
_remote_lock = threading.Lock()


def storage_for(location: str | os.PathLike) -> Storage:
    """LocalStorage for paths; for obs:// and s3:// MoXing when it is really there, else the OBS SDK."""
    global _remote
    if not is_remote(location):
        return LocalStorage()
    with _remote_lock:
        if _remote is None:
            mox = find_moxing()
            _remote = MoxingStorage(mox) if mox is not None else ObsStorage.from_env()
        return _remote


def reset_remote_storage() -> None:
    """Forget the chosen remote backend (the environment changed, e.g. in tests)."""
    global _remote
    with _remote_lock:
        _remote = None
