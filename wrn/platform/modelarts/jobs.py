"""What modelarts/submit.py does with a job definition: create the training job (or show its request) and upload the
code it runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

from wrn.platform.modelarts.api import ModelArtsApi, describe
from wrn.platform.modelarts.request import request_body
from wrn.platform.modelarts.spec import load_job
from wrn.platform.modelarts.upload import CODE_ROOT, upload_code


def submit_job(job_file: str | Path, *, sets: Sequence[str], variables: Mapping[str, str], dry_run: bool) -> str:
    """The created job in one console-style line; with `dry_run` the request body as JSON instead (no network)."""
    body = request_body(load_job(job_file, list(sets), variables))
    if dry_run:
        return json.dumps(body, indent=2)
    return describe(ModelArtsApi().create(body))


def upload_job_code(job_file: str | Path, *, sets: Sequence[str], variables: Mapping[str, str],
                    root: Path = CODE_ROOT) -> str:
    """Upload the code folder under `root` to the job's code_dir; one line says how much went where."""
    spec = load_job(job_file, list(sets), variables)
    count, size = upload_code(spec, root)
    return f"uploaded {count} files ({size / 1e6:.2f} MB) to {spec.code_dir}"
