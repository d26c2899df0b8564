"""CIFAR-10 binary data: layout and file checks, train/eval pipelines, the official download and the demo set.

Record layout (https://www.cs.toronto.edu/~kriz/cifar.html): 1 label byte, then 3,072 bytes of a 32x32 image stored
as three 1,024-byte planes R, G, B. MindSpore's `Cifar10Dataset` insists on exactly 10,000 records per file, which
rejects partial, sharded or generated sets, so files are read here and fed through `GeneratorDataset`.
"""

from __future__ import annotations

import hashlib
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from wrn.errors import DataError, WrnError

RECORD_BYTES = 1 + 3 * 32 * 32
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
EVAL_FILE = "test_batch.bin"
OFFICIAL_SUBDIR = "cifar-10-batches-bin"
OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
OFFICIAL_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
NUM_LABELS = 10


@dataclass(frozen=True)
class Layout:
    """Where the train and eval files of one data folder are."""

    root: Path
    train_files: tuple[Path, ...]
    eval_file: Path
    style: str  # "seed" (train/ + eval/), "official" (cifar-10-batches-bin/) or "flat" (six files in one folder)


def find_layout(root: Path | str) -> Layout:
    """Recognise the seed, official or flat layout and check every file, or say exactly what is wrong."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"data folder {root} does not exist")
    if not root.is_dir():
        raise DataError(f"data folder {root} is a file, expected a folder")
    if (root / "train").is_dir() or (root / "eval").is_dir():
        layout = _layout_in(root, root / "train", root / "eval", "seed")
    elif (root / OFFICIAL_SUBDIR).is_dir():
        layout = _layout_in(root, root / OFFICIAL_SUBDIR, root / OFFICIAL_SUBDIR, "official")
    elif any(root.glob("*.bin")):
        layout = _layout_in(root, root, root, "flat")
    else:
        content = sorted(p.name for p in root.iterdir())[:8]
        raise DataError(
            f"data folder {root} holds no CIFAR-10 binary files ({'empty' if not content else 'found: ' + ', '.join(content)}); "
            f"expected train/data_batch_1..5.bin + eval/{EVAL_FILE}, or {OFFICIAL_SUBDIR}/, or the six .bin files in one folder"
        )
    for path in (*layout.train_files, layout.eval_file):
        check_file(path)
    return layout


def find_eval_file(root: Path | str) -> Path:
    """The evaluation file of a folder that may hold only it (test_batch.bin, eval/test_batch.bin or the official
    cifar-10-batches-bin/test_batch.bin), checked."""
    root = Path(root)
    for candidate in (root / EVAL_FILE, root / "eval" / EVAL_FILE, root / OFFICIAL_SUBDIR / EVAL_FILE):
        if candidate.is_file():
            check_file(candidate)
            return candidate
    raise DataError(f"eval data folder {root}: no {EVAL_FILE} in it, in eval/ or in {OFFICIAL_SUBDIR}/")


def _layout_in(root: Path, train_dir: Path, eval_dir: Path, style: str) -> Layout:
    train_files = tuple(p for p in (train_dir / name for name in TRAIN_FILES) if p.is_file())
    if not train_files:
        raise DataError(f"{train_dir}: no training file found; expected {', '.join(TRAIN_FILES)} ({style} layout)")
    if style != "flat" and len(train_files) < len(TRAIN_FILES):
        # A gap (data_batch_1 and _3 without _2) is a broken copy; a prefix (only _1) is a smaller set.
        expected = tuple(train_dir / name for name in TRAIN_FILES[: len(train_files)])
        if train_files != expected:
            missing = sorted(set(expected) - set(train_files))
            raise DataError(f"{train_dir}: missing {missing[0].name} while later training files exist")
    eval_file = eval_dir / EVAL_FILE
    if not eval_file.is_file():
        raise DataError(f"{eval_dir}: missing {EVAL_FILE} ({style} layout: the evaluation split)")
    return Layout(root, train_files, eval_file, style)


def check_file(path: Path) -> int:
    """Whole records of 3,073 bytes with labels 0-9; returns the record count."""
    try:
        with open(path, "rb"):
            size = path.stat().st_size
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror}); check that it is a file this user may read") \
            from None
    if size == 0:
        raise DataError(f"{path}: empty file, expected records of {RECORD_BYTES} bytes")
    if size % RECORD_BYTES:
        raise DataError(
            f"{path}: size {size} bytes is not a whole number of {RECORD_BYTES}-byte records "
            f"({size // RECORD_BYTES} records + {size % RECORD_BYTES} stray bytes; truncated or not CIFAR-10 binary)"
        )
    labels = np.memmap(path, dtype=np.uint8, mode="r")[::RECORD_BYTES]
    bad = np.flatnonzero(labels >= NUM_LABELS)
    if bad.size:
        raise DataError(f"{path}: record {bad[0]} has label {labels[bad[0]]}, expected 0-{NUM_LABELS - 1}"
                        f" ({bad.size} bad records)")
    return size // RECORD_BYTES


def read_records(paths: Sequence[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Images as uint8 NHWC and labels as int32, in file order."""
    raw = np.concatenate([np.fromfile(p, dtype=np.uint8).reshape(-1, RECORD_BYTES) for p in paths])
    labels = raw[:, 0].astype(np.int32)
    images = np.ascontiguousarray(raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return images, labels


def write_records(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Inverse of read_records: NHWC uint8 images and labels 0-9 to one CIFAR-10 binary file."""
    from wrn.fileio import atomic_write_bytes

    planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    atomic_write_bytes(path, np.concatenate([labels.astype(np.uint8)[:, None], planes], axis=1).tobytes())


class _Records:
    """Random-access source for GeneratorDataset (so MindSpore shards and shuffles by index)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __getitem__(self, index: int):
        return self.images[index], self.labels[index]

    def __len__(self) -> int:
        return len(self.labels)


def create_dataset(layout: Layout, *, train: bool, batch_size: int, mean: Sequence[float], std: Sequence[float],
                   seed: int, num_workers: int = 2, crop_padding: int = 0, random_flip: bool = False, rank: int = 0,
                   world_size: int = 1):
    """Batched pipeline of (float32 NCHW normalised image, int32 label); `mean`/`std` per RGB channel in [0, 1].

    Training: seeded shuffle, shard `rank` of `world_size`, random crop with padding, optional flip, full batches.
    Evaluation: every image exactly once across the shards, last partial batch kept; never augmented.
    """
    import mindspore as ms
    import mindspore.dataset as ds
    import mindspore.dataset.transforms as transforms
    import mindspore.dataset.vision as vision

    images, labels = read_records(layout.train_files if train else (layout.eval_file,))
    ds.config.set_seed(seed)
    if train:
        # MindSpore's sharding gives every rank the same number of samples (so steps stay in lockstep).
        dataset = ds.GeneratorDataset(_Records(images, labels), ["image", "label"], shuffle=True,
                                      num_shards=world_size if world_size > 1 else None,
                                      shard_id=rank if world_size > 1 else None, python_multiprocessing=False)
    else:
        # A strided slice instead: each image exactly once over all ranks, none repeated to even out the shards.
        dataset = ds.GeneratorDataset(_Records(images[rank::world_size], labels[rank::world_size]),
                                      ["image", "label"], shuffle=False, python_multiprocessing=False)
    ops = []
    if train:
        ops.append(vision.RandomCrop(32, padding=crop_padding) if crop_padding else vision.RandomCrop(32))
        if random_flip:
            ops.append(vision.RandomHorizontalFlip())
    ops += [vision.Normalize([m * 255 for m in mean], [s * 255 for s in std]), vision.HWC2CHW()]
    dataset = dataset.map(ops, "image", num_parallel_workers=num_workers)
    dataset = dataset.map(transforms.TypeCast(ms.int32), "label")
    return dataset.batch(batch_size, drop_remainder=train)


# ---- official archive ---------------------------------------------------------------------------------------------

def download(dest: Path, url: str = OFFICIAL_URL, md5: str = OFFICIAL_MD5) -> Layout:
    """Fetch the official binary archive, verify its MD5 and lay it out as dest/train + dest/eval."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".download-") as tmp:
        archive = Path(tmp) / "cifar-10-binary.tar.gz"
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(archive, "wb") as out:
                digest = hashlib.md5()
                while chunk := response.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
        except OSError as exc:
            raise DataError(f"download of {url} failed: {exc}") from None
        if digest.hexdigest() != md5:
            raise DataError(f"{url}: MD5 {digest.hexdigest()} does not match the expected {md5}; nothing was written")
        members = {Path(m.name).name: m for m in _open_tar(archive, url).getmembers() if m.isfile()}
        wanted = {**{name: dest / "train" / name for name in TRAIN_FILES}, EVAL_FILE: dest / "eval" / EVAL_FILE}
        missing = sorted(set(wanted) - set(members))
        if missing:
            raise DataError(f"{url}: archive lacks {', '.join(missing)}")
        with _open_tar(archive, url) as tar:
            for name, target in wanted.items():
                data = tar.extractfile(members[name]).read()  # type: ignore[union-attr]
                staged = Path(tmp) / name
                staged.write_bytes(data)
                check_file(staged)
        for name, target in wanted.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / name).replace(target)
    return find_layout(dest)


def _open_tar(archive: Path, url: str) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, "r:gz")
    except tarfile.TarError as exc:
        raise DataError(f"{url}: not a gzip tar archive ({exc})") from None


# ---- demo data ------------------------------------------------------------------------------------------------------

def make_demo(dest: Path, eval_every: int = 5) -> Layout:
    """scikit-learn's bundled 8x8 digits (1,797 real images, no download) as a small CIFAR-10-format set.

    Images are upscaled to 32x32 (bilinear), grey copied to RGB; every `eval_every`-th image goes to eval/.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise WrnError("the demo data needs scikit-learn: pip install -e '.[demo]'") from None
    from PIL import Image

    digits = load_digits()
    grey = (digits.images * (255.0 / 16.0)).astype(np.uint8)
    big = np.stack([np.asarray(Image.fromarray(g).resize((32, 32), Image.BILINEAR)) for g in grey])
    images = np.repeat(big[..., None], 3, axis=3)
    labels = digits.target.astype(np.int32)
    is_eval = np.arange(len(labels)) % eval_every == 0
    dest = Path(dest)
    write_records(dest / "train" / TRAIN_FILES[0], images[~is_eval], labels[~is_eval])
    write_records(dest / "eval" / EVAL_FILE, images[is_eval], labels[is_eval])
    return find_layout(dest)
