"""Errors of a request or a model package. A request error carries the HTTP status and a short code; the model
server answers it as `{"error_code": ..., "error_msg": ...}`, the shape of ModelArts' own prediction errors
("Error ModelArts.4503 Occurred in Real-Time Service Prediction", support.huaweicloud.com troubleshooting pages).

They are not `wrn.errors.WrnError`s on purpose: a model package carries nothing of `wrn` but this folder.
"""

from __future__ import annotations


class ServingError(ValueError):
    """One line that names what is wrong and what was expected; `status` is the HTTP status to answer with."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class RequestError(ServingError):
    """The request is wrong (not the service): a 4xx answer."""

    status = 400
    code = "bad_request"


class PackageError(ServingError):
    """A model package is incomplete or inconsistent (the service cannot start)."""

    code = "bad_model_package"
