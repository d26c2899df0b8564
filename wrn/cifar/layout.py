"""Where a data folder keeps its CIFAR files: the seed (train/ + eval/), official or flat layout, every file checked."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wrn.cifar.formats import CIFAR10, FORMATS, CifarFormat, cifar_format
from wrn.cifar.records import check_file
from wrn.errors import DataError


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


def check_layout(layout: Layout) -> str:
    """Check every file of a layout; one line says what the folder holds (the data command's answer)."""
    train_count = sum(check_file(p, layout.format) for p in layout.train_files)
    return (f"{layout.root}: {layout.format.name} {layout.style} layout, {train_count} training and "
            f"{check_file(layout.eval_file, layout.format)} eval images")
