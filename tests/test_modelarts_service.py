"""Models and real-time services on ModelArts: service files, their dry-run bodies, and the real SDK's signing and
HTTP client on the wire against a local stand-in of the v1 model/service API and of a service's URL; the package
upload goes to the S3-protocol server through the project's storage layer.

The stand-in answers as the API reference documents (support.huaweicloud.com/intl/en-us/api-modelarts/):
"Creating an AI Application" (POST /v1/{project_id}/models -> {"model_id"}), "Querying AI Application Details"
(GET .../models/{id}: model_status publishing -> published), "Deploying Services" (POST /v1/{project_id}/services ->
{"service_id", "resource_ids"}), "Querying Service Details" (GET .../services/{id}: status deploying (progress) ->
running, access_address, error_msg on failed); the service URL answers a multipart `images` POST
("Accessing a Real-Time Service Through AK/SK-based Authentication"). Its prediction answer is a stand-in: what a
real service answers is the model package's own business (customize_service.py).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

import pytest

from apistandin import RecordingServer
from conftest import ROOT, run_cli, run_in_process
from wrn.cli import submit_main
from wrn.platform.modelarts.model_package import open_package
from wrn.platform.modelarts.service_spec import load_service
from wrn.platform.modelarts.spec import JobError

SERVICES = ROOT / "modelarts" / "services"
AK, SK, PROJECT = "AKSTANDIN12345", "SKstandinSecret987", "0b1d2e3f4a5b"
TOKEN = "MIIstandinTokenValue0042"
PNG = bytes.fromhex("89504e470d0a1a0a") + b"stand-in image bytes"


def make_package(root: Path, model_type: str | None = "PyTorch", runtime: str | None = "python3.7") -> Path:
    """A small model package as `wrn.cli package` lays it out (config.json, customize_service.py, model, helper)."""
    model = root / "model"
    (model / "wrn_serving").mkdir(parents=True)
    config = {"model_algorithm": "image_classification", "apis": [{"url": "/", "method": "post"}]}
    config.update({k: v for k, v in (("model_type", model_type), ("runtime", runtime)) if v})
    (model / "config.json").write_text(json.dumps(config))
    (model / "customize_service.py").write_text("from model_service.model_service import SingleNodeService\n")
    (model / "wrn.onnx").write_bytes(b"\x08\x07onnx-bytes" * 100)
    (model / "wrn_serving" / "__init__.py").write_text("")
    return root


def signature_is_valid(request: dict, sk: str = SK) -> bool:
    """Recompute the SDK-HMAC-SHA256 signature from what arrived (signed headers, path, query, body)."""
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.sdk_request import SdkRequest
    from huaweicloudsdkcore.signer.signer import Signer

    authorization = request["headers"].get("Authorization", "")
    signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    headers = {k: v for k, v in request["headers"].items() if k.lower() in signed}
    url = urlparse(request["path"])
    again = SdkRequest(method=request["method"], schema="http", host=request["headers"]["Host"], resource_path=url.path,
                       query_params=parse_qsl(url.query), header_params=headers, body=request["raw"])
    Signer(BasicCredentials(AK, sk)).sign(again)
    return again.header_params["Authorization"] == authorization


class ModelArtsStandIn(RecordingServer):
    """The v1 model/service API and a service URL, recording every request."""

    request_id = "req-standin-2"

    def __init__(self, model_statuses=("publishing", "published"), service_statuses=("deploying", "running"),
                 service_error: str = "", predict_status: int = 200, unavailable_reads: int = 0) -> None:
        self.model_statuses, self.service_statuses = list(model_statuses), list(service_statuses)
        self.service_error, self.predict_status = service_error, predict_status
        self.unavailable_reads = unavailable_reads  # service reads answered 503 first (a gateway hiccup)
        super().__init__()

    def answer(self, request: dict) -> tuple[int, dict]:
        method, path, service = request["method"], request["path"], f"/v1/{PROJECT}/services/f76f20ba-service"
        if (method, path) == ("POST", f"/v1/{PROJECT}/models"):
            return 200, {"model_id": "7feb7235-model"}
        if (method, path) == ("POST", f"/v1/{PROJECT}/services"):
            return 200, {"service_id": "f76f20ba-service", "resource_ids": []}
        if (method, path) == ("POST", "/v1/infers/f76f20ba-service"):
            return self._predict(request)
        if (method, path) == ("GET", f"/v1/{PROJECT}/models/7feb7235-model"):
            return 200, {"model_id": "7feb7235-model", "model_status": self._next(self.model_statuses)}
        if (method, path) == ("GET", service):
            if self.unavailable_reads:
                self.unavailable_reads -= 1
                return 503, {"error_code": "APIG.0203", "error_msg": "Backend unavailable"}
            return 200, self._service_details(self._next(self.service_statuses))
        if (method, path) == ("PUT", service) and request["body"] == {"status": "stopped"}:
            self.service_statuses = ["stopped"]
            return 200, {}
        if (method, path) == ("DELETE", service):
            return 200, {}
        return 404, {"error_code": "ModelArts.0000" if method != "DELETE" else "ModelArts.3502",
                     "error_msg": f"no route {method} {path}"}

    @staticmethod
    def _next(statuses: list[str]) -> str:
        return statuses.pop(0) if len(statuses) > 1 else statuses[0]

    def _service_details(self, status: str) -> dict:
        details = {"service_id": "f76f20ba-service", "service_name": "wrn-cifar10", "status": status}
        if status == "deploying":
            details["progress"] = 40
        if status in ("running", "concerning"):
            details["access_address"] = f"{self.endpoint}/v1/infers/f76f20ba-service"
        if status == "failed":
            details["error_msg"] = self.service_error
        return details

    def _predict(self, request: dict) -> tuple[int, dict]:
        from requests_toolbelt.multipart.decoder import MultipartDecoder

        if self.predict_status != 200:
            return self.predict_status, {"error_code": "ModelArts.4503", "error_msg": "images: not an image file"}
        parts = MultipartDecoder(request["raw"], request["headers"]["Content-Type"]).parts
        request["parts"] = [(p.headers[b"Content-Disposition"].decode(), p.content) for p in parts]
        return 200, {"predicted_label": "cat", "scores": [["cat", 0.91], ["dog", 0.05]]}

    def env(self) -> dict:
        return {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK, "HUAWEICLOUD_SDK_PROJECT_ID": PROJECT,
                "MODELARTS_ENDPOINT": self.endpoint, "MODELARTS_X_AUTH_TOKEN": ""}


@pytest.fixture
def standin():
    server = ModelArtsStandIn()
    yield server
    server.stop()


def submit(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """modelarts/submit.py ARGS run in this process (its own subprocess test is
    test_the_submit_script_itself_prints_the_body_and_exits_2_on_a_bad_definition)."""
    status, out, err = run_in_process(submit_main, *args, env=env)
    return subprocess.CompletedProcess(["modelarts/submit.py", *args], status, out, err)


def dry_run(*args: str, env: dict | None = None) -> dict:
    done = submit(*args, "--dry-run", env={"HUAWEICLOUD_SDK_REGION": "cn-north-4", "OBS_ENDPOINT": "", **(env or {})})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# ---- service files and their bodies ------------------------------------------------------------------------------

def test_every_service_definition_is_listed_and_valid():
    assert sorted(p.stem for p in SERVICES.glob("*.yaml")) == ["wrn_cifar10_cpu"]
    for path in SERVICES.glob("*.yaml"):
        spec = load_service(path, variables={"OBS_BUCKET": "team-bucket"})
        assert spec.model_source.startswith("obs://team-bucket/") and spec.specification


def test_deploy_dry_run_bodies_field_by_field(tmp_path):
    package = make_package(tmp_path / "OUT")
    bodies = dry_run("deploy", str(SERVICES / "wrn_cifar10_cpu.yaml"), "--package", str(package),
                     "--var", "OBS_BUCKET=team-bucket")
    assert bodies["upload"] == {"from": str(package / "model"), "to": "obs://team-bucket/wrn/models/wrn-cifar10/1.0.0/model/",
                                "files": ["config.json", "customize_service.py", "wrn.onnx", "wrn_serving/__init__.py"]}
    # "Creating an AI Application": model_name, model_version, source_location (the folder holding model/, as the
    # https address the reference's example uses), model_type and runtime (here from the package's config.json).
    assert bodies["model"] == {"model_name": "wrn-cifar10", "model_version": "1.0.0",
                               "source_location": "https://team-bucket.obs.cn-north-4.myhuaweicloud.com/wrn/models/wrn-cifar10/1.0.0",
                               "model_type": "PyTorch", "runtime": "python3.7",
                               "description": "WideResNet CIFAR-10 image classifier (ONNX Runtime on CPU)"}
    # "Deploying Services": a real-time service, one config entry taking all traffic.
    assert bodies["service"] == {"service_name": "wrn-cifar10", "infer_type": "real-time",
                                 "description": "CIFAR-10 classes of an image file sent as images",
                                 "config": [{"model_id": "<model_id of the created model>",
                                             "specification": "modelarts.vm.cpu.2u", "instance_count": 1,
                                             "weight": 100}]}


def test_the_submit_script_itself_prints_the_body_and_exits_2_on_a_bad_definition(tmp_path):
    """The other tests run submit in-process; this one runs modelarts/submit.py as a user does."""
    env = {"HUAWEICLOUD_SDK_REGION": "cn-north-4", "OBS_ENDPOINT": ""}
    package = make_package(tmp_path / "OUT")
    done = run_cli("modelarts/submit.py", "deploy", str(SERVICES / "wrn_cifar10_cpu.yaml"), "--package", str(package),
                   "--var", "OBS_BUCKET=team-bucket", "--dry-run", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["model"]["model_name"] == "wrn-cifar10"
    bad = run_cli("modelarts/submit.py", "deploy", str(SERVICES / "wrn_cifar10_cpu.yaml"), "--package", str(package),
                  "--var", "OBS_BUCKET=team-bucket", "--set", "service.instance_count=0", "--dry-run", env=env)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        f"error: {SERVICES / 'wrn_cifar10_cpu.yaml'}: service.instance_count 0 must be an integer 1-128 (instances of "
        "the model)"], bad.stderr


def test_service_options_in_the_body_and_model_id_without_package(tmp_path):
    bodies = dry_run("deploy", str(SERVICES / "wrn_cifar10_cpu.yaml"), "--model-id", "0e07b41b-existing",
                     "--var", "OBS_BUCKET=team-bucket", "--var", "MA_SERVICE_STOP_HOURS=3",
                     "--var", "MA_SERVICE_POOL=pool-7f3a2b", "--var", "MA_SERVICE_INSTANCES=2",
                     "--set", "service.envs.OMP_NUM_THREADS=2", "--set", "service.specification=modelarts.vm.cpu.8u")
    assert set(bodies) == {"service"}  # an existing model: nothing to upload or create
    assert bodies["service"] == {"service_name": "wrn-cifar10", "infer_type": "real-time",
                                 "description": "CIFAR-10 classes of an image file sent as images",
                                 "pool_name": "pool-7f3a2b",
                                 "schedule": [{"type": "stop", "time_unit": "HOURS", "duration": 3}],
                                 "config": [{"model_id": "0e07b41b-existing", "specification": "modelarts.vm.cpu.8u",
                                             "instance_count": 2, "weight": 100, "envs": {"OMP_NUM_THREADS": "2"}}]}


def test_model_dry_run_source_location_from_the_obs_endpoint_and_type_from_the_file(tmp_path):
    package = make_package(tmp_path / "OUT", model_type=None, runtime=None)
    bodies = dry_run("model", str(SERVICES / "wrn_cifar10_cpu.yaml"), "--package", str(package / "model"),
                     "--var", "OBS_BUCKET=team-bucket", "--set", "model.model_type=MindSpore",
                     "--var", "MODEL_VERSION=2.1.10",
                     env={"OBS_ENDPOINT": "https://obs.ap-southeast-3.myhuaweicloud.com"})
    assert set(bodies) == {"upload", "model"}
    assert bodies["model"]["source_location"] == ("https://team-bucket.obs.ap-southeast-3.myhuaweicloud.com/"
                                                  "wrn/models/wrn-cifar10/2.1.10")
    assert bodies["model"]["model_type"] == "MindSpore" and "runtime" not in bodies["model"]
    assert bodies["model"]["model_version"] == "2.1.10"


def test_dry_run_redacts_credentials(tmp_path):
    package = make_package(tmp_path / "OUT")
    done = submit("deploy", str(SERVICES / "wrn_cifar10_cpu.yaml"), "--package", str(package), "--dry-run",
                  "--var", "OBS_BUCKET=team-bucket", "--set", f"model.description=key {AK}",
                  env={"HUAWEICLOUD_SDK_REGION": "cn-north-4", "HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK})
    assert done.returncode == 0, done.stderr
    assert AK not in done.stdout and SK not in done.stdout and '"description": "key ***"' in done.stdout


@pytest.mark.parametrize("sets,message", [
    (["model.name="], "field 'model.name' is required"),
    (["model.name=" + "x" * 65], "model.name '" + "x" * 65 + "' must be 1-64 letters, digits, '-' and '_'"),
    (["model.name=bad name"], "model.name 'bad name' must be 1-64 letters, digits, '-' and '_'"),
    (["model.version=1.0"], "model.version '1.0' must be Digit.Digit.Digit"),
    (["model.version=01.0.0"], "model.version '01.0.0' must be Digit.Digit.Digit"),
    (["model.version=1.100.0"], "model.version '1.100.0' must be Digit.Digit.Digit"),
    (["model.source=/local/folder"], "model.source: '/local/folder' is not an obs:// or s3:// URL"),
    (["model.description=a<b"], "model.description must be at most 100 characters without &!'\"<>= (it has <)"),
    (["model.description=" + "d" * 101], "(it has 101)"),
    (["model.framework=x"], "unknown field 'model.framework'"),
    (["service.name=bad name"], "service.name 'bad name' must be 1-64 letters, digits, '-' and '_'"),
    (["service.name=模型-1"], None),
    (["service.description=a+b"], "service.description must be at most 100 characters"),
    (["service.specification="], "field 'service.specification' is required"),
    (["service.specification=custom"], "service.specification 'custom' needs a custom_spec"),
    (["service.instance_count=0"], "service.instance_count 0 must be an integer 1-128"),
    (["service.instance_count=129"], "service.instance_count 129 must be an integer 1-128"),
    (["service.auto_stop_hours=0"], "service.auto_stop_hours 0 must be an integer >= 1"),
    (["service.pool_name=no such pool"], "service.pool_name 'no such pool' must be a dedicated pool's id"),
    (["service.envs=x"], "service.envs must be a mapping"),
    (["service.envs.OBS_SECRET_ACCESS_KEY=x"], "credentials never live in service files"),
    (["service.replicas=2"], "unknown field 'service.replicas'"),
    (["extra=1"], "unknown field 'extra'"),
    (["service=x"], "'service' must be a mapping"),
])
def test_invalid_service_definitions_are_one_line_errors(sets, message):
    if message is None:  # Chinese letters are allowed ("Deploying Services": service_name)
        assert load_service(SERVICES / "wrn_cifar10_cpu.yaml", sets, {"OBS_BUCKET": "team-bucket"}).service_name
        return
    with pytest.raises(JobError) as err:
        load_service(SERVICES / "wrn_cifar10_cpu.yaml", sets, {"OBS_BUCKET": "team-bucket"})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_missing_variable_and_credential_value_are_refused(tmp_path):
    done = submit("deploy", str(SERVICES / "wrn_cifar10_cpu.yaml"), "--dry-run", env={"OBS_BUCKET": ""})
    assert done.returncode == 2 and "variable ${OBS_BUCKET} is not set" in done.stderr
    done = submit("deploy", str(SERVICES / "wrn_cifar10_cpu.yaml"), "--dry-run", "--var", "OBS_BUCKET=team-bucket",
                  "--set", f"service.envs.PLAIN={SK}", env={"HUAWEICLOUD_SDK_SK": SK})
    assert done.returncode == 2 and "credentials never live in service files" in done.stderr and SK not in done.stderr


@pytest.mark.parametrize("damage,message", [
    (lambda m: (m / "customize_service.py").unlink(), "customize_service.py is missing"),
    (lambda m: (m / "config.json").unlink(), "config.json is missing"),
    (lambda m: (m / "wrn_serving" / "config.json").write_text("{}"), "wrn_serving/config.json is a second config.json"),
    (lambda m: (m / "config.json").write_text("{not json"), "config.json: not valid JSON"),
    (lambda m: (m / "config.json").write_text("[1]"), "config.json: expected a JSON object"),
])
def test_malformed_packages_are_refused(tmp_path, damage, message):
    package = make_package(tmp_path / "OUT")
    damage(package / "model")
    done = submit("model", str(SERVICES / "wrn_cifar10_cpu.yaml"), "--package", str(package), "--dry-run",
                  "--var", "OBS_BUCKET=team-bucket", env={"HUAWEICLOUD_SDK_REGION": "cn-north-4"})
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_package_folder_and_model_type_rules(tmp_path):
    with pytest.raises(JobError, match="no model/ folder"):
        open_package(tmp_path)
    package = make_package(tmp_path / "OUT")
    done = submit("model", str(SERVICES / "wrn_cifar10_cpu.yaml"), "--package", str(package), "--dry-run",
                  "--var", "OBS_BUCKET=team-bucket", "--set", "model.model_type=TensorFlow",
                  env={"HUAWEICLOUD_SDK_REGION": "cn-north-4"})
    assert done.returncode == 2 and "model.model_type 'TensorFlow' disagrees with the package's config.json" in done.stderr
    untyped = make_package(tmp_path / "OUT2", model_type=None)
    done = submit("model", str(SERVICES / "wrn_cifar10_cpu.yaml"), "--package", str(untyped), "--dry-run",
                  "--var", "OBS_BUCKET=team-bucket", env={"HUAWEICLOUD_SDK_REGION": "cn-north-4"})
    assert done.returncode == 2 and "model.model_type is not given and the package's config.json has none" in done.stderr
    done = submit("deploy", str(SERVICES / "wrn_cifar10_cpu.yaml"), "--package", str(package), "--model-id", "x",
                  "--dry-run", "--var", "OBS_BUCKET=team-bucket")
    assert done.returncode == 2 and "not both" in done.stderr


# ---- on the wire --------------------------------------------------------------------------------------------------

def test_deploy_uploads_creates_waits_and_prints_the_url(standin, obs_env, object_store, tmp_path):
    bucket = object_store.new_bucket()
    package = make_package(tmp_path / "OUT")
    args = ("deploy", str(SERVICES / "wrn_cifar10_cpu.yaml"), "--package", str(package), "--var", f"OBS_BUCKET={bucket}")
    done = submit(*args, "--poll", "0.05", env={**obs_env, **standin.env()})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{standin.endpoint}/v1/infers/f76f20ba-service"
    assert "model 7feb7235-model: publishing" in done.stderr and "service f76f20ba-service: deploying (40%)" in done.stderr
    prefix = "wrn/models/wrn-cifar10/1.0.0/model/"
    assert sorted(object_store.keys(bucket, prefix)) == [prefix + f for f in
                                                          ("config.json", "customize_service.py", "wrn.onnx",
                                                           "wrn_serving/__init__.py")]
    assert object_store.read(bucket, prefix + "wrn.onnx") == (package / "model" / "wrn.onnx").read_bytes()

    expected = dry_run(*args, env=obs_env)
    posts = [r for r in standin.requests if r["method"] == "POST"]
    assert [r["path"] for r in posts] == [f"/v1/{PROJECT}/models", f"/v1/{PROJECT}/services"]
    assert posts[0]["body"] == {**expected["model"], "source_location": f"{obs_env['OBS_ENDPOINT'].split('://')[0]}://"
                                f"{bucket}.{obs_env['OBS_ENDPOINT'].split('://')[1]}/wrn/models/wrn-cifar10/1.0.0"}
    assert posts[1]["body"] == {**expected["service"],
                                "config": [{**expected["service"]["config"][0], "model_id": "7feb7235-model"}]}
    gets = [r["path"] for r in standin.requests if r["method"] == "GET"]
    assert gets == [f"/v1/{PROJECT}/models/7feb7235-model"] * 2 + [f"/v1/{PROJECT}/services/f76f20ba-service"] * 2
    for request in standin.requests:  # every call signed as the SDK signs, and the signature holds
        assert request["headers"]["Authorization"].startswith(f"SDK-HMAC-SHA256 Access={AK}")
        assert signature_is_valid(request) and SK not in json.dumps(request["headers"])

    status = submit("service", "f76f20ba-service", env=standin.env())
    assert status.stdout.strip() == f"f76f20ba-service  wrn-cifar10  running  {standin.endpoint}/v1/infers/f76f20ba-service"


def test_a_package_already_in_obs_is_the_models_source(standin, obs_env, object_store, tmp_path):
    """`wrn.cli package --train_url obs://...` writes the package to OBS: deploy creates the model from there."""
    from wrn.platform.storage import storage_for

    bucket = object_store.new_bucket()
    package = make_package(tmp_path / "OUT")
    storage_for(f"obs://{bucket}").upload_tree(package, f"obs://{bucket}/exports/wrn16_4")
    keys_before = object_store.keys(bucket)
    args = ("deploy", str(SERVICES / "wrn_cifar10_cpu.yaml"), "--package", f"obs://{bucket}/exports/wrn16_4/model",
            "--var", f"OBS_BUCKET={bucket}")
    plan = dry_run(*args, env=obs_env)
    assert set(plan) == {"model", "service"}  # nothing to upload
    host = obs_env["OBS_ENDPOINT"].split("://")[1]
    assert plan["model"]["source_location"] == f"http://{bucket}.{host}/exports/wrn16_4"
    assert plan["model"]["model_type"] == "PyTorch" and plan["model"]["runtime"] == "python3.7"  # its config.json
    done = submit(*args, "--poll", "0.05", env={**obs_env, **standin.env()})
    assert done.returncode == 0, done.stderr
    assert "uploaded" not in done.stderr and object_store.keys(bucket) == keys_before
    posts = [r for r in standin.requests if r["method"] == "POST"]
    assert posts[0]["body"] == plan["model"] and posts[1]["body"]["config"][0]["model_id"] == "7feb7235-model"
    storage_for(f"obs://{bucket}").upload_tree(package, f"obs://{bucket}/broken",
                                               include=lambda rel: not rel.endswith("customize_service.py"))
    broken = submit("deploy", str(SERVICES / "wrn_cifar10_cpu.yaml"), "--package", f"obs://{bucket}/broken",
                    "--var", f"OBS_BUCKET={bucket}", "--dry-run", env=obs_env)
    assert broken.returncode == 2 and f"obs://{bucket}/broken/model/: customize_service.py is missing" in broken.stderr
    empty = submit("deploy", str(SERVICES / "wrn_cifar10_cpu.yaml"), "--package", f"obs://{bucket}/nothing",
                   "--var", f"OBS_BUCKET={bucket}", "--dry-run", env=obs_env)
    assert empty.returncode == 2 and "no model package there" in empty.stderr


def test_model_command_prints_the_model_id_and_refuses_a_foreign_destination(standin, obs_env, object_store, tmp_path):
    bucket = object_store.new_bucket()
    package = make_package(tmp_path / "OUT")
    args = ("model", str(SERVICES / "wrn_cifar10_cpu.yaml"), "--package", str(package), "--var", f"OBS_BUCKET={bucket}",
            "--poll", "0.05")
    done = submit(*args, env={**obs_env, **standin.env()})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "7feb7235-model"
    assert [r["path"] for r in standin.requests if r["method"] == "POST"] == [f"/v1/{PROJECT}/models"]
    again = submit(*args, env={**obs_env, **standin.env()})  # the same package again: same files, allowed
    assert again.returncode == 0, again.stderr
    (package / "model" / "wrn.onnx").rename(package / "model" / "other.onnx")
    mixed = submit(*args, env={**obs_env, **standin.env()})
    assert mixed.returncode == 2 and "wrn/models/wrn-cifar10/1.0.0/model/wrn.onnx is not in the package" in mixed.stderr
    assert "use a new model.source" in mixed.stderr


@pytest.mark.parametrize("server,message", [
    (dict(model_statuses=("publishing", "building_failed")), "model 7feb7235-model is building_failed"),
    (dict(service_statuses=("deploying", "failed"), service_error="Insufficient resources in the pool."),
     "service f76f20ba-service is failed: Insufficient resources in the pool. (model 7feb7235-model was created and "
     "stays: deploy it again with --model-id 7feb7235-model)"),
    (dict(service_statuses=("waiting",)), "service f76f20ba-service is still waiting after 0.3 s"),
])
def test_failed_and_timed_out_deployments_are_one_line_errors(obs_env, object_store, tmp_path, server, message):
    standin = ModelArtsStandIn(**server)
    try:
        done = submit("deploy", str(SERVICES / "wrn_cifar10_cpu.yaml"), "--package", str(make_package(tmp_path / "OUT")),
                      "--var", f"OBS_BUCKET={object_store.new_bucket()}", "--poll", "0.05", "--timeout", "0.3",
                      env={**obs_env, **standin.env()})
    finally:
        standin.stop()
    assert done.returncode == 2 and f"error: {message}" in done.stderr
    assert "Traceback" not in done.stderr and SK not in done.stderr
    assert len([line for line in done.stderr.splitlines() if line.startswith("error:")]) == 1


@pytest.mark.parametrize("unavailable,ends", [(3, "ok"), (4, "error")])
def test_status_reads_that_fail_are_asked_again_three_times(obs_env, object_store, tmp_path, unavailable, ends):
    standin = ModelArtsStandIn(unavailable_reads=unavailable)
    try:
        done = submit("deploy", str(SERVICES / "wrn_cifar10_cpu.yaml"), "--package", str(make_package(tmp_path / "OUT")),
                      "--var", f"OBS_BUCKET={object_store.new_bucket()}", "--poll", "0.05",
                      env={**obs_env, **standin.env()})
    finally:
        standin.stop()
    assert "reading service f76f20ba-service: HTTP 503 APIG.0203 Backend unavailable" in done.stderr
    assert done.stderr.count("asking again") == 3
    if ends == "ok":
        assert done.returncode == 0 and done.stdout.strip().endswith("/v1/infers/f76f20ba-service")
    else:
        assert done.returncode == 2 and "error: reading service f76f20ba-service: HTTP 503" in done.stderr
        assert "model 7feb7235-model was created and stays" in done.stderr


def test_a_concerning_service_is_deployed_with_a_warning(obs_env, object_store, tmp_path):
    """"Querying Service Details": concerning = running, some backend instances malfunction."""
    standin = ModelArtsStandIn(service_statuses=("deploying", "concerning"))
    try:
        done = submit("deploy", str(SERVICES / "wrn_cifar10_cpu.yaml"), "--package", str(make_package(tmp_path / "OUT")),
                      "--var", f"OBS_BUCKET={object_store.new_bucket()}", "--poll", "0.05",
                      env={**obs_env, **standin.env()})
    finally:
        standin.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{standin.endpoint}/v1/infers/f76f20ba-service"
    assert "some of its instances unhealthy (concerning)" in done.stderr


def test_stop_and_delete_a_service(standin):
    """"Updating Service Configurations" (PUT {"status": "stopped"}) and "Deleting a Service" (DELETE)."""
    stopped = submit("stop-service", "f76f20ba-service", env=standin.env())
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == "f76f20ba-service  wrn-cifar10  stopped  -"
    deleted = submit("delete-service", "f76f20ba-service", env=standin.env())
    assert deleted.returncode == 0 and deleted.stdout.strip() == "service f76f20ba-service deleted"
    calls = [(r["method"], r["path"], r.get("body")) for r in standin.requests]
    assert calls == [("PUT", f"/v1/{PROJECT}/services/f76f20ba-service", {"status": "stopped"}),
                     ("GET", f"/v1/{PROJECT}/services/f76f20ba-service", None),
                     ("DELETE", f"/v1/{PROJECT}/services/f76f20ba-service", None)]
    assert all(signature_is_valid(r) for r in standin.requests)
    missing = submit("delete-service", "no-such-service", env=standin.env())
    assert missing.returncode == 2 and "deleting service no-such-service: HTTP 404 ModelArts.3502" in missing.stderr


def test_a_model_needs_a_package(standin):
    no_type = submit("model", str(SERVICES / "wrn_cifar10_cpu.yaml"), "--var", "OBS_BUCKET=team-bucket",
                     env={**standin.env(), "OBS_ENDPOINT": "https://obs.cn-north-4.myhuaweicloud.com"})
    assert no_type.returncode == 2 and "model.model_type is not given and no --package to read it from" in no_type.stderr
    typed = submit("deploy", str(SERVICES / "wrn_cifar10_cpu.yaml"), "--var", "OBS_BUCKET=team-bucket",
                   "--set", "model.model_type=PyTorch",
                   env={**standin.env(), "OBS_ENDPOINT": "https://obs.cn-north-4.myhuaweicloud.com"})
    assert typed.returncode == 2 and "a model needs --package" in typed.stderr and "or --model-id" in typed.stderr
    assert standin.requests == []


def test_api_errors_name_status_code_and_request_id(standin):
    done = submit("service", "no-such-service", env=standin.env())
    assert done.returncode == 2 and "reading service no-such-service: HTTP 404 ModelArts.0000" in done.stderr
    assert "request id req-standin-2" in done.stderr and len(done.stderr.strip().splitlines()) == 1


# ---- predict ------------------------------------------------------------------------------------------------------

def test_predict_sends_the_image_as_images_signed_with_ak_sk(standin, tmp_path):
    image = tmp_path / "cat.png"
    image.write_bytes(PNG)
    done = submit("predict", f"{standin.endpoint}/v1/infers/f76f20ba-service", str(image), env=standin.env())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"predicted_label": "cat", "scores": [["cat", 0.91], ["dog", 0.05]]}
    (request,) = standin.requests
    assert request["path"] == "/v1/infers/f76f20ba-service"
    assert request["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
    # the documented AK/SK call: x-sdk-content-sha256 UNSIGNED-PAYLOAD, signed, X-Sdk-Date
    assert request["headers"]["X-Sdk-Content-Sha256"] == "UNSIGNED-PAYLOAD" and request["headers"]["X-Sdk-Date"]
    assert request["headers"]["Authorization"].startswith(f"SDK-HMAC-SHA256 Access={AK}")
    assert "x-sdk-content-sha256" in request["headers"]["Authorization"] and signature_is_valid(request)
    assert not signature_is_valid(request, sk="another-secret")
    ((disposition, content),) = request["parts"]
    assert disposition == 'form-data; name="images"; filename="cat.png"' and content == PNG


def test_predict_with_a_token(standin, tmp_path):
    image = tmp_path / "cat.jpg"
    image.write_bytes(PNG)
    done = submit("predict", f"{standin.endpoint}/v1/infers/f76f20ba-service", str(image),
                  env={**standin.env(), "HUAWEICLOUD_SDK_AK": "", "HUAWEICLOUD_SDK_SK": "", "MODELARTS_X_AUTH_TOKEN": TOKEN})
    assert done.returncode == 0, done.stderr
    (request,) = standin.requests
    assert request["headers"]["X-Auth-Token"] == TOKEN and "Authorization" not in request["headers"]
    assert request["parts"][0][0] == 'form-data; name="images"; filename="cat.jpg"'


def test_predict_without_credentials_for_a_local_service(standin, tmp_path):
    image = tmp_path / "cat.png"
    image.write_bytes(PNG)
    done = submit("predict", f"{standin.endpoint}/v1/infers/f76f20ba-service", str(image), "--no-auth",
                  env={**standin.env(), "HUAWEICLOUD_SDK_AK": "", "HUAWEICLOUD_SDK_SK": ""})
    assert done.returncode == 0, done.stderr
    (request,) = standin.requests
    assert "Authorization" not in request["headers"] and "X-Auth-Token" not in request["headers"]
    assert request["parts"][0][1] == PNG


def test_predict_errors_are_one_line(tmp_path):
    server = ModelArtsStandIn(predict_status=400)
    image = tmp_path / "notes.txt"
    image.write_text("not an image")
    url = f"{server.endpoint}/v1/infers/f76f20ba-service"
    try:
        rejected = submit("predict", url, str(image), env=server.env())
        big = tmp_path / "big.png"
        big.write_bytes(b"\0" * (12 * 1024 * 1024 + 1))
        too_big = submit("predict", url, str(big), env=server.env())
        no_credentials = submit("predict", url, str(image), env={**server.env(), "HUAWEICLOUD_SDK_AK": ""})
        bad_url = submit("predict", "ftp://example/x", str(image), env=server.env())
        missing = submit("predict", url, str(tmp_path / "none.png"), env=server.env())
    finally:
        server.stop()
    refused = server.httpd.server_address[1]
    unreachable = submit("predict", f"http://127.0.0.1:{refused}/v1/infers/x", str(image), env=server.env())
    assert rejected.returncode == 2 and f"{url} answered HTTP 400" in rejected.stderr and "not an image file" in rejected.stderr
    assert too_big.returncode == 2 and "at most 12 MB; set MODELARTS_X_AUTH_TOKEN" in too_big.stderr
    assert no_credentials.returncode == 2 and "no credentials for the service" in no_credentials.stderr
    assert bad_url.returncode == 2 and "expected the service's access address" in bad_url.stderr
    assert missing.returncode == 2 and "none.png does not exist" in missing.stderr
    assert unreachable.returncode == 2 and "ConnectionError" in unreachable.stderr
    for done in (rejected, too_big, no_credentials, bad_url, missing, unreachable):
        assert len(done.stderr.strip().splitlines()) == 1 and SK not in done.stderr
