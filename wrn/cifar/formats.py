"""The CIFAR-10 and CIFAR-100 binary formats (https://www.cs.toronto.edu/~kriz/cifar.html): the one owner of each
data set's label kinds, class counts, file names and official archive.

CIFAR-10 records: 1 label byte then 3,072 bytes of a 32x32 image as three 1,024-byte planes R, G, B; CIFAR-100: 1
coarse-label byte (20 classes), 1 fine-label byte (100 classes), then the same 3,072 bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from wrn.errors import DataError

IMAGE_BYTES = 3 * 32 * 32


@dataclass(frozen=True)
class CifarFormat:
    """One of the two binary formats: its label bytes (in record order), file names, official folder and archive."""

    name: str
    title: str
    labels: tuple[tuple[str, int], ...]  # (label kind, classes) per label byte
    train_files: tuple[str, ...]
    eval_file: str
    official_subdir: str
    url: str
    md5: str

    @property
    def record_bytes(self) -> int:
        return len(self.labels) + IMAGE_BYTES

    @property
    def label_kinds(self) -> tuple[str, ...]:
        return tuple(kind for kind, _ in self.labels)

    def classes(self, label: str) -> int:
        return dict(self.labels)[label]

    def offset(self, label: str) -> int:
        return self.label_kinds.index(label)


CIFAR10 = CifarFormat("cifar10", "CIFAR-10", (("fine", 10),), tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin",
                      "cifar-10-batches-bin", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                      "c32a1d4ab5d03f1284b67883e8d87530")
CIFAR100 = CifarFormat("cifar100", "CIFAR-100", (("coarse", 20), ("fine", 100)), ("train.bin",), "test.bin", "cifar-100-binary",
                       "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8")
FORMATS = {f.name: f for f in (CIFAR10, CIFAR100)}
# CIFAR-10's names, as most callers and the ModelZoo know them.
RECORD_BYTES = CIFAR10.record_bytes
TRAIN_FILES = CIFAR10.train_files
EVAL_FILE = CIFAR10.eval_file


def cifar_format(dataset: str) -> CifarFormat:
    if dataset not in FORMATS:
        raise DataError(f"dataset {dataset!r}: expected one of {', '.join(FORMATS)}")
    return FORMATS[dataset]


def dataset_classes(dataset: object, label: object) -> int:
    """Classes of a dataset's label kind (0 for an unknown combination, which validation then names)."""
    fmt = FORMATS.get(str(dataset))
    return dict(fmt.labels).get(str(label), 0) if fmt else 0
