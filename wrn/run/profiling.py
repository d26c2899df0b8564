"""`profile_steps: START-END` (of epoch `profile_epoch`): MindSpore's Profiler around those steps on rank 0, its output
under <run dir>/profiler/ (uploaded with the run), and one log line naming the three most expensive operator types.

On CPU MindSpore 2.8's Profiler records the host operators: per operator and per type their calls and time
(FRAMEWORK/cpu_op_type_info_<rank>.csv, cpu_op_detail_info_<rank>.csv), and a timeline for chrome://tracing or
Perfetto (ASCEND_PROFILER_OUTPUT/trace_view.json). On Ascend it adds the device's operator statistics
(ASCEND_PROFILER_OUTPUT/op_statistic.csv), which the summary line prefers when present.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from mindspore.train import Callback

from wrn.config import profile_range
from wrn.errors import ConfigError
from wrn.output.rundir import RunDir
from wrn.run.callbacks import StepLogger

log = logging.getLogger("wrn")

FOLDER = "profiler"
# (file pattern, operator type column, total time column, unit) of the statistics each device writes
_STATISTICS = (("**/op_statistic*.csv", "OP Type", "Total Time(us)", "us"),
               ("**/cpu_op_type_info_*.csv", "op_type", "total_compute_time", "ms"))


def check_profile_steps(profile_steps: str, steps_per_epoch: int) -> None:
    start, end = profile_range(profile_steps) or (0, 0)
    if end > steps_per_epoch:
        raise ConfigError(f"config key 'profile_steps' has value {profile_steps!r}, expected steps within one epoch "
                          f"(1-{steps_per_epoch}: this run has {steps_per_epoch} optimizer steps per epoch)")


def top_operators(folder: Path, count: int = 3) -> list[tuple[str, float, str]]:
    """The `count` operator types with the most total time in a profiler output folder: (type, time, unit)."""
    for pattern, type_column, time_column, unit in _STATISTICS:
        totals: dict[str, float] = {}
        for table in sorted(folder.glob(pattern)):
            with open(table, newline="", encoding="utf-8") as rows:
                for row in csv.DictReader(rows):
                    try:
                        totals[row[type_column]] = totals.get(row[type_column], 0.0) + float(row[time_column])
                    except (KeyError, TypeError, ValueError):
                        continue
        if totals:
            ranked = sorted(totals.items(), key=lambda item: item[1], reverse=True)[:count]
            return [(name, total, unit) for name, total in ranked]
    return []


class StepProfiler(Callback):
    """Starts the Profiler before step START of epoch `epoch` and stops it after step END (one sink of that epoch in
    dataset sink mode, where steps are not seen one by one)."""

    def __init__(self, run: RunDir, profile_steps: str, epoch: int, steps: StepLogger, sink: bool) -> None:
        super().__init__()
        self.run, self.epoch, self.steps, self.sink = run, epoch, steps, sink
        self.first, self.last = profile_range(profile_steps) or (0, 0)
        self.folder = run.root / FOLDER
        self._profiler = None
        self._done = False

    def on_train_step_begin(self, run_context) -> None:
        epoch = run_context.original_args().cur_epoch_num
        due = self.sink or self.steps.steps_in_epoch + 1 == self.first  # steps_in_epoch: the steps done so far
        if epoch == self.epoch and due and not self._done and self._profiler is None:
            import mindspore as ms

            self.folder.mkdir(parents=True, exist_ok=True)
            self._profiler = ms.Profiler(output_path=str(self.folder), start_profile=False)
            self._profiler.start()

    def on_train_step_end(self, run_context) -> None:
        if self._profiler is not None and (self.sink or self.steps.steps_in_epoch >= self.last):
            self._finish()

    def _finish(self) -> None:
        profiler, self._profiler, self._done = self._profiler, None, True
        profiler.stop()
        profiler.analyse()
        what = "one sink" if self.sink else f"steps {self.first}-{self.last}"
        top = top_operators(self.folder)
        found = ", ".join(f"{name} {total:.3g} {unit}" for name, total, unit in top) or "no operator statistics"
        log.info("profiled %s of epoch %d into %s: most expensive operators %s", what, self.epoch,
                 self.run.location(FOLDER), found)
        for path in sorted(p for p in self.folder.rglob("*") if p.is_file()):
            self.run.publish(path)
