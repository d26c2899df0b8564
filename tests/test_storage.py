"""The storage layer against a real S3-protocol HTTP server, through the real OBS SDK."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from conftest import ROOT
from objectstore import ACCESS_KEY, SECRET_KEY, TOKEN, ErrorServer, start_object_store
from wrn.platform.staging import RunUploader, StagingOptions, stage_in
from wrn.platform.storage import (LocalStorage, MoxingStorage, ObsSettings, ObsStorage, RemoteUrl, StorageError,
                         reset_remote_storage, safe_relative, storage_for)

SECRETS = (ACCESS_KEY, SECRET_KEY, TOKEN)


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in str(text)


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "train/data_batch_1.bin": os.urandom(3073 * 7),
        "train/big/model.ckpt": os.urandom(13 * 1024 * 1024 + 17),  # above the 6 MB threshold: multipart
        "eval/test_batch.bin": os.urandom(3073 * 3),
        "eval/empty.txt": b"",
        "deep/a/b/c/d.txt": b"nested",
    }
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return files


def test_round_trip_of_a_nested_tree_with_multipart_and_empty_files(obs_env, object_store, tmp_path):
    bucket = object_store.new_bucket()
    files = make_tree(tmp_path / "src")
    storage = storage_for(f"obs://{bucket}/x")
    assert isinstance(storage, ObsStorage)
    up = storage.upload_tree(tmp_path / "src", f"obs://{bucket}/runs/one")
    assert up.files == 5 and up.bytes == sum(len(d) for d in files.values())
    assert object_store.keys(bucket) == {f"runs/one/{k}": len(v) for k, v in files.items()}
    assert {e.relative: e.size for e in storage.list(f"s3://{bucket}/runs/one/")} == {k: len(v) for k, v in files.items()}
    down = storage.download_tree(f"obs://{bucket}/runs/one", tmp_path / "dst")
    assert down.files == 5
    for relative, data in files.items():
        assert (tmp_path / "dst" / relative).read_bytes() == data, relative
    assert not [p for p in (tmp_path / "dst").rglob("*") if p.name.startswith(".")]
    assert storage.exists(f"obs://{bucket}/runs/one/eval/empty.txt")
    assert storage.exists(f"obs://{bucket}/runs/one")
    assert not storage.exists(f"obs://{bucket}/runs/two")


def test_download_skips_files_already_present_with_the_same_size(obs_env, object_store, tmp_path):
    bucket = object_store.new_bucket()
    make_tree(tmp_path / "src")
    storage = storage_for(f"obs://{bucket}")
    storage.upload_tree(tmp_path / "src", f"obs://{bucket}/d")
    storage.download_tree(f"obs://{bucket}/d", tmp_path / "dst")
    (tmp_path / "dst" / "deep/a/b/c/d.txt").write_bytes(b"short")
    again = storage.download_tree(f"obs://{bucket}/d", tmp_path / "dst")
    assert (again.files, again.skipped) == (1, 4)
    assert (tmp_path / "dst" / "deep/a/b/c/d.txt").read_bytes() == b"nested"


def _put_directly(bucket: str, objects: dict[str, bytes]) -> None:
    """Set-up only: objects put straight into the in-process moto server's store (1,234 uploads over HTTP take 7 s
    and are not what a listing test checks; uploads are checked above). The listing itself goes over HTTP."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    for key, body in objects.items():
        backend.put_object(bucket, key, body)


def test_listing_pages_past_1000_keys(obs_env, object_store, tmp_path):
    bucket = object_store.new_bucket()
    _put_directly(bucket, {f"many/f{i:05d}.txt": str(i).encode() for i in range(1234)})
    storage = storage_for(f"obs://{bucket}")
    entries = storage.list(f"obs://{bucket}/many")
    assert len(entries) == 1234 and len({e.relative for e in entries}) == 1234


@pytest.mark.parametrize("key", ["data/../evil.bin", "data/./x.bin", "data//x.bin"])
def test_keys_that_would_escape_the_target_folder_are_refused(obs_env, object_store, tmp_path, key):
    bucket = object_store.new_bucket()
    object_store.s3.put_object(Bucket=bucket, Key="data/ok.bin", Body=b"ok")
    object_store.s3.put_object(Bucket=bucket, Key=key, Body=b"evil")
    with pytest.raises(StorageError) as err:
        storage_for(f"obs://{bucket}").download_tree(f"obs://{bucket}/data", tmp_path / "dst")
    assert repr(key[len("data/"):]) in str(err.value) and "refused" in str(err.value)
    assert not (tmp_path / "evil.bin").exists() and not (tmp_path / "dst" / "ok.bin").exists()


def test_url_and_key_validation():
    assert RemoteUrl.parse("s3://my-bucket/a/b/") == RemoteUrl("my-bucket", "a/b")
    assert str(RemoteUrl.parse("obs://my-bucket").join("x/y")) == "obs://my-bucket/x/y"
    for bad in ("obs://B/x", "obs://ab/x", "obs://bucket/a/../b", "http://bucket/x"):
        with pytest.raises(StorageError):
            RemoteUrl.parse(bad)
    with pytest.raises(StorageError, match="absolute"):
        safe_relative("/etc/passwd", "obs://b/x")


def test_missing_bucket_and_key_are_named(obs_env, object_store, tmp_path):
    storage = storage_for("obs://x")
    with pytest.raises(StorageError, match="bucket 'no-such-bucket' does not exist") as err:
        storage.list("obs://no-such-bucket/data")
    bucket = object_store.new_bucket()
    with pytest.raises(StorageError, match=f"no object obs://{bucket}/nothing/here.ckpt"):
        storage.download_file(f"obs://{bucket}/nothing/here.ckpt", tmp_path / "here.ckpt")
    assert not list(tmp_path.iterdir())
    assert_no_secret(err.value, repr(storage))


def _obs_for(endpoint: str, **env: str) -> ObsStorage:
    from objectstore import ObjectStore

    values = ObjectStore(endpoint).env(**env)
    return ObsStorage(ObsSettings.from_env(values), ACCESS_KEY, SECRET_KEY, TOKEN)


def test_403_names_the_credential_variables_and_redacts_them(caplog):
    server = ErrorServer(403, "AccessDenied").start()
    try:
        storage = _obs_for(server.endpoint)
        with pytest.raises(StorageError) as err:
            storage.list("obs://secure-bucket/data")
    finally:
        server.stop()
    message = str(err.value)
    assert "access denied (HTTP 403 AccessDenied) to bucket 'secure-bucket'" in message
    assert "OBS_ACCESS_KEY_ID, OBS_SECRET_ACCESS_KEY, OBS_SECURITY_TOKEN" in message
    assert len(server.requests) == 1  # a 403 is not retried
    assert "Credential=" in server.requests[0] or "AWS4" in server.requests[0]  # the request really was signed
    assert_no_secret(message, repr(storage), caplog.text)


def test_5xx_is_retried_with_backoff_then_reported_with_status_code_and_request_id(caplog):
    caplog.set_level(logging.WARNING, "wrn")
    server = ErrorServer(503, "ServiceUnavailable").start()
    try:
        with pytest.raises(StorageError) as err:
            _obs_for(server.endpoint).list("obs://busy-bucket/data")
    finally:
        server.stop()
    assert "failed after 3 attempts" in str(err.value) and "HTTP 503 ServiceUnavailable" in str(err.value)
    assert "request id REQ-3" in str(err.value)
    assert len(server.requests) == 3 and caplog.text.count("retrying in") == 2
    assert_no_secret(err.value, caplog.text)


def test_transient_failures_then_success():
    server = ErrorServer(500, "InternalError", failures=2).start()
    try:
        assert _obs_for(server.endpoint).list("obs://flaky-bucket/data") == []
    finally:
        server.stop()
    assert len(server.requests) == 3


def test_server_stopped_mid_upload_retries_then_clear_error_and_local_files_intact(tmp_path, caplog):
    store = start_object_store()
    bucket = store.new_bucket()
    files = make_tree(tmp_path / "src")
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "src").rglob("*") if p.is_file()}
    storage = _obs_for(store.endpoint)
    storage.threads = 1
    original = storage.upload_file
    calls = []

    def upload_then_stop(source, location):
        original(source, location)
        calls.append(location)
        if len(calls) == 1:
            store.server.stop()

    storage.upload_file = upload_then_stop
    started = time.monotonic()
    with pytest.raises(StorageError) as err:
        storage.upload_tree(tmp_path / "src", f"obs://{bucket}/run")
    assert time.monotonic() - started < 60
    assert "failed after 3 attempts" in str(err.value) and "uploading" in str(err.value)
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "src").rglob("*") if p.is_file()}
    assert after == before and len(after) == len(files)
    assert_no_secret(err.value, caplog.text)


def test_connection_refused_is_retried_then_reported(tmp_path):
    storage = _obs_for("http://127.0.0.1:9")  # nothing listens on the discard port
    started = time.monotonic()
    with pytest.raises(StorageError, match="listing obs://some-bucket/x failed after 3 attempts") as err:
        storage.list("obs://some-bucket/x")
    assert time.monotonic() - started < 30
    assert_no_secret(err.value)


def test_missing_configuration_is_explained(monkeypatch):
    with pytest.raises(StorageError, match="no OBS endpoint: set OBS_ENDPOINT"):
        ObsStorage.from_env({})
    with pytest.raises(StorageError, match="no OBS credentials: set OBS_ACCESS_KEY_ID and OBS_SECRET_ACCESS_KEY"):
        ObsStorage.from_env({"S3_ENDPOINT": "obs.example.com"})
    settings = ObsSettings.from_env({"S3_ENDPOINT": "obs.example.com", "S3_USE_HTTPS": "0"})
    assert settings.endpoint == "http://obs.example.com" and settings.signature == "obs"
    with pytest.raises(StorageError, match="OBS_SIGNATURE='v3': expected obs, v2 or v4"):
        ObsSettings.from_env({"OBS_ENDPOINT": "https://x", "OBS_SIGNATURE": "v3"})


@pytest.fixture
def moxing_standin(monkeypatch, tmp_path):
    """The documented `mox.file` over a local folder (tests/standins/moxing), imported as `moxing`."""
    monkeypatch.syspath_prepend(str(ROOT / "tests" / "standins"))
    monkeypatch.setenv("MOXING_STANDIN_ROOT", str(tmp_path / "obs"))
    reset_remote_storage()
    import moxing

    yield moxing
    for name in ("moxing", "moxing.file"):  # later tests must not find it
        sys.modules.pop(name, None)
    reset_remote_storage()


def test_moxing_is_chosen_when_present_and_pypi_moxing_is_not(monkeypatch, moxing_standin, tmp_path, obs_env):
    assert isinstance(storage_for("obs://bucket-a/data"), MoxingStorage)
    assert isinstance(storage_for(str(tmp_path)), LocalStorage)
    # PyPI's unrelated `moxing` has no file.copy_parallel: the OBS SDK is used.
    monkeypatch.setitem(sys.modules, "moxing", types.SimpleNamespace())
    reset_remote_storage()
    assert isinstance(storage_for("obs://bucket-a/data"), ObsStorage)


def test_moxing_listing_skips_the_folders_it_names_and_stages_a_tree(moxing_standin, tmp_path):
    bucket = tmp_path / "obs" / "bucket-a"
    for name, size in (("data/train/data_batch_1.bin", 3073), ("data/eval/test_batch.bin", 6146),
                       ("data/notes/deep/readme.txt", 5)):
        (bucket / name).parent.mkdir(parents=True, exist_ok=True)
        (bucket / name).write_bytes(b"x" * size)
    (bucket / "data" / "empty").mkdir()
    assert "train" in moxing_standin.file.list_directory("obs://bucket-a/data", recursive=True)  # folders too
    storage = storage_for("obs://bucket-a/data")
    assert sorted((e.relative, e.size) for e in storage.list("obs://bucket-a/data")) == [
        ("eval/test_batch.bin", 6146), ("notes/deep/readme.txt", 5), ("train/data_batch_1.bin", 3073)]
    assert storage.list("obs://bucket-a/data/train/data_batch_1.bin") == []  # one object, not a folder
    staged = stage_in("obs://bucket-a/data", 0, StagingOptions(scratch=tmp_path / "scratch"))
    assert (staged / "train" / "data_batch_1.bin").stat().st_size == 3073 and (staged / "notes/deep").is_dir()
    (tmp_path / "x.txt").write_text("run file")
    storage.upload_file(tmp_path / "x.txt", "obs://bucket-a/out/x.txt")
    assert (bucket / "out" / "x.txt").read_text() == "run file" and storage.exists("obs://bucket-a/out/x.txt")


def test_moxing_failures_are_one_clear_error(moxing_standin, monkeypatch, tmp_path):
    (tmp_path / "obs" / "bucket-a" / "data").mkdir(parents=True)
    (tmp_path / "obs" / "bucket-a" / "data" / "f.bin").write_bytes(b"1")
    storage = storage_for("obs://bucket-a/data")

    def refuse(url, recursive=False):
        raise PermissionError(f"403 Forbidden: {url}")

    monkeypatch.setattr(moxing_standin.file, "get_size", refuse)
    with pytest.raises(StorageError, match="reading the size of obs://bucket-a/data/f.bin through MoXing failed: "
                                           "PermissionError"):
        storage.list("obs://bucket-a/data")
    monkeypatch.setattr(moxing_standin.file, "is_directory", refuse)
    with pytest.raises(StorageError, match="checking obs://bucket-a/data through MoXing failed"):
        storage.list("obs://bucket-a/data")
    with pytest.raises(StorageError, match="downloading obs://bucket-a/none.ckpt through MoXing failed: "
                                           "FileNotFoundError"):
        storage.download_file("obs://bucket-a/none.ckpt", tmp_path / "none.ckpt")


STAGE_SCRIPT = """
import json, sys, time
from wrn.platform.staging import StagingOptions, stage_in
from wrn.errors import WrnError
rank, location, scratch = int(sys.argv[1]), sys.argv[2], sys.argv[3]
start = time.monotonic()
try:
    path = stage_in(location, rank, StagingOptions(scratch=__import__('pathlib').Path(scratch), wait_timeout=float(sys.argv[4])))
    print(json.dumps({"rank": rank, "path": str(path), "seconds": time.monotonic() - start}))
except WrnError as exc:
    print(json.dumps({"rank": rank, "error": str(exc), "seconds": time.monotonic() - start}))
"""


def _stage_processes(env: dict, location: str, scratch: Path, ranks=(1, 2, 0), timeout: float = 60,
                     dead_endpoint_for_waiters: bool = True) -> list[dict]:
    import json

    processes = []
    for rank in ranks:
        penv = {**os.environ, **env, "WRN_LAUNCH_ID": "launch-1"}
        if rank and dead_endpoint_for_waiters:
            penv["OBS_ENDPOINT"] = "http://127.0.0.1:9"  # a waiter that touched the network would fail
        processes.append(subprocess.Popen([sys.executable, "-c", STAGE_SCRIPT, str(rank), location, str(scratch),
                                           str(timeout)], cwd=ROOT, env=penv, stdout=subprocess.PIPE, text=True))
        time.sleep(0.3 if rank else 0)
    return sorted((json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in processes),
                  key=lambda r: r["rank"])


def test_only_local_rank_0_downloads_and_the_others_wait(obs_env, object_store, tmp_path):
    bucket = object_store.new_bucket()
    make_tree(tmp_path / "src")
    storage_for(f"obs://{bucket}").upload_tree(tmp_path / "src", f"obs://{bucket}/data")
    results = _stage_processes(obs_env, f"obs://{bucket}/data", tmp_path / "scratch")
    assert [r.get("error") for r in results] == [None, None, None]
    assert len({r["path"] for r in results}) == 1
    assert (Path(results[0]["path"]) / "train/big/model.ckpt").stat().st_size == 13 * 1024 * 1024 + 17


def test_a_downloader_failure_reaches_every_waiting_rank(obs_env, object_store, tmp_path):
    bucket = object_store.new_bucket()
    results = _stage_processes(obs_env, f"obs://{bucket}/missing", tmp_path / "scratch")
    assert results[0]["error"] == f"obs://{bucket}/missing holds no files"
    for waiter in results[1:]:
        assert waiter["error"].endswith(results[0]["error"]) and "local rank 0" in waiter["error"]
        assert waiter["seconds"] < 20


def test_waiting_without_a_downloader_times_out(obs_env, tmp_path):
    results = _stage_processes(obs_env, "obs://some-bucket/data", tmp_path / "scratch", ranks=(1,), timeout=1.5)
    assert "waited 2 s for local rank 0" in results[0]["error"] and "WRN_LAUNCH_ID" in results[0]["error"]


def test_uploader_sends_finished_files_in_the_background_and_syncs_the_rest(obs_env, object_store, tmp_path):
    bucket = object_store.new_bucket()
    root = tmp_path / "run"
    (root / "ckpt").mkdir(parents=True)
    uploader = RunUploader(root, f"obs://{bucket}/run", include=lambda rel: not rel.startswith("logs/rank_"))
    (root / "ckpt" / "last.ckpt").write_bytes(b"v1")
    uploader.queue(root / "ckpt" / "last.ckpt")
    (root / "ckpt" / "last.ckpt.new").write_bytes(b"version-2")
    os.replace(root / "ckpt" / "last.ckpt.new", root / "ckpt" / "last.ckpt")
    uploader.queue(root / "ckpt" / "last.ckpt")
    (root / "summary.json").write_text("{}")  # never reported: the final sync sends it
    (root / "logs" / "rank_1").mkdir(parents=True)
    (root / "logs" / "rank_1" / "train.log").write_text("not rank 0's")
    uploader.finish()
    keys = object_store.keys(bucket)
    assert set(keys) == {"run/ckpt/last.ckpt", "run/summary.json"}
    assert object_store.read(bucket, "run/ckpt/last.ckpt") == b"version-2"


def test_final_sync_failure_keeps_the_local_copy_and_says_where(tmp_path):
    store = start_object_store()
    bucket = store.new_bucket()
    root = tmp_path / "run"
    root.mkdir()
    (root / "summary.json").write_text("{}")
    uploader = RunUploader(root, f"obs://{bucket}/run", storage=_obs_for(store.endpoint))
    store.server.stop()
    with pytest.raises(StorageError, match=f"final upload to obs://{bucket}/run failed: .* kept in {root}"):
        uploader.finish()
    assert (root / "summary.json").read_text() == "{}"
