"""Class names of the data sets, in label order (the `batches.meta.txt`, `fine_label_names.txt` and
`coarse_label_names.txt` files of the official CIFAR binary archives)."""

from __future__ import annotations

from typing import List

CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

CIFAR100_FINE = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
    "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
    "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
    "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
    "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
    "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger",
    "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)

CIFAR100_COARSE = (
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man-made_outdoor_things", "large_natural_outdoor_scenes", "large_omnivores_and_herbivores",
    "medium_mammals", "non-insect_invertebrates", "people", "reptiles", "small_mammals", "trees", "vehicles_1",
    "vehicles_2",
)

# The `demo` recipe trains scikit-learn's digits written in CIFAR-10's format: its classes are the digits.
DIGITS = tuple(str(d) for d in range(10))


def class_names(dataset: str, label: str = "fine", num_classes: int | None = None, recipe: str = "") -> List[str]:
    """The names of a model's classes from what its sidecar records; a count that matches no known set gives
    "class_<i>" names rather than wrong ones."""
    if recipe == "demo":
        names = DIGITS
    elif dataset == "cifar100":
        names = CIFAR100_COARSE if label == "coarse" else CIFAR100_FINE
    else:
        names = CIFAR10
    if num_classes is not None and num_classes != len(names):
        return ["class_%d" % i for i in range(num_classes)]
    return list(names)
