"""TensorBoard curves of a run: rank 0 writes event files under <run dir>/tensorboard/ with the `tensorboard`
package's own event writer (no TensorFlow), so they upload with the run directory like every other file.

Per step (at log_interval, as the log lines): the loss and the learning rate; per epoch: the metrics record's train
loss, top-1/top-5, loss scale, overflowed steps, images/s and lr, at the global step that ended the epoch. The x axis
is always the global step. A resumed launch writes a new event file that starts with TensorBoard's restart marker
(SessionLog START at its first step): TensorBoard then drops the steps an interrupted launch wrote after the
checkpoint, so no step appears twice. `tensorboard` is optional: without it the run says so once and goes on.
"""

from __future__ import annotations

import logging
import time

from mindspore.train import Callback

from wrn.output.rundir import RunDir
from wrn.pbcompat import prefer_mindspore_protobuf
from wrn.run.callbacks import StepLogger, loss_value

log = logging.getLogger("wrn")

FOLDER = "tensorboard"
# metrics.jsonl field -> TensorBoard tag, for the per-epoch scalars
EPOCH_TAGS = {"train_loss": "epoch/train_loss", "top1": "eval/top1", "top5": "eval/top5", "eval_loss": "eval/loss",
              "loss_scale": "epoch/loss_scale", "overflow_steps": "epoch/overflow_steps",
              "images_per_second": "epoch/images_per_second", "lr": "epoch/lr"}
STEP_TAGS = ("step/loss", "step/lr")


class EventWriter:
    """One event file of this launch in <run dir>/tensorboard/."""

    def __init__(self, run: RunDir, resumed_step: int) -> None:
        prefer_mindspore_protobuf()
        from tensorboard.compat.proto.event_pb2 import Event, SessionLog
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._event, self._summary = Event, Summary
        self.run, self.folder = run, run.root / FOLDER
        self.folder.mkdir(parents=True, exist_ok=True)
        self._writer = EventFileWriter(str(self.folder), max_queue_size=100, flush_secs=30)
        if resumed_step:
            # TensorBoard purges the events at and after this step that an earlier launch wrote (a restart).
            self._writer.add_event(Event(wall_time=time.time(), step=resumed_step + 1,
                                         session_log=SessionLog(status=SessionLog.START)))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if self._writer is None:
            return
        summary = self._summary(value=[self._summary.Value(tag=tag, simple_value=float(value))
                                       for tag, value in values.items()])
        try:
            self._writer.add_event(self._event(wall_time=time.time(), step=step, summary=summary))
            self._writer.flush()  # a killed launch keeps its curves up to its last log line
        except OSError as exc:
            self._stop(exc)

    def _stop(self, exc: OSError) -> None:
        """Curves are optional: a failed write (a full disk) ends them with one warning; the run's own next write
        reports the disk itself."""
        log.warning("TensorBoard event files stopped: %s; training goes on (metrics.jsonl holds every figure)",
                    exc.strerror or exc)
        self._writer = None

    def publish(self) -> None:
        for path in sorted(self.folder.glob("events.out.tfevents.*")):
            self.run.publish(path)

    def close(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except OSError as exc:
                self._stop(exc)
        self.publish()


def open_events(run: RunDir, enabled: bool, resumed_step: int) -> EventWriter | None:
    """The launch's event writer; None when off (`tensorboard: false`) or when the package is missing (said once)."""
    if not enabled:
        return None
    try:
        writer = EventWriter(run, resumed_step)
    except ImportError:
        log.info("tensorboard is not installed: no TensorBoard event files (metrics.jsonl and curves.png hold every "
                 "figure; pip install tensorboard to get them)")
        return None
    log.info("TensorBoard event files in %s", run.location(FOLDER))
    return writer


class TensorBoardLogger(Callback):
    """Goes after `StepLogger` and `EpochEnd` in the callback list: it reads the step the logger counted and the
    epoch's metrics record that EpochEnd appended to `records`."""

    def __init__(self, events: EventWriter, steps: StepLogger, records: list[dict]) -> None:
        super().__init__()
        self.events, self.steps, self.records = events, steps, records
        self._before = 0

    def on_train_epoch_begin(self, run_context) -> None:
        self._before = 0

    def on_train_step_end(self, run_context) -> None:
        # the rule of the log lines: a multiple of log_interval crossed (a sink may cross one), or the epoch's end
        in_epoch, before, self._before = self.steps.steps_in_epoch, self._before, self.steps.steps_in_epoch
        crossed = in_epoch // self.steps.log_interval > before // self.steps.log_interval
        if crossed or in_epoch == self.steps.steps_per_epoch:
            loss = loss_value(run_context.original_args().net_outputs)
            self.events.scalars(self.steps.global_step, {"step/loss": loss, "step/lr": self.steps.lr})

    def on_train_epoch_end(self, run_context) -> None:
        record = self.records[-1]
        self.events.scalars(record["global_step"], {tag: record[field] for field, tag in EPOCH_TAGS.items()
                                                    if record.get(field) is not None})
        self.events.publish()

    def on_train_end(self, run_context) -> None:
        self.events.close()

