"""metrics.jsonl records, checked rather than trusted: a line is kept only when it is a complete record of a new
epoch (every field present with its type); anything else is damage, dropped with the reason and the line named."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from wrn.output.rundir import RunDir

log = logging.getLogger("wrn")

_NUMBER = (int, float)
# field: (accepted types, may be null). A record's fields are written by wrn/run/callbacks.py's EpochEnd.
FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "epoch": ((int,), False), "global_step": ((int,), False), "train_loss": (_NUMBER, False), "lr": (_NUMBER, False),
    "epoch_seconds": (_NUMBER, False), "step_seconds": (_NUMBER, False), "images_per_second": (_NUMBER, False),
    "loss_scale": (_NUMBER, False), "overflow_steps": ((int,), False),
    "top1": (_NUMBER, True), "top5": (_NUMBER, True), "eval_loss": (_NUMBER, True), "eval_images": ((int,), True),
}


def problem(record: object) -> str | None:
    """Why `record` is not a complete metrics record, or None when it is."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    for name, (types, nullable) in FIELDS.items():
        if name not in record:
            return f"no field {name!r}"
        value = record[name]
        if value is None and nullable:
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            expected = " or ".join(t.__name__ for t in types) + (" or null" if nullable else "")
            return f"field {name!r} is {value!r}, expected {expected}"
    if record["epoch"] < 1:
        return f"field 'epoch' is {record['epoch']}, expected an epoch >= 1"
    return None


@dataclass
class Records:
    """The kept records in epoch order, and the dropped lines as (line number, reason)."""

    kept: list[dict] = field(default_factory=list)
    dropped: list[tuple[int, str]] = field(default_factory=list)

    def warning(self, path: object) -> str:
        reasons = "; ".join(f"line {number}: {reason}" for number, reason in self.dropped)
        return f"{path}: dropped {len(self.dropped)} damaged line(s) ({reasons})"


def parse(text: str) -> Records:
    """Every complete record of an epoch newer than the previous kept one; damage and repeats are dropped."""
    out = Records()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            out.dropped.append((number, "not a complete JSON record"))
            continue
        reason = problem(record)
        if reason is None and out.kept and record["epoch"] <= out.kept[-1]["epoch"]:
            reason = f"epoch {record['epoch']} again (after epoch {out.kept[-1]['epoch']})"
        if reason is None:
            out.kept.append(record)
        else:
            out.dropped.append((number, reason[:200]))
    return out


def kept_until(run: RunDir, epoch: int) -> list[dict]:
    """metrics.jsonl's records up to `epoch` (the last one the checkpoint holds), rewritten without newer records or
    damaged lines (a partial last line or a NUL-filled tail as power loss leaves, a record missing a field or with
    one of the wrong type, a repeated epoch), each dropped with a warning naming the line."""
    if not run.metrics.exists():
        return []
    parsed = parse(run.metrics.read_bytes().decode("utf-8", "replace"))
    kept = [r for r in parsed.kept if r["epoch"] <= epoch]
    newer = len(parsed.kept) - len(kept)
    if parsed.dropped:
        log.warning("%s", parsed.warning(run.metrics))
    if newer:
        log.warning("%s: dropped %d record(s) of epochs after %d, the last one the checkpoint holds", run.metrics,
                    newer, epoch)
    if parsed.dropped or newer:
        run.write_text(run.metrics, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))
    return kept
