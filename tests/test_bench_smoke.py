"""Smoke runs of the benchmark scripts (tiny sizes): they keep working; their figures are not judged here."""

import json
from pathlib import Path

import pytest

from conftest import run_cli


@pytest.mark.parametrize("script,args", [
    ("bench/conv_regression.py", []),
    ("bench/train_step.py", ["--models", "demo", "--batch", "8", "--steps", "1", "--warmup", "0", "--frameworks",
                             "mindspore"]),
    ("bench/data.py", ["--images", "500", "--batches", "5"]),
    # 64 of the digits' images on WRN-10-1: the run's whole path (data, steps, eval, checkpoints) at a fraction of the cost
    ("bench/epoch.py", ["--epochs", "1", "--images", "64", "--warmup_epochs=0", "--widen_factor=1"]),
    ("bench/infer.py", ["--models", "demo", "--batches", "2", "--seconds", "0.1", "--rounds", "1"]),
    ("bench/levers.py", ["--model", "demo", "--batch", "8", "--steps", "1", "--warmup", "0", "--rounds", "1", "--only",
                         "omp_threads,nhwc"]),
    ("bench/serve.py", ["--models", "demo", "--concurrency", "2", "--seconds", "0.1", "--rounds", "1"]),
    ("bench/storage.py", ["--big-files", "1", "--big-mb", "1", "--small-files", "20", "--latency-ms", "4"]),
])
def test_benchmark_runs_and_ends_with_json(script, args):
    done = run_cli(script, *args, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["benchmark"] == script.split("/")[1][:-3]


def test_the_memory_guard_passes_its_record_and_fails_a_shrunken_one(tmp_path):
    """One real measurement (the record); the verdicts on it are the script's own exit status, judging that
    measurement (--measured) against its record, a shrunken record and none, without measuring again."""
    baseline = tmp_path / "baseline.json"
    recorded = run_cli("bench/memory_regression.py", "--models", "demo", "--batch", "8", "--steps", "1", "--baseline",
                       str(baseline), "--record", timeout=300)
    assert recorded.returncode == 0, recorded.stderr[-2000:]
    (key, entry), = json.loads(baseline.read_text()).items()
    assert key == "demo_b8_mindspore2.8.0" and entry["peak_rss_mb"] > 0
    measured = tmp_path / "measured.txt"
    measured.write_text(recorded.stdout)

    def judged(against: Path):
        return run_cli("bench/memory_regression.py", "--measured", str(measured), "--baseline", str(against))

    again = judged(baseline)
    assert again.returncode == 0 and json.loads(again.stdout.strip().splitlines()[-1])["results"][key]["verdict"] == \
        "OK", again.stdout[-2000:]
    baseline.write_text(json.dumps({key: {"peak_rss_mb": entry["peak_rss_mb"] // 2, "date": entry["date"]}}))
    grown = judged(baseline)
    assert grown.returncode == 1 and "GREW" in grown.stdout
    none = judged(tmp_path / "none.json")
    assert none.returncode == 1 and "NO RECORD" in none.stdout  # no record: no pass
