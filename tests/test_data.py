import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from conftest import make_cifar, run_cli
from wrn.cifar import EVAL_FILE, RECORD_BYTES, download, find_layout, make_demo, read_records, write_records
from wrn.errors import DataError
from wrn.builder.build import build_dataset


@pytest.mark.parametrize("layout", ["seed", "official", "flat"])
def test_layouts_are_recognised(tmp_path: Path, layout):
    root = make_cifar(tmp_path, train_sizes=(20, 20, 20, 20, 20), eval_size=10, layout=layout)
    found = find_layout(root)
    assert found.style == layout
    assert [p.name for p in found.train_files] == [f"data_batch_{i}.bin" for i in range(1, 6)]
    assert found.eval_file.name == EVAL_FILE


def test_records_round_trip(tmp_path: Path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    labels = np.array([0, 9, 3, 3, 1], dtype=np.int32)
    write_records(tmp_path / "x.bin", images, labels)
    raw = (tmp_path / "x.bin").read_bytes()
    assert len(raw) == 5 * RECORD_BYTES and raw[RECORD_BYTES] == 9
    assert raw[1:1025] == images[0, :, :, 0].tobytes()  # the R plane comes first
    got_images, got_labels = read_records([tmp_path / "x.bin"])
    assert np.array_equal(got_images, images) and np.array_equal(got_labels, labels)


def _corrupt(root: Path, how: str) -> str:
    target = root / "train" / "data_batch_1.bin"
    data = bytearray(target.read_bytes())
    if how == "truncated":
        target.write_bytes(data[:-100])
        return "is not a whole number of 3073-byte records"
    if how == "oversized":
        target.write_bytes(bytes(data) + b"\0" * 7)
        return "+ 7 stray bytes"
    if how == "label":
        data[2 * RECORD_BYTES] = 10
        target.write_bytes(bytes(data))
        return "record 2 has label 10, expected 0-9"
    if how == "empty":
        target.write_bytes(b"")
        return "empty file"
    if how == "no eval":
        (root / "eval" / EVAL_FILE).unlink()
        return f"missing {EVAL_FILE}"
    if how == "gap":
        write_records(root / "train" / "data_batch_3.bin", np.zeros((2, 32, 32, 3), np.uint8), np.zeros(2, np.int32))
        return "missing data_batch_2.bin while later training files exist"
    if how == "no train":
        target.unlink()
        return "no training file found"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["truncated", "oversized", "label", "empty", "no eval", "gap", "no train"])
def test_each_bad_file_gets_its_own_error(tmp_path: Path, how):
    root = make_cifar(tmp_path / "d")
    message = _corrupt(root, how)
    with pytest.raises(DataError) as err:
        find_layout(root)
    assert message in str(err.value)
    assert str(root) in str(err.value)


def test_missing_and_empty_folders(tmp_path: Path):
    with pytest.raises(DataError, match="does not exist"):
        find_layout(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no CIFAR-10 binary files \\(empty\\)"):
        find_layout(tmp_path / "empty")


def _indexed_eval_set(root: Path, count: int) -> None:
    """Eval images that carry their own index in the first two pixels, to count each image exactly once."""
    images = np.zeros((count, 32, 32, 3), np.uint8)
    images[:, 0, 0, 0] = np.arange(count) // 256
    images[:, 0, 1, 0] = np.arange(count) % 256
    write_records(root / "eval" / EVAL_FILE, images, np.arange(count, dtype=np.int32) % 10)


def test_eval_pipeline_counts_every_image_once(tmp_path: Path, tiny_cfg):
    root = make_cifar(tmp_path / "d")
    _indexed_eval_set(root, 103)
    cfg = tiny_cfg(eval_batch_size=10, mean=[0, 0, 0], std=[1, 1, 1])
    batches = list(build_dataset(cfg, find_layout(root), train=False).create_tuple_iterator(output_numpy=True))
    assert [len(b[1]) for b in batches] == [10] * 10 + [3]  # the last partial batch is kept
    images = np.concatenate([b[0] for b in batches])
    assert images.dtype == np.float32 and images.shape == (103, 3, 32, 32)
    indices = np.rint(images[:, 0, 0, 0] * 255).astype(int) * 256 + np.rint(images[:, 0, 0, 1] * 255).astype(int)
    assert sorted(indices) == list(range(103))
    assert batches[0][1].dtype == np.int32


def test_train_pipeline_shapes_normalisation_sharding_and_seeded_shuffle(tmp_path: Path, tiny_cfg):
    root = make_cifar(tmp_path / "d", train_sizes=(64,))
    layout = find_layout(root)
    cfg = tiny_cfg(batch_size=8)

    def labels(rank=0, world=1, seed=1):
        data = build_dataset(tiny_cfg(batch_size=8, seed=seed), layout, train=True, rank=rank, world_size=world)
        return np.concatenate([b[1] for b in data.create_tuple_iterator(output_numpy=True)])

    batch = next(build_dataset(cfg, layout, train=True).create_tuple_iterator(output_numpy=True))
    assert batch[0].shape == (8, 3, 32, 32) and batch[0].dtype == np.float32 and batch[1].dtype == np.int32
    assert abs(batch[0].mean()) < 3  # normalised, not raw 0-255
    assert np.array_equal(labels(seed=3), labels(seed=3))
    halves = [labels(rank, 2) for rank in (0, 1)]
    assert len(halves[0]) == len(halves[1]) == 32
    all_labels = read_records(layout.train_files)[1]
    assert sorted(np.concatenate(halves)) == sorted(all_labels)


def test_random_crop_pads_and_flip_is_optional(tmp_path: Path, tiny_cfg):
    root = make_cifar(tmp_path / "d", train_sizes=(32,))
    layout = find_layout(root)
    plain = tiny_cfg(batch_size=32, crop_padding=0, random_flip=False, mean=[0, 0, 0], std=[1, 1, 1])
    images = next(build_dataset(plain, layout, train=True).create_tuple_iterator(output_numpy=True))[0]
    originals = read_records(layout.train_files)[0].transpose(0, 3, 1, 2) / 255.0
    # Without padding or flip each output is exactly one of the originals.
    assert all(np.abs(originals - img).max(axis=(1, 2, 3)).min() < 1e-5 for img in images)
    padded = tiny_cfg(batch_size=32, crop_padding=8, random_flip=True, mean=[0, 0, 0], std=[1, 1, 1])
    images = next(build_dataset(padded, layout, train=True).create_tuple_iterator(output_numpy=True))[0]
    assert (images == 0).all(axis=(1, 2)).any()  # some zero padding columns are visible


def _archive(tmp_path: Path, drop: str | None = None) -> Path:
    src = make_cifar(tmp_path / "src", train_sizes=(3, 3, 3, 3, 3), eval_size=4, layout="official")
    archive = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted((src / "cifar-10-batches-bin").iterdir()):
            if path.name != drop:
                tar.add(path, arcname=f"cifar-10-batches-bin/{path.name}")
        info = tarfile.TarInfo("cifar-10-batches-bin/readme.html")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    return archive


def test_download_verifies_md5_and_lays_out_seed_layout(tmp_path: Path):
    archive = _archive(tmp_path)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    layout = download(tmp_path / "out", url=archive.as_uri(), md5=md5)
    assert layout.style == "seed" and len(layout.train_files) == 5
    with pytest.raises(DataError, match="MD5 .* does not match the expected 0{32}; nothing was written"):
        download(tmp_path / "bad", url=archive.as_uri(), md5="0" * 32)
    assert not list((tmp_path / "bad").iterdir())
    broken = _archive(tmp_path / "b", drop="test_batch.bin")
    with pytest.raises(DataError, match="archive lacks test_batch.bin"):
        download(tmp_path / "bad", url=broken.as_uri(), md5=hashlib.md5(broken.read_bytes()).hexdigest())
    with pytest.raises(DataError, match="download of .* failed"):
        download(tmp_path / "bad", url=(tmp_path / "missing.tar.gz").as_uri())


def test_download_command_line(tmp_path: Path):
    archive = _archive(tmp_path)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    done = run_cli("-m", "wrn.cli", "data", "download", str(tmp_path / "c10"), "--url", archive.as_uri(), "--md5", md5)
    assert done.returncode == 0, done.stderr
    assert "seed layout, 15 training and 4 eval images" in done.stdout
    bad = run_cli("-m", "wrn.cli", "data", "download", str(tmp_path / "c11"), "--url", archive.as_uri(), "--md5", "1" * 32)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr


def test_demo_set_is_real_digits_split_deterministically(tmp_path: Path):
    layout = make_demo(tmp_path / "demo")
    train_images, train_labels = read_records(layout.train_files)
    eval_images, eval_labels = read_records([layout.eval_file])
    assert (len(train_labels), len(eval_labels)) == (1437, 360)
    assert set(eval_labels) == set(range(10))
    assert (train_images[..., 0] == train_images[..., 2]).all() and train_images.max() > 200
    again = make_demo(tmp_path / "again")
    assert again.eval_file.read_bytes() == layout.eval_file.read_bytes()
