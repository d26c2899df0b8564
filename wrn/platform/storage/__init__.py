"""Where data_url, train_url and checkpoints live: local paths, or obs:// (s3://) through MoXing or the OBS SDK.

One small interface (`Storage`: list, exists, download/upload of a file or a tree, in `base`) with three backends:
`LocalStorage` (`local`), `MoxingStorage` (`mox`: Huawei's MoXing, inside ModelArts images) and `ObsStorage`
(`obs_sdk`: `esdk-obs-python`, configured from the environment). `storage_for` picks one; nothing else in wrn imports
`obs` or `moxing`.
"""

from __future__ import annotations

import os
import threading

from wrn.platform.storage.base import Entry, Storage, TransferStats, partial_path
from wrn.platform.storage.local import LocalStorage
from wrn.platform.storage.mox import MoxingStorage, find_moxing
from wrn.platform.storage.obs_sdk import CREDENTIAL_VARS, ObsSettings, ObsStorage
from wrn.platform.storage.url import REMOTE_SCHEMES, RemoteUrl, StorageError, is_remote, safe_relative

__all__ = ["CREDENTIAL_VARS", "REMOTE_SCHEMES", "Entry", "LocalStorage", "MoxingStorage", "ObsSettings", "ObsStorage",
           "RemoteUrl", "Storage", "StorageError", "TransferStats", "find_moxing", "is_remote", "partial_path",
           "reset_remote_storage", "safe_relative", "storage_for"]

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
