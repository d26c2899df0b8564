"""`mox.file` over a local folder that plays OBS. Each behaviour names the Huawei Cloud page it comes from:

[ops]  ModelArts "Sample Code for Common MoXing Operations" (MoXing常用操作的样例代码),
       support.huaweicloud.com/usermanual-standard-modelarts/modelarts_11_0005.html
[size] ModelArts troubleshooting "Failed to Access a Folder Using MoXing and Read the Folder Size Using get_size",
       support.huaweicloud.com/intl/en-us/trouble-modelarts/modelarts_13_0038.html

Where the pages are silent (the exception raised for a missing source) the stand-in raises what the local file
system raises (FileNotFoundError, an OSError); wrn's MoXing backend wraps any exception, so the type does not matter.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

_SCHEMES = ("obs://", "s3://")


def _local(path: str) -> Path:
    """obs://bucket/key -> $MOXING_STANDIN_ROOT/bucket/key; local paths stay as they are ([ops]: every function
    takes OBS URLs and local paths alike)."""
    text = str(path)
    for scheme in _SCHEMES:
        if text.lower().startswith(scheme):
            root = os.environ.get("MOXING_STANDIN_ROOT")
            if not root:
                raise RuntimeError("MOXING_STANDIN_ROOT is not set (the folder that plays OBS for the stand-in)")
            return Path(root) / text[len(scheme):].strip("/")
    return Path(text)


def _require(path: Path, original: str) -> None:
    if not path.exists():
        raise FileNotFoundError(f"{original} does not exist")


def copy(src_url: str, dst_url: str) -> None:
    """[ops] copy one file: OBS to local, local to OBS, or OBS to OBS; the destination is overwritten."""
    src, dst = _local(src_url), _local(dst_url)
    _require(src, src_url)
    if src.is_dir():
        raise IsADirectoryError(f"{src_url} is a folder: mox.file.copy copies files, copy_parallel copies folders")
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def copy_parallel(src_url: str, dst_url: str) -> None:
    """[ops] copy a folder and everything below it into dst_url (created if needed; existing files overwritten)."""
    src, dst = _local(src_url), _local(dst_url)
    _require(src, src_url)
    shutil.copytree(src, dst, dirs_exist_ok=True)


def list_directory(url: str, recursive: bool = False) -> list[str]:
    """[ops] names relative to `url`: only the top level by default (['dir0', 'file1']); with recursive=True every
    file and folder below it (['dir0', 'dir0/file00', 'file1']): folders are listed too, without a trailing slash."""
    root = _local(url)
    _require(root, url)
    if not recursive:
        return sorted(p.name for p in root.iterdir())
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def exists(url: str) -> bool:
    """[ops] whether a file or folder exists."""
    return _local(url).exists()


def is_directory(url: str) -> bool:
    """[ops] whether the path is a folder (False for a file and for nothing at all)."""
    return _local(url).is_dir()


def get_size(url: str, recursive: bool = False) -> int:
    """[size] a file's size in bytes; a folder's total only with recursive=True, else 0."""
    path = _local(url)
    _require(path, url)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if recursive else 0
    return path.stat().st_size


def make_dirs(url: str) -> None:
    """[ops] create a folder and its parents (no error when it exists)."""
    _local(url).mkdir(parents=True, exist_ok=True)


def remove(url: str, recursive: bool = False) -> None:
    """[ops] delete a file, or a folder with recursive=True; a folder without it is an error."""
    path = _local(url)
    _require(path, url)
    if path.is_dir():
        if not recursive:
            raise IsADirectoryError(f"{url} is a folder: pass recursive=True to remove it")
        shutil.rmtree(path)
    else:
        path.unlink()
