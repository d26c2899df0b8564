"""The train and eval pipelines of CIFAR data, with the training augmentations, on MindSpore's dataset ops.

MindSpore's `Cifar10Dataset`/`Cifar100Dataset` insist on the official file sizes, which rejects partial, sharded or
generated sets, so the files are read by `wrn.cifar` and fed through `GeneratorDataset`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from wrn.cifar import Layout, read_records
from wrn.errors import DataError


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
