"""CIFAR-100 end to end, the paper's recipes, and the augmentations (each changes what it should, eval never)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import tarfile
from pathlib import Path

import mindspore as ms
import mindspore.nn as nn
import numpy as np
import pytest

from conftest import last_json, make_cifar, run_cli, run_in_process, tiny_args
from wrn.config import load_config, recipe_names
from wrn.cifar import CIFAR100, check_file, find_layout, read_records, write_records
from wrn.errors import ConfigError, DataError
from wrn.builder.build import build_dataset
from wrn.cli import eval_main, export_main, infer_main, postprocess_main, preprocess_main, train_main
from wrn.run.train import train

# ---- the format ---------------------------------------------------------------------------------------------------


def test_cifar100_records_carry_coarse_and_fine_labels(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    fine, coarse = np.array([99, 0, 42, 7]), np.array([19, 0, 8, 1])
    write_records(tmp_path / "train.bin", images, fine, coarse)
    raw = (tmp_path / "train.bin").read_bytes()
    assert len(raw) == 4 * 3074 and raw[0] == 19 and raw[1] == 99
    assert check_file(tmp_path / "train.bin", CIFAR100) == 4
    got, labels = read_records([tmp_path / "train.bin"], CIFAR100, "fine")
    assert np.array_equal(got, images) and labels.tolist() == [99, 0, 42, 7]
    assert read_records([tmp_path / "train.bin"], CIFAR100, "coarse")[1].tolist() == [19, 0, 8, 1]
    write_records(tmp_path / "bad.bin", images, np.array([100, 0, 0, 0]), coarse)
    with pytest.raises(DataError, match="record 0 has fine label 100, expected 0-99"):
        check_file(tmp_path / "bad.bin", CIFAR100)


@pytest.mark.parametrize("layout", ["seed", "official", "flat"])
def test_cifar100_layouts(tmp_path, layout):
    found = find_layout(make_cifar(tmp_path / "d", layout=layout, dataset="cifar100"), "cifar100")
    assert (found.style, found.format.name, [p.name for p in found.train_files], found.eval_file.name) == (
        layout, "cifar100", ["train.bin"], "test.bin")


def test_a_folder_of_the_other_dataset_is_one_line_naming_both(tmp_path):
    with pytest.raises(DataError, match="holds cifar10 files .* but the config's dataset is cifar100"):
        find_layout(make_cifar(tmp_path / "c10"), "cifar100")
    with pytest.raises(DataError, match="holds cifar100 files .* but the config's dataset is cifar10"):
        find_layout(make_cifar(tmp_path / "c100", dataset="cifar100"), "cifar10")


def test_num_classes_follows_the_dataset_and_a_mismatch_names_both():
    assert load_config("demo", {"dataset": "cifar100"}).num_classes == 100
    assert load_config("demo", {"dataset": "cifar100", "label": "coarse"}).num_classes == 20
    with pytest.raises(ConfigError, match="'num_classes' has value 101, expected at most 100 for dataset cifar100"):
        load_config("demo", {"dataset": "cifar100", "num_classes": 101})
    assert load_config("demo", {"dataset": "cifar100", "num_classes": 10}).num_classes == 10  # a subset
    with pytest.raises(ConfigError, match="'label' has value 'coarse', expected fine"):
        load_config("demo", {"label": "coarse"})


def test_download_make_demo_and_check_follow_the_dataset(tmp_path):
    assert CIFAR100.md5 == "03b5dce01913d631647c71ecec9e9cb8" and CIFAR100.url.endswith("cifar-100-binary.tar.gz")
    source = make_cifar(tmp_path / "src", layout="official", dataset="cifar100")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted((source / "cifar-100-binary").iterdir()):
            tar.add(path, arcname=f"cifar-100-binary/{path.name}")
    archive = tmp_path / "cifar-100-binary.tar.gz"
    archive.write_bytes(buffer.getvalue())
    md5 = hashlib.md5(buffer.getvalue()).hexdigest()
    got = run_cli("-m", "wrn.cli", "data", "download", str(tmp_path / "c100"), "--dataset", "cifar100",
                  "--url", archive.as_uri(), "--md5", md5)
    assert got.returncode == 0, got.stderr
    assert "cifar100 seed layout, 96 training and 40 eval images" in got.stdout
    assert (tmp_path / "c100" / "train" / "train.bin").is_file() and (tmp_path / "c100" / "eval" / "test.bin").is_file()
    wrong = run_cli("-m", "wrn.cli", "data", "download", str(tmp_path / "c2"), "--dataset", "cifar100",
                    "--url", archive.as_uri(), "--md5", "0" * 32)
    assert wrong.returncode == 2 and "does not match the expected" in wrong.stderr
    demo = run_cli("-m", "wrn.cli", "data", "make-demo", str(tmp_path / "demo100"), "--dataset", "cifar100")
    assert demo.returncode == 0 and "cifar100 seed layout" in demo.stdout
    checked = run_cli("-m", "wrn.cli", "data", "check", str(tmp_path / "demo100"), "--dataset", "cifar100",
                      "--label", "coarse")
    assert checked.returncode == 0, checked.stderr


def _entry(main, *argv: str) -> str:
    """An entry script's function run in this process (the scripts have their own subprocess tests: test_cli,
    test_export_infer, test_modelzoo); its stdout, after checking its status."""
    status, out, err = run_in_process(main, *argv)
    assert status == 0, err[-2000:]
    return out


def test_cifar100_trains_evaluates_exports_and_runs_through_the_310_files(tmp_path):
    data = make_cifar(tmp_path / "data", dataset="cifar100")
    # the 40 eval images in one batch: one eval graph to compile per network
    model = [*tiny_args(), "--dataset=cifar100", "--eval_batch_size=40"]
    # one epoch: a CIFAR-100 checkpoint is what the chain needs
    _entry(train_main, "--config=demo", f"--data_url={data}", f"--train_url={tmp_path / 'run'}", *model,
           "--epochs=1", "--warmup_epochs=0")
    best = tmp_path / "run" / "ckpt" / "best.ckpt"
    evaluated = _entry(eval_main, "--config=demo", f"--data_url={data}", f"--checkpoint={best}", *model)
    result = last_json(evaluated)
    _entry(export_main, "--config=demo", f"--checkpoint={best}", "--file_format=MINDIR", "--batch_size=4",
           f"--train_url={tmp_path / 'export'}", *[a for a in model if not a.startswith("--batch_size")])
    sidecar = tmp_path / "export" / "wrn10_1_b4.mindir.json"
    assert json.loads(sidecar.read_text())["num_classes"] == 100
    work = tmp_path / "work"
    _entry(preprocess_main, f"--data_url={data}", f"--output={work}", f"--sidecar={sidecar}", "--batch_size=4")
    _entry(infer_main, f"--mindir={tmp_path / 'export' / 'wrn10_1_b4.mindir'}", f"--input={work / 'img_data'}",
           f"--output={work}")
    post = _entry(postprocess_main, f"--result_dir={work / 'result_Files'}", f"--label_dir={work / 'label'}",
                  f"--output={work / 'acc.log'}", "--num_classes=100")
    accuracy = last_json(post)
    assert accuracy["images"] == result["images"] == 40 and accuracy["top1"] == pytest.approx(result["top1"])


def test_coarse_labels_train_a_20_class_head_on_mixed_soft_labels(tmp_path):
    # one run for two variants that do not interact: CIFAR-100's coarse labels (a 20-class head), and mixup/cutmix
    # mixing them into soft labels, with label smoothing
    data = make_cifar(tmp_path / "data", dataset="cifar100")
    summary = train(load_config("demo", {**_tiny(), "dataset": "cifar100", "label": "coarse", "epochs": 1,
                                         "mixup": 0.4, "cutmix": 1.0, "mix_probability": 0.5,
                                         "label_smoothing": 0.1}), data, tmp_path / "run")
    assert summary["epochs"] == 1 and summary["eval_images"] == 40
    assert ms.load_checkpoint(str(tmp_path / "run" / "ckpt" / "best.ckpt"))["fc.weight"].shape[0] == 20


# ---- the paper's recipes ----------------------------------------------------------------------------------------------

def _tiny() -> dict:
    return {"depth": 10, "widen_factor": 1, "batch_size": 16, "eval_batch_size": 20, "num_workers": 1,
            "warmup_epochs": 0}


PAPER = ["wrn28_10", "wrn28_10_dropout", "wrn16_8", "wrn40_4", "wrn40_10_dropout"]


def test_the_papers_recipes_exist_for_both_data_sets_as_written():
    names = recipe_names()
    for name in PAPER:
        for recipe, dataset, classes in ((name, "cifar10", 10), (f"{name}_c100", "cifar100", 100)):
            assert recipe in names
            cfg = load_config(recipe)
            assert (cfg.dataset, cfg.num_classes, cfg.epochs, cfg.batch_size, cfg.lr) == (dataset, classes, 200, 128, 0.1)
            assert (cfg.lr_milestones, cfg.lr_gamma, cfg.nesterov, cfg.momentum, cfg.weight_decay) == (
                [60, 120, 160], 0.2, True, 0.9, 5e-4)
            assert (cfg.crop_padding, cfg.crop_padding_mode, cfg.random_flip) == (4, "reflect", True)
            assert cfg.dropout == (0.3 if "dropout" in name else 0.0)
    assert load_config("wrn40_10").crop_padding_mode == "constant"  # the ModelZoo reference recipe stays as it was


def _tiny_recipe(recipe: str):
    return load_config(recipe, {**_tiny(), "epochs": 1, "lr_milestones": "[]", "lr_schedule": "multistep"})


def _option_sets() -> dict[str, list[str]]:
    """Every recipe, loaded with the tiny overrides, grouped by what its tiny epoch trains: recipes whose configs are
    then equal but for the name (e.g. wrn16_8, wrn28_10 and wrn40_4 at WRN-10-1) train it once together."""
    groups: dict[str, list[str]] = {}
    for recipe in recipe_names():
        fields = dataclasses.asdict(_tiny_recipe(recipe))
        del fields["name"]
        groups.setdefault(json.dumps(fields, sort_keys=True, default=str), []).append(recipe)
    return {"+".join(recipes): recipes for recipes in groups.values()}


OPTION_SETS = _option_sets()


@pytest.mark.parametrize("recipes", list(OPTION_SETS.values()), ids=list(OPTION_SETS))
def test_every_recipe_trains_one_tiny_epoch(recipes, tmp_path):
    cfg = _tiny_recipe(recipes[0])
    summary = train(cfg, make_cifar(tmp_path / "d", train_sizes=(32,), eval_size=20, dataset=cfg.dataset),
                    tmp_path / "r")
    assert summary["epochs"] == 1 and summary["eval_images"] == 20


def test_the_tiny_option_sets_hold_every_recipe_once():
    assert sorted(r for recipes in OPTION_SETS.values() for r in recipes) == sorted(recipe_names())
    assert len(OPTION_SETS) < len(recipe_names())  # the grouping saves trainings


# ---- augmentations ------------------------------------------------------------------------------------------------------

def _uniform_data(tmp_path: Path, value: int = 200) -> Path:
    """Train and eval images of one grey value: any crop padding, cut-out patch or mix shows."""
    images = np.full((64, 32, 32, 3), value, np.uint8)
    images[:, :, 16:, :] = 40  # a left/right contrast so augmentations that move pixels are visible
    labels = np.arange(64) % 10
    write_records(tmp_path / "u" / "train" / "data_batch_1.bin", images, labels)
    write_records(tmp_path / "u" / "eval" / "test_batch.bin", images[:32], labels[:32])
    return tmp_path / "u"


def _first_batch(data: Path, train_: bool = True, **overrides) -> tuple[np.ndarray, np.ndarray]:
    cfg = load_config("demo", {"batch_size": 64, "eval_batch_size": 32, "num_workers": 1, "random_flip": False,
                               "crop_padding": 0, "mean": "0,0,0", "std": "1,1,1", **overrides})
    batch = next(build_dataset(cfg, find_layout(data), train=train_).create_tuple_iterator(output_numpy=True))
    return batch[0], batch[1]


def test_reflection_padding_never_shows_a_padded_zero_where_constant_padding_does(tmp_path):
    data = _uniform_data(tmp_path)
    constant, _ = _first_batch(data, crop_padding=4, crop_padding_mode="constant")
    reflect, _ = _first_batch(data, crop_padding=4, crop_padding_mode="reflect")
    assert (constant == 0).any() and not (reflect == 0).any()


@pytest.mark.parametrize("policy", ["cifar10", "randaugment"])
def test_autoaugment_policies_change_training_images(tmp_path, policy):
    data = _uniform_data(tmp_path)
    plain, _ = _first_batch(data)
    augmented, _ = _first_batch(data, autoaugment=policy)
    assert augmented.shape == plain.shape and not np.array_equal(plain, augmented)


def test_cutout_zeroes_at_most_one_square_patch_per_image(tmp_path):
    data = _uniform_data(tmp_path)
    plain, _ = _first_batch(data)
    cut, _ = _first_batch(data, cutout=16)
    assert not (plain == 0).any()
    zeros = (cut == 0).all(axis=1).sum(axis=(1, 2))  # pixels zeroed in every channel, per image
    # MindSpore's CutOut may place the 16x16 patch partly (rarely wholly) off the image, as DeVries & Taylor do.
    assert (zeros <= 256).all() and (zeros == 256).any() and (zeros > 0).mean() > 0.8


@pytest.mark.parametrize("key", ["mixup", "cutmix"])
def test_mixing_makes_soft_labels_and_mixed_images(tmp_path, key):
    data = make_cifar(tmp_path / "d")  # images that differ by class, so a mix shows
    images, labels = _first_batch(data, **{key: 1.0})
    plain, _ = _first_batch(data)
    assert labels.shape == (64, 10) and labels.dtype == np.float32
    assert np.allclose(labels.sum(axis=1), 1.0) and ((labels > 0) & (labels < 1)).any()
    assert not np.array_equal(np.sort(images.ravel()), np.sort(plain.ravel()))


def test_eval_images_are_never_augmented(tmp_path):
    data = _uniform_data(tmp_path)
    everything = {"crop_padding": 4, "crop_padding_mode": "reflect", "random_flip": True, "autoaugment": "cifar10",
                  "cutout": 16, "mixup": 1.0, "cutmix": 1.0}
    plain_images, plain_labels = _first_batch(data, train_=False)
    images, labels = _first_batch(data, train_=False, **everything)
    assert np.array_equal(images, plain_images) and np.array_equal(labels, plain_labels)
    assert labels.dtype == np.int32


def test_the_soft_label_loss_honours_label_smoothing():
    logits = np.array([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]], np.float32)
    soft = np.array([[0.7, 0.3, 0.0], [0.0, 0.4, 0.6]], np.float32)
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    for eps in (0.0, 0.1):
        target = (1 - eps) * soft + eps / 3
        expected = -(target * log_p).sum(1).mean()
        got = nn.CrossEntropyLoss(label_smoothing=eps)(ms.Tensor(logits), ms.Tensor(soft)).asnumpy()
        assert got == pytest.approx(expected, abs=1e-5)


# A run that trains on mixed soft labels: test_coarse_labels_train_a_20_class_head_on_mixed_soft_labels above.
