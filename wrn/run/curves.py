"""curves.png: training loss, eval top-1 and learning rate per epoch, from metrics.jsonl records.

matplotlib is optional: ModelArts images may not have it, and a missing plot must never fail a job.
"""

from __future__ import annotations

import importlib.util
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from wrn.output.rundir import RunDir

log = logging.getLogger("wrn")


def can_plot() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def plot_curves(records: list[dict], path: Path) -> None:
    """Draw `records` into the PNG file `path`."""
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
    fig.savefig(path, dpi=90, format="png")
    plt.close(fig)


class CurvesPlotter:
    """Redraws the run's curves.png off the training thread (~0.35 s a drawing), skipping a redraw while one is under
    way; `finish` draws the final one. Without matplotlib it says so once and draws nothing."""

    def __init__(self, run: RunDir) -> None:
        self.run = run
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wrn-curves") if can_plot() else None
        self._pending: Future | None = None
        if self._pool is None:
            log.info("matplotlib is not installed: curves.png is skipped (metrics.jsonl has every figure)")

    def update(self, records: list[dict]) -> None:
        if self._pool is not None and (self._pending is None or self._pending.done()):
            self._pending = self._pool.submit(self._draw, list(records))

    def finish(self, records: list[dict]) -> None:
        if self._pool is None:
            return
        self._pool.shutdown(wait=True)
        if records:
            self._draw(records)

    def _draw(self, records: list[dict]) -> None:
        self.run.write(self.run.curves, lambda temp: plot_curves(records, temp), suffix=".png")
