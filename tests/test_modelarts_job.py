"""Job definitions, their dry-run request bodies, and the SDK path against a local stand-in of the ModelArts API."""

from __future__ import annotations

import json
import subprocess

import pytest

from apistandin import RecordingServer
from conftest import ROOT, run_cli, run_in_process
from wrn.cli import submit_main
from wrn.platform.modelarts.api import ModelArtsApi
from wrn.platform.modelarts.spec import JobError, load_job
from wrn.platform.modelarts.upload import code_files

JOBS = ROOT / "modelarts" / "jobs"
VARS = {"OBS_BUCKET": "team-bucket"}
# "Creating a Training Job" (v2 API reference), JobMetadata.annotations; the SDK's JobMetadata lists the same keys.
RESTART_POLICY = {"fault-tolerance/job-retry-num": "3", "fault-tolerance/job-unconditional-retry": "true",
                  "fault-tolerance/hang-retry": "true"}
ENGINE = {"engine_name": "Ascend-Powered-Engine",
          "engine_version": "mindspore_2.3.0-cann_8.0.rc2-py_3.9-euler_2.10.7-aarch64-snt9b"}


def submit(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`modelarts/submit.py ARGV` run in this process, its exit status and output as a subprocess's: the script's own
    start is the tests that call run_cli (a missing variable, a signed submit)."""
    status, out, err = run_in_process(submit_main, *argv, env=env)
    return subprocess.CompletedProcess(["modelarts/submit.py", *argv], status, out, err)


def dry_run(name: str, *extra: str) -> dict:
    """The request body `modelarts/submit.py submit --dry-run` prints, run in this process (the script's own
    subprocesses are the tests that call run_cli)."""
    status, out, err = run_in_process(submit_main, "submit", str(JOBS / f"{name}.yaml"), "--var",
                                      "OBS_BUCKET=team-bucket", "--dry-run", *extra)
    assert status == 0, err
    return json.loads(out)


def test_every_job_definition_is_listed_and_valid():
    assert sorted(p.stem for p in JOBS.glob("*.yaml")) == ["eval", "export_air", "export_mindir",
                                                            "wrn40_10_16p_2nodes", "wrn40_10_16p_2nodes_msrun",
                                                            "wrn40_10_1p", "wrn40_10_8p"]
    for path in JOBS.glob("*.yaml"):
        spec = load_job(path, variables=VARS)
        assert "team-bucket" in spec.code_dir and "SECRET" not in path.read_text().upper()


@pytest.mark.parametrize("name,flavor,nodes,output", [
    ("wrn40_10_1p", "modelarts.kat1.xlarge", 1, "/team-bucket/wrn/runs/wrn40_10_1p/"),
    ("wrn40_10_8p", "modelarts.kat1.8xlarge", 1, "/team-bucket/wrn/runs/wrn40_10_8p/"),
    ("wrn40_10_16p_2nodes", "modelarts.kat1.8xlarge", 2, "/team-bucket/wrn/runs/wrn40_10_16p_2nodes/"),
])
def test_training_job_dry_run_field_by_field(name, flavor, nodes, output):
    body = dry_run(name)
    assert body["kind"] == "job"
    assert body["metadata"]["name"] == name.replace("_", "-") and "WideResNet-40-10" in body["metadata"]["description"]
    algorithm = body["algorithm"]
    assert algorithm["code_dir"] == "/team-bucket/wrn/code/"
    assert algorithm["boot_file"] == "/team-bucket/wrn/code/modelarts/train.py"
    assert algorithm["engine"] == ENGINE
    parameters = {p["name"]: p["value"] for p in algorithm["parameters"]}
    assert parameters["config"] == "wrn40_10" and parameters["resume"] == "auto"
    assert algorithm["inputs"] == [{"name": "data_url", "remote": {"obs": {"obs_url": "/team-bucket/cifar10/"}}}]
    assert algorithm["outputs"] == [{"name": "train_url", "remote": {"obs": {"obs_url": output}}}]
    assert algorithm["environments"] == {"WRN_SCRATCH_DIR": "/cache/wrn"}
    assert body["spec"] == {"resource": {"flavor_id": flavor, "node_count": nodes}}
    assert body["metadata"]["annotations"] == RESTART_POLICY  # a restarted job continues: resume=auto
    if nodes == 2:
        assert parameters["lr_scaling"] == "linear"


@pytest.mark.parametrize("name,file_format", [("export_mindir", "MINDIR"), ("export_air", "AIR")])
def test_export_job_dry_run(name, file_format):
    body = dry_run(name, "--var", "CHECKPOINT=obs://team-bucket/runs/x/ckpt/best.ckpt")
    parameters = {p["name"]: p["value"] for p in body["algorithm"]["parameters"]}
    assert parameters == {"config": "wrn40_10", "checkpoint": "obs://team-bucket/runs/x/ckpt/best.ckpt",
                          "file_format": file_format, "batch_size": "1"}
    assert body["algorithm"]["boot_file"] == "/team-bucket/wrn/code/modelarts/export.py"
    assert body["algorithm"]["inputs"] == []
    assert body["algorithm"]["outputs"][0]["remote"]["obs"]["obs_url"] == "/team-bucket/wrn/export/"


def test_eval_job_dry_run():
    body = dry_run("eval", "--var", "CHECKPOINT=obs://team-bucket/runs/x/ckpt/best.ckpt")
    parameters = {p["name"]: p["value"] for p in body["algorithm"]["parameters"]}
    assert parameters == {"config": "wrn40_10", "checkpoint": "obs://team-bucket/runs/x/ckpt/best.ckpt"}
    assert body["algorithm"]["boot_file"] == "/team-bucket/wrn/code/modelarts/eval.py"
    assert body["algorithm"]["inputs"] == [{"name": "data_url", "remote": {"obs": {"obs_url": "/team-bucket/cifar10/"}}}]
    assert body["algorithm"]["outputs"][0]["remote"]["obs"]["obs_url"] == "/team-bucket/wrn/eval/"


def test_overrides_and_variables():
    body = dry_run("wrn40_10_8p", "--set", "node_count=4", "--set", "hyperparameters.epochs=250",
                   "--set", "inputs.data_url=obs://other-bucket/c10/", "--set", "image_url=swr.example.com/a/b:1",
                   "--set", "engine=")
    assert body["spec"]["resource"]["node_count"] == 4
    assert {"name": "epochs", "value": "250"} in body["algorithm"]["parameters"]
    assert body["algorithm"]["inputs"][0]["remote"]["obs"]["obs_url"] == "/other-bucket/c10/"
    assert body["algorithm"]["engine"] == {"image_url": "swr.example.com/a/b:1"}


@pytest.mark.parametrize("sets,message", [
    (["name=bad name!"], "name 'bad name!' must be 1-64 characters"),
    (["name=" + "x" * 65], "must be 1-64 characters"),
    (["node_count=0"], "node_count 0 must be an integer >= 1"),
    (["inputs.data_url=obs://Bad_Bucket/x"], "inputs.data_url: 'obs://Bad_Bucket/x': bucket name"),
    (["inputs.data_url=/local/path"], "is not an obs:// or s3:// URL"),
    (["boot_file=../evil.py"], "boot_file '../evil.py' must be a path inside code_dir"),
    (["boot_file=obs://elsewhere/train.py"], "is not inside code_dir"),
    (["hyperparameters.widen=4"], "unknown config key 'widen' (value '4'); did you mean 'widen_factor'?"),
    (["hyperparameters.epochs=many"], "config key 'epochs' has value 'many', expected an integer"),
    (["environments.OBS_SECRET_ACCESS_KEY=x"], "credentials never live in job files"),
    (["flavour=x"], "unknown field 'flavour'"),
])
def test_invalid_definitions_are_clear_errors(sets, message):
    with pytest.raises(JobError) as err:
        load_job(JOBS / "wrn40_10_8p.yaml", sets, VARS)
    assert message in str(err.value)


def test_restart_policy_pool_log_export_and_auto_stop_in_the_body():
    body = dry_run("wrn40_10_1p", "--var", "MA_RETRIES=5", "--var", "MA_POOL_ID=pool-7f3a2b", "--set", "flavor_id=",
                   "--var", "MA_LOG_EXPORT=obs://team-bucket/wrn/logs/1p", "--var", "MA_AUTO_STOP_HOURS=48",
                   "--set", "restart.unconditional=false", "--set", "annotations.tensorboard/enable=true")
    assert body["metadata"]["annotations"] == {"fault-tolerance/job-retry-num": "5", "fault-tolerance/hang-retry": "true",
                                               "tensorboard/enable": "true"}
    # "Creating a Training Job": SpecResource.pool_id (flavor_id optional in a pool), LogExportPath.obs_url in the
    # documented obs://example/path form, AutoStop {time_unit: HOURS, duration}.
    assert body["spec"] == {"resource": {"node_count": 1, "pool_id": "pool-7f3a2b"},
                            "log_export_path": {"obs_url": "obs://team-bucket/wrn/logs/1p/"},
                            "auto_stop": {"time_unit": "HOURS", "duration": 48}}
    pooled_with_flavor = dry_run("wrn40_10_8p", "--var", "MA_POOL_ID=pool-7f3a2b", "--var",
                                 "MA_FLAVOR_8P=modelarts.pool.visual.8xlarge")
    assert pooled_with_flavor["spec"]["resource"] == {"flavor_id": "modelarts.pool.visual.8xlarge", "node_count": 1,
                                                      "pool_id": "pool-7f3a2b"}
    no_policy = dry_run("eval", "--set", "restart.on_failure=2")
    assert no_policy["metadata"]["annotations"] == {"fault-tolerance/job-retry-num": "2"}
    assert "annotations" not in dry_run("eval")["metadata"]


@pytest.mark.parametrize("sets,message", [
    (["restart.on_failure=0", "restart.on_hang=false"], "restart.unconditional needs restart.on_failure"),
    (["restart.on_failure=", "restart.unconditional=false"], "restart.on_hang needs restart.on_failure"),
    (["restart.on_failure=200"], "restart.on_failure 200 must be an integer 0-128"),
    (["restart.on_failure=-1"], "restart.on_failure -1 must be an integer 0-128"),
    (["restart.on_failure=three"], "restart.on_failure 'three' must be an integer 0-128"),
    (["restart.on_hang=maybe"], "restart.on_hang 'maybe' must be true or false"),
    (["restart.retries=3"], "restart.retries: unknown; fields: on_failure, unconditional, on_hang"),
    (["restart=3"], "restart must be a mapping"),
    (["annotations.fault-tolerance/job-retry-num=2"], "disagrees with restart (3): give it once"),
    (["annotations=x"], "annotations must be a mapping"),
    (["pool_id=pool with spaces"], "pool_id 'pool with spaces' must be a dedicated pool's id"),
    (["flavor_id="], "field 'flavor_id' is required (or pool_id"),
    (["log_export=/local/logs"], "log_export: '/local/logs' is not an obs:// or s3:// URL"),
    (["log_export=obs://Bad_Bucket/logs"], "log_export: 'obs://Bad_Bucket/logs': bucket name"),
    (["auto_stop_hours=0"], "auto_stop_hours 0 must be an integer >= 1"),
    (["auto_stop_hours=1.5"], "auto_stop_hours 1.5 must be an integer >= 1"),
    (["auto_stop_hours=true"], "auto_stop_hours True must be an integer >= 1"),
    (["annotations.SECRET_TOKEN=abc"], "credentials never live in job files"),
    (["tensorboard_log_dir=runs/tb"], "tensorboard_log_dir: 'runs/tb' is not an obs:// or s3:// URL"),
])
def test_malformed_job_fields_are_refused_in_one_line(sets, message):
    with pytest.raises(JobError) as err:
        load_job(JOBS / "wrn40_10_8p.yaml", sets, VARS)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_missing_variable_names_it():
    done = run_cli("modelarts/submit.py", "submit", str(JOBS / "wrn40_10_1p.yaml"), "--dry-run",
                   env={"OBS_BUCKET": ""})
    assert done.returncode == 2 and "variable ${OBS_BUCKET} is not set" in done.stderr


def test_code_upload_selection_excludes_tests_caches_and_outputs(tmp_path):
    files = [p.relative_to(ROOT).as_posix() for p in code_files(ROOT)]
    assert "modelarts/train.py" in files and "wrn/configs/wrn40_10.yaml" in files and "wrn/run/train.py" in files
    assert not [f for f in files if f.startswith(("tests/", ".venv/", "bench/")) or "__pycache__" in f]


def test_upload_code_to_obs(obs_env, object_store):
    bucket = object_store.new_bucket()
    done = submit("upload-code", str(JOBS / "wrn40_10_1p.yaml"), "--var", f"OBS_BUCKET={bucket}", env=obs_env)
    assert done.returncode == 0, done.stderr
    keys = object_store.keys(bucket)
    assert "wrn/code/modelarts/train.py" in keys and "wrn/code/wrn/configs/demo.yaml" in keys
    assert not [k for k in keys if "/tests/" in k or k.endswith(".pyc")]


# ---- the SDK path against a local stand-in of the ModelArts endpoint ------------------------------------------

class StandIn(RecordingServer):
    """Answers like the documented v2 API and records what it received (for signature and body checks)."""

    request_id = "req-standin-1"

    def __init__(self, create_status: int = 201, error: dict | None = None, unavailable_reads: int = 0) -> None:
        self.create_status, self.error, self.unavailable_reads = create_status, error, unavailable_reads
        super().__init__()

    def answer(self, request: dict) -> tuple[int, dict]:
        path = request["path"]
        if request["method"] == "POST":
            if path.endswith("/training-jobs"):
                if self.error is not None:
                    return self.create_status, self.error
                return 201, {"kind": "job", "metadata": {"id": "3faf5c03-aaa1", "name":
                             request["body"]["metadata"]["name"]}, "status": {"phase": "Creating"}}
            return 202, {"metadata": {"id": "3faf5c03-aaa1"}, "status": {"phase": "Terminating"}}
        if "/logs/preview" in path and self.unavailable_reads:
            self.unavailable_reads -= 1
            return 503, {"error_code": "APIG.0203", "error_msg": "Backend unavailable"}
        if "/logs/preview" in path:
            return 200, {"content": "epoch 1/300 step 100/1562 loss 2.01\n"}
        if path.endswith("training-job-flavors") or "training-job-flavors?" in path:
            return 200, {"total_count": 1, "flavors": [{"flavor_id": "modelarts.kat1.8xlarge",
                                                        "flavor_name": "Ascend: 8*ascend-snt9", "flavor_type": "Ascend"}]}
        return 200, {"metadata": {"id": "3faf5c03-aaa1", "name": "wrn40-10-8p"},
                     "status": {"phase": "Completed", "duration": 3723000}}

    def env(self) -> dict:
        return {"HUAWEICLOUD_SDK_AK": "AKSTANDIN12345", "HUAWEICLOUD_SDK_SK": "SKstandinSecret987",
                "HUAWEICLOUD_SDK_PROJECT_ID": "0b1d2e3f4a5b", "MODELARTS_ENDPOINT": self.endpoint}


@pytest.fixture
def standin():
    server = StandIn()
    yield server
    server.stop()


def test_submit_sends_the_dry_run_body_signed(standin):
    done = run_cli("modelarts/submit.py", "submit", str(JOBS / "wrn40_10_8p.yaml"), "--var", "OBS_BUCKET=team-bucket",
                   env=standin.env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3faf5c03-aaa1  wrn40-10-8p  Creating"
    (request,) = standin.requests
    assert request["method"] == "POST" and request["path"] == "/v2/0b1d2e3f4a5b/training-jobs"
    assert request["headers"]["Authorization"].startswith("SDK-HMAC-SHA256 Access=AKSTANDIN12345")
    assert "Signature=" in request["headers"]["Authorization"] and request["headers"].get("X-Sdk-Date")
    assert request["body"] == dry_run("wrn40_10_8p")
    assert "SKstandinSecret987" not in json.dumps(request["headers"]) and b"SKstandinSecret987" not in request["raw"]


def test_submit_sends_the_restart_policy_pool_log_export_and_auto_stop(standin):
    extra = ["--var", "MA_POOL_ID=pool-7f3a2b", "--var", "MA_LOG_EXPORT=obs://team-bucket/wrn/logs/8p",
             "--var", "MA_AUTO_STOP_HOURS=24"]
    done = submit("submit", str(JOBS / "wrn40_10_8p.yaml"), "--var", "OBS_BUCKET=team-bucket", *extra,
                  env=standin.env())
    assert done.returncode == 0, done.stderr
    (request,) = standin.requests
    assert request["body"] == dry_run("wrn40_10_8p", *extra)  # what the SDK's model objects put on the wire
    assert request["body"]["metadata"]["annotations"] == RESTART_POLICY
    assert request["body"]["spec"] == {"resource": {"flavor_id": "modelarts.kat1.8xlarge", "node_count": 1,
                                                    "pool_id": "pool-7f3a2b"},
                                       "log_export_path": {"obs_url": "obs://team-bucket/wrn/logs/8p/"},
                                       "auto_stop": {"time_unit": "HOURS", "duration": 24}}


def test_status_logs_stop_and_flavors(standin):
    env = standin.env()
    status = submit("status", "3faf5c03-aaa1", env=env)
    assert status.stdout.strip() == "3faf5c03-aaa1  wrn40-10-8p  Completed  3723 s"
    logs = submit("logs", "3faf5c03-aaa1", "--follow", env=env)
    assert logs.returncode == 0 and "epoch 1/300 step 100/1562" in logs.stdout and "ended: Completed" in logs.stdout
    stop = submit("stop", "3faf5c03-aaa1", env=env)
    assert stop.returncode == 0
    action = [r for r in standin.requests if r["method"] == "POST"][-1]
    assert action["path"] == "/v2/0b1d2e3f4a5b/training-jobs/3faf5c03-aaa1/actions"
    assert action["body"] == {"action_type": "terminate"}
    flavors = submit("flavors", "--type", "Ascend", env=env)
    assert json.loads(flavors.stdout.splitlines()[0])["flavor_id"] == "modelarts.kat1.8xlarge"
    assert "flavor_type=Ascend" in [r for r in standin.requests if "flavors" in r["path"]][0]["path"]


@pytest.mark.parametrize("unavailable,returncode", [(3, 0), (4, 2)])
def test_following_logs_asks_again_after_failed_reads(unavailable, returncode):
    server = StandIn(unavailable_reads=unavailable)
    try:
        done = submit("logs", "3faf5c03-aaa1", "--follow", "--poll", "0.05", env=server.env())
    finally:
        server.stop()
    assert done.returncode == returncode and done.stderr.count("asking again") == 3
    assert "HTTP 503 APIG.0203 Backend unavailable" in done.stderr
    if returncode == 0:
        assert "epoch 1/300 step 100/1562" in done.stdout and "ended: Completed" in done.stdout
    else:
        assert done.stderr.strip().splitlines()[-1].startswith("error: reading the log of job 3faf5c03-aaa1: HTTP 503")


@pytest.mark.parametrize("status,error,expected", [
    (400, {"error_code": "ModelArts.2763", "error_msg": "Invalid flavor_id"}, "HTTP 400 ModelArts.2763 Invalid flavor_id"),
    (401, {"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information"},
     "HTTP 401 APIGW.0301 Incorrect IAM authentication information"),
])
def test_api_errors_are_one_line_with_status_code_and_request_id(status, error, expected):
    server = StandIn(create_status=status, error=error)
    try:
        done = submit("submit", str(JOBS / "wrn40_10_1p.yaml"), "--var", "OBS_BUCKET=team-bucket", env=server.env())
    finally:
        server.stop()
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert expected in done.stderr and "request id req-standin-1" in done.stderr
    assert "SKstandinSecret987" not in done.stderr and "Traceback" not in done.stderr


def test_missing_credentials(tmp_path):
    with pytest.raises(JobError, match="set HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK, HUAWEICLOUD_SDK_PROJECT_ID"):
        ModelArtsApi({})


def test_msrun_job_runs_the_node_launcher_on_two_nodes():
    body = dry_run("wrn40_10_16p_2nodes_msrun")
    algorithm = body["algorithm"]
    assert algorithm["boot_file"] == "/team-bucket/wrn/code/modelarts/launch.py"
    assert body["spec"] == {"resource": {"flavor_id": "modelarts.kat1.8xlarge", "node_count": 2}}
    assert algorithm["environments"] == {"WRN_SCRATCH_DIR": "/cache/wrn", "MASTER_PORT": "8118",
                                         "LOST_NODE_TIMEOUT": "120"}
    assert {p["name"]: p["value"] for p in algorithm["parameters"]}["resume"] == "auto"
    assert body["metadata"]["annotations"] == RESTART_POLICY


def test_submit_sends_the_tensorboard_log_folder_as_the_algorithms_summary(standin):
    extra = ["--var", "MA_TENSORBOARD_DIR=obs://team-pfs/wrn/runs/wrn40_10_8p/tensorboard"]
    done = submit("submit", str(JOBS / "wrn40_10_8p.yaml"), "--var", "OBS_BUCKET=team-bucket", *extra,
                  env=standin.env())
    assert done.returncode == 0, done.stderr
    (request,) = standin.requests
    assert request["body"] == dry_run("wrn40_10_8p", *extra)  # what the SDK's model objects put on the wire
    assert request["body"]["algorithm"]["summary"] == {
        "log_type": "tensorboard", "log_dir": {"pfs": {"pfs_path": "/team-pfs/wrn/runs/wrn40_10_8p/tensorboard/"}}}
    assert "summary" not in dry_run("wrn40_10_8p")["algorithm"]  # unset: no summary
