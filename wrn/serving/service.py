"""The classifier behind a package's customize_service.py: what `_preprocess`, `_inference` and `_postprocess`
do, kept here so the inference code file stays a thin subclass of the platform's base class.

Request data arrives as ModelArts hands it to `_preprocess` ("Specifications for Writing Model Inference Code",
support.huaweicloud.com/intl/en-us/inference-modelarts/inference-modelarts-0057.html): a multipart/form-data
request as `{"images": {"cat.png": <file object>}}`, an application/json request as the parsed body, where
`{"images": "<base64 of an image file>"}` is the documented form.
"""

from __future__ import annotations

import base64
import binascii
import time
from pathlib import Path
from typing import Any, Dict

import numpy as np

from .decode import decode_image
from .errors import PackageError, RequestError
from .response import classification
from .runner import find_model, open_runner, read_labels

FIELD = "images"


class ImageClassifier:
    """The model of a package folder, its class names, and the three steps of a request."""

    def __init__(self, folder: str, threads: int | None = None) -> None:
        self.folder = Path(folder)
        self.runner = open_runner(find_model(self.folder), threads)
        self.names = read_labels(self.folder, self.runner.sidecar)
        # Warm-up, as the documented MindSpore example does ("Otherwise, the initial inference will take a long
        # time"); it also proves the class names fit the model before the first request.
        started = time.perf_counter()
        outputs = self.runner(np.zeros((32, 32, 3), np.uint8)).size
        self.warmup_seconds = time.perf_counter() - started
        if outputs != len(self.names):
            raise PackageError("model %s gives %d scores but %d class names are known (labels.json or the "
                               "sidecar's data set)" % (self.runner.path.name, outputs, len(self.names)))

    def preprocess(self, data: Any) -> np.ndarray:
        """The request's one image as the model's input batch."""
        name, content = _one_image(data)
        return self.runner.model_input(decode_image(content, name))

    def infer(self, model_input: np.ndarray) -> np.ndarray:
        return self.runner.logits(model_input)

    def answer(self, logits: np.ndarray) -> Dict[str, object]:
        return classification(logits, self.names)

    def classify(self, content: bytes, name: str = "image") -> Dict[str, object]:
        """The three steps on one image file's bytes (what a request runs, without HTTP)."""
        return self.answer(self.infer(self.runner.model_input(decode_image(content, name))))


def _one_image(data: Any):
    if isinstance(data, list) and data and all(isinstance(part, dict) for part in data):
        # the page also shows multipart data as a list of one-field dicts; its code examples use the dict form
        merged: Dict[str, Any] = {}
        for part in data:
            merged.update(part)
        data = merged
    if not isinstance(data, dict):
        raise RequestError("request body: expected a multipart form with an %r file field, or a JSON object "
                           "{\"%s\": \"<base64 image>\"}" % (FIELD, FIELD), code="bad_request")
    if FIELD not in data:
        given = ", ".join(repr(k) for k in data) or "none"
        raise RequestError("request has no %r field (fields sent: %s): send the image as the %r file field"
                           % (FIELD, given, FIELD), code="missing_field")
    value = data[FIELD]
    if isinstance(value, str):  # application/json: {"images": "<base64>"}
        try:
            return "images (base64)", base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise RequestError("field %r is text but not base64: send an image file, or its base64 in JSON"
                               % FIELD, code="invalid_image") from None
    if not isinstance(value, dict) or not value:
        raise RequestError("field %r holds no file: send an image file as the %r field of a multipart form"
                           % (FIELD, FIELD), code="missing_field")
    if len(value) != 1:
        raise RequestError("field %r holds %d files (%s): send one image per request"
                           % (FIELD, len(value), ", ".join(sorted(value))), code="too_many_files")
    ((name, handle),) = value.items()
    content = handle.read() if hasattr(handle, "read") else handle
    if not isinstance(content, (bytes, bytearray)):
        raise RequestError("field %r: expected file content" % FIELD, code="bad_request")
    return str(name), bytes(content)
