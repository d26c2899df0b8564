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
    if spec.tensorboard_log_dir:
        algorithm["summary"] = {"log_type": "tensorboard", "log_dir": {"pfs": {"pfs_path": api_path(
            spec.tensorboard_log_dir)}}}
    metadata: dict = {"name": spec.name, "description": spec.description}
    if spec.annotations:
        metadata["annotations"] = dict(spec.annotations)
    resource: dict = {"flavor_id": spec.flavor_id} if spec.flavor_id else {}
    resource["node_count"] = spec.node_count
    if spec.pool_id:
        resource["pool_id"] = spec.pool_id
    job_spec: dict = {"resource": resource}
    if spec.log_export:
        job_spec["log_export_path"] = {"obs_url": spec.log_export}  # the documented form: obs://bucket/path/
    if spec.auto_stop_hours:
        job_spec["auto_stop"] = {"time_unit": "HOURS", "duration": spec.auto_stop_hours}
    return {"kind": "job", "metadata": metadata, "algorithm": algorithm, "spec": job_spec}


def sdk_job(body: dict):
    """The same body as the SDK's model objects."""
    from huaweicloudsdkmodelarts.v1 import (AutoStop, Input, InputDataInfo, InputDataInfoObs, Job, JobAlgorithm,
                                            JobEngine, JobMetadata, LogDir, LogExportPath, Output, Parameters,
                                            PFSSummary, Remote, RemoteObs, Spec, SpecResource, Summary)

    algorithm = body["algorithm"]
    job_spec = body["spec"]
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
            environments=algorithm["environments"],
            summary=(Summary(log_type=algorithm["summary"]["log_type"],
                             log_dir=LogDir(pfs=PFSSummary(**algorithm["summary"]["log_dir"]["pfs"])))
                     if "summary" in algorithm else None)),
        spec=Spec(resource=SpecResource(**job_spec["resource"]),
                  log_export_path=(LogExportPath(**job_spec["log_export_path"]) if "log_export_path" in job_spec
                                   else None),
                  auto_stop=AutoStop(**job_spec["auto_stop"]) if "auto_stop" in job_spec else None))
