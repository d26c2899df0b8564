"""Where CIFAR data comes from besides the user's folder: the official archives, and a small demo set made from
scikit-learn's bundled digits (no download)."""

from __future__ import annotations

import hashlib
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from wrn.cifar.formats import CIFAR100, cifar_format
from wrn.cifar.layout import Layout, find_layout
from wrn.cifar.records import check_file, write_records
from wrn.errors import DataError, WrnError


def download(dest: Path, url: str | None = None, md5: str | None = None, dataset: str = "cifar10") -> Layout:
    """Fetch the official binary archive of `dataset` (or `url`, a mirror), verify its MD5 and lay it out as
    dest/train + dest/eval."""
    import urllib.request  # here, not at the top: every config load imports this package, few ever download

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
