"""Stage-in / stage-out throughput against a local S3-protocol server: the package's parallel transfers vs a plain
sequential OBS SDK loop, for a CIFAR-10-sized tree (6 x 30 MB) and for 2,000 small files.

The server (moto) runs in its own process. A loopback server answers in well under a millisecond, which no
object store in a cloud region does, so the runs are repeated behind a proxy process that delays each direction
by half of --latency-ms (default 20 ms round trip, a typical figure inside one region).

usage: python bench/storage.py [--big-files 6] [--big-mb 30] [--small-files 2000] [--threads 8] [--latency-ms 20]
The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from objectstore import ACCESS_KEY, SECRET_KEY, ObjectStore  # noqa: E402
from wrn.platform.storage import ObsSettings, ObsStorage  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_moto(port: int) -> None:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    while True:
        time.sleep(3600)


def serve_delay_proxy(port: int, target_port: int, one_way_seconds: float) -> None:
    """Forward TCP to target_port, holding every chunk one_way_seconds in each direction (order kept)."""

    async def pipe(reader, writer):
        loop = asyncio.get_running_loop()
        pending: asyncio.Queue = asyncio.Queue()

        async def deliver():
            while (item := await pending.get()) is not None:
                due, data = item
                await asyncio.sleep(max(0.0, due - loop.time()))
                writer.write(data)
                await writer.drain()
            writer.close()

        sender = asyncio.create_task(deliver())
        while data := await reader.read(1 << 16):
            pending.put_nowait((loop.time() + one_way_seconds, data))
        pending.put_nowait(None)
        await sender

    async def handle(client_reader, client_writer):
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer),
                             return_exceptions=True)

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        await server.serve_forever()

    asyncio.run(main())


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def sequential_upload(client, bucket: str, source: Path, prefix: str) -> None:
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        response = client.putFile(bucket, f"{prefix}/{path.relative_to(source).as_posix()}", str(path))
        assert response.status < 300, response.errorCode


def sequential_download(client, bucket: str, prefix: str, destination: Path) -> None:
    marker = None
    while True:
        listing = client.listObjects(bucket, prefix=f"{prefix}/", marker=marker, max_keys=1000)
        for item in listing.body.contents:
            target = destination / item.key[len(prefix) + 1:]
            target.parent.mkdir(parents=True, exist_ok=True)
            response = client.getObject(bucket, item.key, downloadPath=str(target))
            assert response.status < 300, response.errorCode
        if not listing.body.is_truncated:
            return
        marker = listing.body.next_marker or listing.body.contents[-1].key


def measure(name: str, files: int, total_bytes: int, action) -> dict:
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    return {"case": name, "seconds": round(seconds, 3), "files_per_s": round(files / seconds, 1),
            "mb_per_s": round(total_bytes / 1e6 / seconds, 1)}


def run_cases(store: ObjectStore, trees: dict[str, Path], work: Path, threads: int, label: str) -> list[dict]:
    env = store.env(WRN_STORAGE_THREADS=str(threads), WRN_MULTIPART_THRESHOLD_MB="16", WRN_PART_SIZE_MB="8")
    storage = ObsStorage(ObsSettings.from_env(env), ACCESS_KEY, SECRET_KEY)
    client = storage._client  # the same SDK client, driven the plain way for the baseline
    results = []
    for case, tree in trees.items():
        files = [p for p in tree.rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        bucket = store.new_bucket()
        seq_up = measure(f"{label} {case} upload sequential", len(files), size,
                         lambda: sequential_upload(client, bucket, tree, "seq"))
        par_up = measure(f"{label} {case} upload parallel", len(files), size,
                         lambda: storage.upload_tree(tree, f"obs://{bucket}/par"))
        seq_down = measure(f"{label} {case} download sequential", len(files), size,
                           lambda: sequential_download(client, bucket, "seq", work / f"{case}-seq"))
        par_down = measure(f"{label} {case} download parallel", len(files), size,
                           lambda: storage.download_tree(f"obs://{bucket}/par", work / f"{case}-par"))
        for seq, par in ((seq_up, par_up), (seq_down, par_down)):
            par["speedup_vs_sequential"] = round(seq["seconds"] / par["seconds"], 2)
            results += [seq, par]
        shutil.rmtree(work / f"{case}-seq")
        shutil.rmtree(work / f"{case}-par")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-files", type=int, default=6)
    parser.add_argument("--big-mb", type=int, default=30)
    parser.add_argument("--small-files", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()

    moto_port, proxy_port = free_port(), free_port()
    processes = [multiprocessing.Process(target=serve_moto, args=(moto_port,), daemon=True),
                 multiprocessing.Process(target=serve_delay_proxy, args=(proxy_port, moto_port,
                                                                         args.latency_ms / 2000), daemon=True)]
    for process in processes:
        process.start()
    work = Path(tempfile.mkdtemp(prefix="wrn-bench-storage-"))
    results = []
    try:
        wait_for_port(moto_port)
        wait_for_port(proxy_port)
        trees = {"big": work / "big", "small": work / "small"}
        for i in range(args.big_files):
            (trees["big"] / "train").mkdir(parents=True, exist_ok=True)
            (trees["big"] / "train" / f"data_batch_{i}.bin").write_bytes(os.urandom(args.big_mb * 1024 * 1024))
        for i in range(args.small_files):
            (trees["small"] / f"d{i % 20:02d}").mkdir(parents=True, exist_ok=True)
            (trees["small"] / f"d{i % 20:02d}" / f"f{i:05d}.bin").write_bytes(os.urandom(2048))
        direct = ObjectStore(endpoint=f"http://127.0.0.1:{moto_port}")
        delayed = ObjectStore(endpoint=f"http://127.0.0.1:{proxy_port}")
        results += run_cases(direct, trees, work, args.threads, "loopback")
        results += run_cases(delayed, trees, work, args.threads, f"rtt{args.latency_ms:g}ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for process in processes:
            process.terminate()
    print(f"{'case':40} {'seconds':>8} {'files/s':>9} {'MB/s':>8} {'speedup':>8}")
    for r in results:
        print(f"{r['case']:40} {r['seconds']:8.2f} {r['files_per_s']:9.1f} {r['mb_per_s']:8.1f} "
              f"{r.get('speedup_vs_sequential', ''):>8}")
    print(json.dumps({"benchmark": "storage", "threads": args.threads, "latency_ms": args.latency_ms,
                      "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
