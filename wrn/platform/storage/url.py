"""obs:// (s3://) URLs and object keys that cannot escape their folder."""

from __future__ import annotations

import os
from dataclasses import dataclass

from wrn.errors import WrnError

REMOTE_SCHEMES = ("obs://", "s3://")


class StorageError(WrnError):
    """A remote location cannot be read or written; the message names it (never a credential)."""


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
