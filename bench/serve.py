"""The local model service (`python -m wrn.cli serve`: HTTP, multipart, PNG decode, response) against the bare
runner on the same ONNX model (`wrn.serving.runner` on an already prepared input), and the service's three steps
in-process (decode included, no HTTP): requests/s and p50/p99 latency at concurrency 1 and 8, batch 1. The overhead
of HTTP + decode is the service's p50 latency over the runner's at concurrency 1 (target <= 10 %). Each side in its
own process of the same interpreter, alternating rounds, medians. Beside wall-clock figures, each side reports the
CPU time its serving process spent per request (user + system, all threads): on a shared machine latency includes
waiting for a core, CPU time does not, so `cpu_overhead` (service CPU ms / bare CPU ms - 1) stays readable there.

The INT8 model (`export --quantize int8`, calibrated on generated images as in bench/infer.py) is packaged and
measured beside the FP32 one, the precisions alternating within each round: `int8_vs_fp32` is the ratio of their
service requests/s.

usage: python bench/serve.py [--models wrn16_4,wrn28_10] [--concurrency 1,8] [--seconds 5] [--rounds 2]
       [--precisions fp32,int8] [--python .venv-serve/bin/python]
       (last line: JSON; the models are random-init checkpoints, packaged)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GLOG_v", "3")

# bare: the runner on a prepared input; pipeline: the package's service in-process (decode, model, answer, no
# HTTP); service: `wrn.cli serve` over HTTP with keep-alive connections, one per client thread.
SIDES = ("bare", "pipeline", "service")


def packaged(recipe: str, work: Path, precisions: list[str]) -> dict[str, Path]:
    """A random-init checkpoint of `recipe` in CPU model packages (`wrn.cli package`'s own code): FP32 from the
    checkpoint, INT8 from its `export --quantize int8`."""
    from bench.infer import calibration_data
    from wrn.config import load_config
    from wrn.deploy.export import export
    from wrn.deploy.package import build_package
    from wrn.deploy.quantize import QuantizeOptions, QuantizeRequest
    from wrn.output import checkpoint as ckpt
    from wrn.builder.build import build_network, setup_runtime

    cfg = load_config(recipe)
    setup_runtime(cfg)
    ckpt.save(work / "random.ckpt", build_network(cfg))
    folders = {}
    if "fp32" in precisions:
        build_package(str(work / "random.ckpt"), str(work / "pkg"), cfg=cfg, target="cpu")
        folders["fp32"] = work / "pkg" / "model"
    if "int8" in precisions:
        request = QuantizeRequest(str(calibration_data(work / "data")), options=QuantizeOptions(
            calibration_images=256, tolerance_points=100.0))  # a random network has no accuracy to keep
        # the same input kind as the checkpoint's package (raw pixels in, normalised in the graph)
        int8 = export(cfg, str(work / "random.ckpt"), "ONNX", 1, str(work / "export"), input_kind="raw",
                      int8=request)["int8"]["path"]
        build_package(int8, str(work / "pkg_int8"))
        folders["int8"] = work / "pkg_int8" / "model"
    return folders


def png_upload() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(out, "PNG")
    return out.getvalue()


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of another process (proc(5): fields 14 and 15 of /proc/PID/stat, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(call, concurrency: int, seconds: float, cpu_seconds=own_cpu_seconds) -> dict:
    """`concurrency` threads calling `call()` back to back for `seconds`: requests/s, latency percentiles and the
    serving process's CPU milliseconds per measured request (`cpu_seconds` reads that process's CPU time)."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = []
    started_at: list[float] = []  # wall clock, end of the window, CPU seconds: set once every thread is warm

    def start_window() -> None:
        now = time.perf_counter()
        started_at.extend([now, now + seconds, cpu_seconds()])

    warmed = threading.Barrier(concurrency + 1, action=start_window)

    def worker(index: int) -> None:
        try:
            own = call()  # a per-thread callable (e.g. its own connection)
            own()
            warmed.wait()
            while True:  # at least one measured call, even when the warm-up outlasted the window
                started = time.perf_counter()
                own()
                latencies[index].append(time.perf_counter() - started)
                if time.perf_counter() >= started_at[1]:
                    break
        except Exception as exc:  # reported, not hidden
            errors.append(repr(exc))
            warmed.abort()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    try:
        warmed.wait()  # the warm-up calls (first-call allocations, connections) are outside the measurement
    except threading.BrokenBarrierError:
        pass
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(errors[0])
    elapsed = time.perf_counter() - started_at[0]
    cpu_used = cpu_seconds() - started_at[2]
    flat = np.asarray([x for row in latencies for x in row]) * 1000
    return {"requests_per_s": len(flat) / elapsed, "p50_ms": float(np.percentile(flat, 50)),
            "p99_ms": float(np.percentile(flat, 99)), "cpu_ms_per_request": 1000 * cpu_used / len(flat),
            "requests": int(len(flat))}


def bare_side(model_dir: Path, concurrency: int, seconds: float) -> dict:
    from wrn.serving.runner import find_model, open_runner

    runner = open_runner(find_model(model_dir))
    prepared = runner.model_input(np.zeros((32, 32, 3), np.uint8))
    return drive(lambda: (lambda: runner.logits(prepared)), concurrency, seconds)


def pipeline_side(model_dir: Path, concurrency: int, seconds: float) -> dict:
    """The package's service in this process without HTTP: multipart data -> decode -> model -> answer."""
    from wrn.serving.modelserver.server import load_package

    service = load_package(model_dir).service
    content = png_upload()
    return drive(lambda: (lambda: service.inference({"images": {"a.png": io.BytesIO(content)}})), concurrency,
                 seconds)


def service_side(model_dir: Path, concurrency: int, seconds: float, python: str) -> dict:
    import http.client

    server = subprocess.Popen([python, "-m", "wrn.cli", "serve", str(model_dir), "--port", "0"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        if not line:
            raise RuntimeError("the server did not start: " + server.stderr.read()[-500:])
        host, port = json.loads(line)["url"].split("//")[1].rstrip("/").split(":")
        content = png_upload()
        boundary = "benchboundary0123456789"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"images\"; filename=\"a.png\"\r\n"
                f"Content-Type: image/png\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}

        def connect():
            connection = http.client.HTTPConnection(host, int(port), timeout=60)

            def post():
                connection.request("POST", "/", body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                if response.status != 200:
                    raise RuntimeError(payload[:200])
            return post

        return drive(connect, concurrency, seconds, cpu_seconds=lambda: process_cpu_seconds(server.pid))
    finally:
        server.terminate()
        server.wait(timeout=30)


def child(side: str, model_dir: Path, concurrency: int, seconds: float, python: str) -> dict:
    done = subprocess.run([python, __file__, "--child", side, "--model_dir", str(model_dir), "--concurrency",
                           str(concurrency), "--seconds", str(seconds), "--python", python],
                          capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{side} failed: {done.stderr[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="wrn16_4")
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--python", default=sys.executable, help="interpreter of both sides (e.g. .venv-serve's)")
    parser.add_argument("--precisions", default="fp32,int8")
    parser.add_argument("--child", default="")
    parser.add_argument("--model_dir", default="")
    args = parser.parse_args()
    if args.child:
        model_dir, concurrency = Path(args.model_dir), int(args.concurrency)
        if args.child == "service":
            side = service_side(model_dir, concurrency, args.seconds, args.python)
        else:
            side = (bare_side if args.child == "bare" else pipeline_side)(model_dir, concurrency, args.seconds)
        print(json.dumps(side))
        return 0
    figures = {}
    precisions = args.precisions.split(",")
    for recipe in args.models.split(","):
        with tempfile.TemporaryDirectory(prefix="wrn-bench-serve-") as work:
            model_dirs = packaged(recipe, Path(work), precisions)
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                samples = {p: {side: {} for side in SIDES} for p in precisions}
                load = [os.getloadavg()[0]]
                for _ in range(args.rounds):
                    for precision in precisions:
                        for side in SIDES:
                            for key, value in child(side, model_dirs[precision], concurrency, args.seconds,
                                                    args.python).items():
                                samples[precision][side].setdefault(key, []).append(value)
                load.append(os.getloadavg()[0])
                for precision in precisions:
                    row = {f"{side}_{key}": round(statistics.median(values), 3)
                           for side, values_by_key in samples[precision].items()
                           for key, values in values_by_key.items() if key != "requests"}
                    row["overhead_p50"] = round(row["service_p50_ms"] / row["bare_p50_ms"] - 1, 4)
                    row["decode_overhead_p50"] = round(row["pipeline_p50_ms"] / row["bare_p50_ms"] - 1, 4)
                    row["cpu_overhead"] = round(row["service_cpu_ms_per_request"] / row["bare_cpu_ms_per_request"] - 1,
                                                4)
                    row["throughput_ratio"] = round(row["service_requests_per_s"] / row["bare_requests_per_s"], 4)
                    fp32 = figures.get(f"{recipe}_c{concurrency}")
                    if precision == "int8" and fp32:
                        row["int8_vs_fp32"] = round(row["service_requests_per_s"] / fp32["service_requests_per_s"],
                                                    3)
                    row["load_average"] = [round(v, 2) for v in load]
                    name = f"{recipe}_c{concurrency}" + ("" if precision == "fp32" else f"_{precision}")
                    figures[name] = row
                    print(f"{recipe} {precision} concurrency {concurrency}: {json.dumps(row)}", flush=True)
    print(json.dumps({"benchmark": "serve", "rounds": args.rounds, "python": args.python, "results": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
