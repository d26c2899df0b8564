"""A JobSpec -> the exact body of POST /v2/{project_id}/training-jobs, and the same as the SDK's model objects."""

from __future__ import annotations

from wrn.platform.modelarts.spec import JobSpec
from wrn.platform.storage import RemoteUrl


def api_path(url: str) -> str:
    """ModelArts names OBS locations as /bucket/key (folders end with '/')."""
    parsed = RemoteUrl.parse(url)
    tail = "/" if url.endswith("/") else ""
    return f"/{parsed.bucket}/{parsed.prefix}{tail}" if parsed.prefix else f"/{parsed.bucket}/"


def request_body(spec: JobSpec) -> dict:
    """The exact body of POST /v2/{project_id}/training-jobs."""
    engine = ({"image_url": spec.image_url} if spec.image_url
              else {"engine_name": spec.engine_name, "engine_version": spec.engine_version})
    algorithm = {
        "code_dir": api_path(spec.code_dir),
        "boot_file": api_path(spec.code_dir + spec.boot_file),
        "engine": engine,
        "parameters": [{"name": k, "value": v} for k, v in spec.hyperparameters.items()],
        "inputs": [{"name": k, "remote": {"obs": {"obs_url": api_path(v)}}} for k, v in spec.inputs.items()],
        "outputs": [{"name": k, "remote": {"obs": {"obs_url": api_path(v)}}} for k, v in spec.outputs.items()],
        "environments": dict(spec.environments),
    }
    return {"kind": "job", "metadata": {"name": spec.name, "description": spec.description},
            "algorithm": algorithm, "spec": {"resource": {"flavor_id": spec.flavor_id, "node_count": spec.node_count}}}


def sdk_job(body: dict):
    """The same body as the SDK's model objects."""
    from huaweicloudsdkmodelarts.v1 import (Input, InputDataInfo, InputDataInfoObs, Job, JobAlgorithm, JobEngine,
                                            JobMetadata, Output, Parameters, Remote, RemoteObs, Spec, SpecResource)

    algorithm = body["algorithm"]
    return Job(
        kind=body["kind"],
        metadata=JobMetadata(**body["metadata"]),
        algorithm=JobAlgorithm(
            code_dir=algorithm["code_dir"], boot_file=algorithm["boot_file"], engine=JobEngine(**algorithm["engine"]),
            parameters=[Parameters(**p) for p in algorithm["parameters"]],
            inputs=[Input(name=i["name"], remote=InputDataInfo(obs=InputDataInfoObs(**i["remote"]["obs"])))
                    for i in algorithm["inputs"]],
            outputs=[Output(name=o["name"], remote=Remote(obs=RemoteObs(**o["remote"]["obs"])))
                     for o in algorithm["outputs"]],
            environments=algorithm["environments"]),
        spec=Spec(resource=SpecResource(**body["spec"]["resource"])))
