"""Label-smoothing cross-entropy on one-hot float32 labels (the pipelines one-hot encode them: `core.data`)."""

from __future__ import annotations

import mindspore.nn as nn


def create_loss(*, label_smoothing: float = 0.0) -> nn.Cell:
    """Target (1 - eps) on the true class plus eps / num_classes on every class (Szegedy et al., 2016)."""
    return nn.CrossEntropyLoss(label_smoothing=label_smoothing, reduction="mean")
