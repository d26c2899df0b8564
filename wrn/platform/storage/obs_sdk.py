"""OBS through Huawei's OBS SDK (`esdk-obs-python`), configured from the environment, outside ModelArts.

Clear errors (403 names the credential variables, 404 the bucket or key), retries with jittered backoff on top of
the SDK's own, resumable multipart transfers of large files, and credentials redacted from every message.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from wrn.platform.redact import Redactor
from wrn.values import env_bool, env_number
from wrn.platform.storage.base import Entry, Storage, partial_path, replace_into
from wrn.platform.storage.url import RemoteUrl, StorageError, safe_relative

log = logging.getLogger("wrn")

CREDENTIAL_VARS = ("OBS_ACCESS_KEY_ID", "OBS_SECRET_ACCESS_KEY", "OBS_SECURITY_TOKEN")
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
            secure = env_bool(env, "S3_USE_HTTPS", True, StorageError)
            endpoint = f"{'https' if secure else 'http'}://{endpoint}"
        signature = env.get("OBS_SIGNATURE", "obs").strip().lower()
        if signature not in ("obs", "v2", "v4"):
            raise StorageError(f"OBS_SIGNATURE={signature!r}: expected obs, v2 or v4")

        def number(name: str, default, kind=int):
            return env_number(env, name, default, kind, minimum=0, error=StorageError)

        return cls(endpoint=endpoint, signature=signature,
                   path_style=env_bool(env, "OBS_PATH_STYLE", False, StorageError),
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
        self._redact = Redactor([access_key, secret_key, security_token])
        self._client = ObsClient(access_key_id=access_key, secret_access_key=secret_key,
                                 security_token=security_token or None, server=settings.endpoint,
                                 signature=settings.signature, path_style=settings.path_style,
                                 max_retry_count=settings.sdk_retries, timeout=settings.timeout)
        # Resumable-transfer records, one per (file, object): a fixed folder, so processes share it and none piles up.
        self._records = Path(tempfile.gettempdir()) / "wrn-obs-records"
        self._records.mkdir(parents=True, exist_ok=True)

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
                entries.append(Entry(safe_relative(relative, url), int(item.size), str(item.etag or "").strip('"')))
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
        replace_into(partial, destination)

    def upload_file(self, source: Path, location: str) -> None:
        url = RemoteUrl.parse(location)
        if not url.prefix:
            raise StorageError(f"cannot upload {source} to the bucket root {location}: name an object key")
        size = source.stat().st_size
        if size >= self.settings.multipart_threshold:
            record = self._records / f"{hashlib.sha256(f'{source} {url}'.encode()).hexdigest()[:24]}.upload-record"
            self._call(f"uploading {source} to {url}", url, lambda: self._client.uploadFile(
                url.bucket, url.key, str(source), partSize=self.settings.part_size, taskNum=4,
                enableCheckpoint=True, checkpointFile=str(record)))
        else:
            self._call(f"uploading {source} to {url}", url, lambda: self._client.putFile(url.bucket, url.key,
                                                                                           str(source)))

    def delete(self, location: str) -> None:
        url = RemoteUrl.parse(location)
        self._call(f"deleting {url}", url, lambda: self._client.deleteObject(url.bucket, url.key), missing_ok=True)
