"""curves.png: training loss, eval top-1 and learning rate per epoch, from metrics.jsonl records.

matplotlib is optional: ModelArts images may not have it, and a missing plot must never fail a job.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from wrn.fileio import atomic_path


def can_plot() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def plot_curves(records: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in records]
    evaluated = [r for r in records if r.get("top1") is not None]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(epochs, [r["train_loss"] for r in records], marker=".")
    axes[0].set(title="training loss", xlabel="epoch")
    axes[1].plot([r["epoch"] for r in evaluated], [100 * r["top1"] for r in evaluated], marker=".", color="tab:green")
    axes[1].set(title="eval top-1 (%)", xlabel="epoch")
    axes[2].plot(epochs, [r["lr"] for r in records], marker=".", color="tab:orange")
    axes[2].set(title="learning rate (end of epoch)", xlabel="epoch")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
