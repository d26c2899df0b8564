"""The first log line of a launch numbers it, so a job that ModelArts restarted (and resumed) says so in train.log."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from wrn.run.train import train

FIRST_LINE = re.compile(r" INFO launch (\d+) of this run(.*?): single launch: rank 0/1")


def launches(log: str) -> list[tuple[int, str]]:
    return [(int(m.group(1)), m.group(2)) for m in FIRST_LINE.finditer(log)]


def test_a_resumed_run_numbers_its_launches_and_a_new_run_directory_starts_at_launch_one(trained_run, tiny_data,
                                                                                          tiny_cfg, tmp_path):
    # The session's 2-epoch run (one launch of local/train.py, TINY keys, no warm-up), copied, resumed here.
    run = Path(shutil.copytree(trained_run["run"], tmp_path / "run"))
    assert launches((run / "train.log").read_text()) == [(1, "")]
    train(tiny_cfg(epochs=3, warmup_epochs=0), trained_run["data"], run, resume="auto")
    log = (run / "train.log").read_text()
    assert launches(log) == [(1, ""), (2, " (a restart: 1 earlier launch logged above)")]
    second_launch = log.split("launch 2 of this run")[1]
    assert "resumed from" in second_launch and "epoch 3/3 step" in second_launch
    train(tiny_cfg(epochs=3, warmup_epochs=0), trained_run["data"], run, resume="auto")  # finished already: a launch
    assert launches((run / "train.log").read_text())[-1] == (3, " (a restart: 2 earlier launches logged above)")
    # a process that already trained another run directory counts a new one's launches from one
    train(tiny_cfg(epochs=1, warmup_epochs=0), tiny_data, tmp_path / "b")
    assert launches((tmp_path / "b" / "train.log").read_text()) == [(1, "")]


# A restarted obs:// run on a fresh node counts the launches its uploaded train.log holds: test_faults.py's
# test_a_killed_obs_run_resumes_from_the_uploaded_checkpoint_and_keeps_every_launchs_log (a killed launch, then one
# on a new scratch).
