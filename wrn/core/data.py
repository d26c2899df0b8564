"""CIFAR-10 and CIFAR-100 binary data: layout and file checks, train/eval pipelines, the official downloads and the
demo set.

Record layouts (https://www.cs.toronto.edu/~kriz/cifar.html): CIFAR-10, 1 label byte then 3,072 bytes of a 32x32
image as three 1,024-byte planes R, G, B; CIFAR-100, 1 coarse-label byte (20 classes), 1 fine-label byte (100
classes), then the same 3,072 bytes. MindSpore's `Cifar10Dataset`/`Cifar100Dataset` insist on the official file
sizes, which rejects partial, sharded or generated sets, so files are read here and fed through `GeneratorDataset`.
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


@dataclass(frozen=True)
class Layout:
    """Where the train and eval files of one data folder are, in which format, and which label is read."""

    root: Path
    train_files: tuple[Path, ...]
    eval_file: Path
    style: str  # "seed" (train/ + eval/), "official" (the archive's folder) or "flat" (every file in one folder)
    format: CifarFormat = CIFAR10
    label: str = "fine"


def find_layout(root: Path | str, dataset: str = "cifar10", label: str = "fine") -> Layout:
    """Recognise the seed, official or flat layout of `dataset` and check every file, or say exactly what is wrong."""
    root, fmt = Path(root), cifar_format(dataset)
    if not root.exists():
        raise DataError(f"data folder {root} does not exist")
    if not root.is_dir():
        raise DataError(f"data folder {root} is a file, expected a folder")
    if (root / "train").is_dir() or (root / "eval").is_dir():
        layout = _layout_in(root, root / "train", root / "eval", "seed", fmt, label)
    elif (root / fmt.official_subdir).is_dir():
        layout = _layout_in(root, root / fmt.official_subdir, root / fmt.official_subdir, "official", fmt, label)
    elif any(root.glob("*.bin")):
        layout = _layout_in(root, root, root, "flat", fmt, label)
    else:
        _refuse_other_format(root, fmt)
        content = sorted(p.name for p in root.iterdir())[:8]
        train_hint = "data_batch_1..5.bin" if len(fmt.train_files) > 1 else fmt.train_files[0]
        count = {2: "two", 6: "six"}.get(len(fmt.train_files) + 1, str(len(fmt.train_files) + 1))
        raise DataError(
            f"data folder {root} holds no {fmt.title} binary files ({'empty' if not content else 'found: ' + ', '.join(content)}); "
            f"expected train/{train_hint} + eval/{fmt.eval_file}, or {fmt.official_subdir}/, or the {count} .bin files "
            "in one folder"
        )
    for path in (*layout.train_files, layout.eval_file):
        check_file(path, fmt)
    return layout


def find_eval_file(root: Path | str, dataset: str = "cifar10") -> Path:
    """The evaluation file of a folder that may hold only it (directly, in eval/ or in the official folder), checked."""
    root, fmt = Path(root), cifar_format(dataset)
    for candidate in (root / fmt.eval_file, root / "eval" / fmt.eval_file, root / fmt.official_subdir / fmt.eval_file):
        if candidate.is_file():
            check_file(candidate, fmt)
            return candidate
    raise DataError(f"eval data folder {root}: no {fmt.eval_file} in it, in eval/ or in {fmt.official_subdir}/")


def _refuse_other_format(folder: Path, fmt: CifarFormat) -> None:
    """A folder of the other format is a config mistake: name both."""
    for other in FORMATS.values():
        found = [p.name for p in folder.rglob("*.bin") if p.name in (*other.train_files, other.eval_file)]
        if other is not fmt and found:
            raise DataError(f"data folder {folder} holds {other.name} files ({', '.join(sorted(found)[:3])}), but the "
                            f"config's dataset is {fmt.name}: set dataset={other.name} (num_classes follows it)")


def _layout_in(root: Path, train_dir: Path, eval_dir: Path, style: str, fmt: CifarFormat, label: str) -> Layout:
    if label not in fmt.label_kinds:
        raise DataError(f"label {label!r}: {fmt.name} has {' and '.join(fmt.label_kinds)} labels")
    train_files = tuple(p for p in (train_dir / name for name in fmt.train_files) if p.is_file())
    if not train_files:
        _refuse_other_format(root, fmt)
        raise DataError(f"{train_dir}: no training file found; expected {', '.join(fmt.train_files)} ({style} layout)")
    if style != "flat" and len(train_files) < len(fmt.train_files):
        # A gap (data_batch_1 and _3 without _2) is a broken copy; a prefix (only _1) is a smaller set.
        expected = tuple(train_dir / name for name in fmt.train_files[: len(train_files)])
        if train_files != expected:
            missing = sorted(set(expected) - set(train_files))
            raise DataError(f"{train_dir}: missing {missing[0].name} while later training files exist")
    eval_file = eval_dir / fmt.eval_file
    if not eval_file.is_file():
        raise DataError(f"{eval_dir}: missing {fmt.eval_file} ({style} layout: the evaluation split)")
    return Layout(root, train_files, eval_file, style, fmt, label)


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


def check_layout(layout: Layout) -> str:
    """Check every file of a layout; one line says what the folder holds (the data command's answer)."""
    train_count = sum(check_file(p, layout.format) for p in layout.train_files)
    return (f"{layout.root}: {layout.format.name} {layout.style} layout, {train_count} training and "
            f"{check_file(layout.eval_file, layout.format)} eval images")


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
    from wrn.fileio import atomic_write_bytes

    planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    label_columns = [labels.astype(np.uint8)[:, None]] if coarse is None else [coarse.astype(np.uint8)[:, None],
                                                                               labels.astype(np.uint8)[:, None]]
    atomic_write_bytes(path, np.concatenate([*label_columns, planes], axis=1).tobytes())


class _Records:
    """Random-access source for GeneratorDataset (so MindSpore shards and shuffles by index)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __getitem__(self, index: int):
        return self.images[index], self.labels[index]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Augmentation:
    """Training-time augmentations, each off unless set; all built on MindSpore's own dataset ops."""

    crop_padding: int = 0  # RandomCrop(32, padding); 0: no crop
    crop_padding_mode: str = "constant"  # "constant" (zeros) or "reflect" (the paper's)
    random_flip: bool = False  # RandomHorizontalFlip
    autoaugment: str = "none"  # "cifar10": AutoAugment(AutoAugmentPolicy.CIFAR10); "randaugment": RandAugment()
    cutout: int = 0  # CutOut(length) on the normalised image (DeVries & Taylor, 2017); 0: off
    mixup: float = 0.0  # MixUpBatch(alpha); 0: off
    cutmix: float = 0.0  # CutMixBatch(alpha); 0: off
    mix_probability: float = 1.0  # of mixing a batch (when both are on, each batch picks one)

    @property
    def mixes(self) -> bool:
        return self.mixup > 0 or self.cutmix > 0


def create_dataset(layout: Layout, *, train: bool, batch_size: int, num_classes: int, mean: Sequence[float],
                   std: Sequence[float], seed: int, num_workers: int = 2, augmentation: Augmentation = Augmentation(),
                   rank: int = 0, world_size: int = 1):
    """Batched pipeline of (float32 NCHW normalised image, label); `mean`/`std` per RGB channel in [0, 1]. Labels
    are int32 class indices, or float32 class probabilities [B, classes] when training mixes batches.

    Every label must be below `num_classes` (all of the format's classes, or fewer for a subset).
    Training: seeded shuffle, shard `rank` of `world_size`, `augmentation`, full batches.
    Evaluation: every image exactly once across the shards, last partial batch kept; never augmented.
    """
    import mindspore as ms
    import mindspore.dataset as ds
    import mindspore.dataset.transforms as transforms
    import mindspore.dataset.vision as vision

    files = layout.train_files if train else (layout.eval_file,)
    images, labels = read_records(files, layout.format, layout.label)
    if len(labels) and labels.max() >= num_classes:  # the loss would read past the classifier without a word
        index = int(np.argmax(labels >= num_classes))
        sizes = np.cumsum([p.stat().st_size // layout.format.record_bytes for p in files])
        file = files[int(np.searchsorted(sizes, index, side="right"))]
        raise DataError(f"{file}: holds label {labels[index]} ({layout.label}), expected labels below num_classes "
                        f"{num_classes}; set num_classes to the data's classes")
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
    aug = augmentation if train else Augmentation()
    ops: list = []
    if aug.crop_padding:
        mode = vision.Border.REFLECT if aug.crop_padding_mode == "reflect" else vision.Border.CONSTANT
        ops.append(vision.RandomCrop(32, padding=aug.crop_padding, padding_mode=mode))
    if aug.random_flip:
        ops.append(vision.RandomHorizontalFlip())
    if aug.autoaugment == "cifar10":
        ops.append(vision.AutoAugment(vision.AutoAugmentPolicy.CIFAR10))
    elif aug.autoaugment == "randaugment":
        ops.append(vision.RandAugment())
    ops.append(vision.Normalize([m * 255 for m in mean], [s * 255 for s in std]))
    if aug.cutout:
        ops.append(vision.CutOut(aug.cutout, num_patches=1))
    ops.append(vision.HWC2CHW())
    dataset = dataset.map(ops, "image", num_parallel_workers=num_workers)
    if not aug.mixes:
        dataset = dataset.map(transforms.TypeCast(ms.int32), "label")
        return dataset.batch(batch_size, drop_remainder=train)
    dataset = dataset.map([transforms.OneHot(num_classes), transforms.TypeCast(ms.float32)], "label")
    dataset = dataset.batch(batch_size, drop_remainder=True)
    mixers = ([vision.MixUpBatch(aug.mixup)] if aug.mixup > 0 else []) + (
        [vision.CutMixBatch(vision.ImageBatchFormat.NCHW, aug.cutmix, 1.0)] if aug.cutmix > 0 else [])
    mixer = mixers[0] if len(mixers) == 1 else transforms.RandomChoice(mixers)
    if aug.mix_probability < 1:
        mixer = transforms.RandomApply([mixer], prob=aug.mix_probability)
    return dataset.map(mixer, ["image", "label"])


# ---- official archive ---------------------------------------------------------------------------------------------

def download(dest: Path, url: str | None = None, md5: str | None = None, dataset: str = "cifar10") -> Layout:
    """Fetch the official binary archive of `dataset` (or `url`, a mirror), verify its MD5 and lay it out as
    dest/train + dest/eval."""
    dest, fmt = Path(dest), cifar_format(dataset)
    url, md5 = url or fmt.url, md5 or fmt.md5
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".download-") as tmp:
        archive = Path(tmp) / url.rsplit("/", 1)[-1]
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
        wanted = {**{name: dest / "train" / name for name in fmt.train_files}, fmt.eval_file: dest / "eval" / fmt.eval_file}
        missing = sorted(set(wanted) - set(members))
        if missing:
            raise DataError(f"{url}: archive lacks {', '.join(missing)}")
        with _open_tar(archive, url) as tar:
            for name, target in wanted.items():
                data = tar.extractfile(members[name]).read()  # type: ignore[union-attr]
                staged = Path(tmp) / name
                staged.write_bytes(data)
                check_file(staged, fmt)
        for name, target in wanted.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / name).replace(target)
    return find_layout(dest, dataset)


def _open_tar(archive: Path, url: str) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, "r:gz")
    except tarfile.TarError as exc:
        raise DataError(f"{url}: not a gzip tar archive ({exc})") from None


# ---- demo data ------------------------------------------------------------------------------------------------------

def make_demo(dest: Path, eval_every: int = 5, dataset: str = "cifar10") -> Layout:
    """scikit-learn's bundled 8x8 digits (1,797 real images, no download) as a small set in `dataset`'s format.

    Images are upscaled to 32x32 (bilinear), grey copied to RGB; every `eval_every`-th image goes to eval/. As
    CIFAR-100 the digit is the fine label and digit // 5 the coarse one.
    """
    fmt = cifar_format(dataset)
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
    coarse = labels // 5 if fmt is CIFAR100 else None
    for folder, name, chosen in (("train", fmt.train_files[0], ~is_eval), ("eval", fmt.eval_file, is_eval)):
        write_records(dest / folder / name, images[chosen], labels[chosen],
                      None if coarse is None else coarse[chosen])
    return find_layout(dest, dataset)
