"""CIFAR binary files record by record: checked (whole records, labels in range), read to arrays, written."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from wrn.cifar.formats import CIFAR10, CifarFormat
from wrn.errors import DataError
from wrn.fileio import atomic_write_bytes


def check_file(path: Path, fmt: CifarFormat = CIFAR10) -> int:
    """Whole records of the format's size with every label in range; returns the record count."""
    try:
        with open(path, "rb"):
            size = path.stat().st_size
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror}); check that it is a file this user may read") \
            from None
    record = fmt.record_bytes
    if size == 0:
        raise DataError(f"{path}: empty file, expected records of {record} bytes")
    if size % record:
        raise DataError(
            f"{path}: size {size} bytes is not a whole number of {record}-byte records "
            f"({size // record} records + {size % record} stray bytes; truncated or not {fmt.title} binary)"
        )
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    for offset, (kind, classes) in enumerate(fmt.labels):
        labels = raw[offset::record]
        bad = np.flatnonzero(labels >= classes)
        if bad.size:
            name = "label" if len(fmt.labels) == 1 else f"{kind} label"
            raise DataError(f"{path}: record {bad[0]} has {name} {labels[bad[0]]}, expected 0-{classes - 1}"
                            f" ({bad.size} bad records; is it {fmt.title}?)")
    return size // record


def read_records(paths: Sequence[Path], fmt: CifarFormat = CIFAR10, label: str = "fine") -> tuple[np.ndarray,
                                                                                                   np.ndarray]:
    """Images as uint8 NHWC and the chosen labels as int32, in file order."""
    raw = np.concatenate([np.fromfile(p, dtype=np.uint8).reshape(-1, fmt.record_bytes) for p in paths])
    labels = raw[:, fmt.offset(label)].astype(np.int32)
    images = np.ascontiguousarray(raw[:, len(fmt.labels):].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return images, labels


def write_records(path: Path, images: np.ndarray, labels: np.ndarray, coarse: np.ndarray | None = None) -> None:
    """Inverse of read_records: NHWC uint8 images and labels to one binary file; with `coarse` labels, CIFAR-100's
    record layout (coarse, fine), else CIFAR-10's."""
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    label_columns = [labels.astype(np.uint8)[:, None]] if coarse is None else [coarse.astype(np.uint8)[:, None],
                                                                               labels.astype(np.uint8)[:, None]]
    atomic_write_bytes(path, np.concatenate([*label_columns, planes], axis=1).tobytes())
