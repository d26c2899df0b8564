"""Send one image file to a real-time service's URL as the multipart field `images`, signed as the Huawei SDKs sign
(AK/SK) or with a token.

"Accessing a Real-Time Service Through AK/SK-based Authentication" (ModelArts inference documentation,
inference-modelarts-0024): the request is signed with the SDK-HMAC-SHA256 scheme (X-Sdk-Date, Authorization) with
the header x-sdk-content-sha256: UNSIGNED-PAYLOAD, the file goes as the form field `images`; an AK/SK-signed body
may be at most 12 MB (larger ones need token authentication) and a prediction at most 40 s. "Accessing a
Real-Time Service Through Token-based Authentication" (inference-modelarts-0023): the header X-Auth-Token.
huaweicloudsdkcore's Signer signs a multipart request exactly so (it sets UNSIGNED-PAYLOAD for non-JSON bodies).
"""

from __future__ import annotations

import json
import mimetypes
import os
from pathlib import Path
from typing import Mapping
from urllib.parse import parse_qsl, urlparse

from wrn.platform.modelarts.spec import JobError
from wrn.platform.redact import Redactor

TOKEN_ENV = "MODELARTS_X_AUTH_TOKEN"
SIGNED_BODY_LIMIT = 12 * 1024 * 1024
TIMEOUT = (10.0, 60.0)  # connect, read: the platform ends a prediction after 40 s


def predict(url: str, image: str | Path, env: Mapping[str, str] | None = None, auth: bool = True) -> tuple[int, str]:
    """POST `image` to `url`; the answer's status and text. Credentials: MODELARTS_X_AUTH_TOKEN, else
    HUAWEICLOUD_SDK_AK / _SK; none with auth=False (a local `wrn.cli serve`)."""
    import requests
    from requests_toolbelt import MultipartEncoder

    env = os.environ if env is None else env
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise JobError(f"service URL {url!r}: expected the service's access address, https://.../v1/infers/<id>")
    image = Path(image)
    if not image.is_file():
        raise JobError(f"image {image} does not exist")
    token, ak, sk = env.get(TOKEN_ENV, ""), env.get("HUAWEICLOUD_SDK_AK", ""), env.get("HUAWEICLOUD_SDK_SK", "")
    if not auth:
        token = ak = sk = ""
    elif not token and not (ak and sk):
        raise JobError(f"no credentials for the service: set {TOKEN_ENV}, or HUAWEICLOUD_SDK_AK and "
                       "HUAWEICLOUD_SDK_SK")
    if auth and not token and image.stat().st_size > SIGNED_BODY_LIMIT:
        raise JobError(f"{image} is {image.stat().st_size / 1e6:.1f} MB: an AK/SK-signed request may carry at most "
                       f"12 MB; set {TOKEN_ENV} for token authentication")
    redact = Redactor([token, ak, sk])
    mime = mimetypes.guess_type(image.name)[0] or "application/octet-stream"
    with open(image, "rb") as handle:
        encoder = MultipartEncoder(fields={"images": (image.name, handle, mime)})
        headers = {"Content-Type": encoder.content_type}
        if token:
            headers["X-Auth-Token"] = token
        elif auth:
            headers = _signed_headers(parsed, headers, encoder, ak, sk)
        try:
            response = requests.post(url, data=encoder, headers=headers, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise JobError(redact(f"sending {image.name} to {url}: {type(exc).__name__}: {exc}")) from None
    return response.status_code, response.text


def _signed_headers(parsed, headers: dict, body, ak: str, sk: str) -> dict:
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.sdk_request import SdkRequest
    from huaweicloudsdkcore.signer.signer import Signer

    request = SdkRequest(method="POST", schema=parsed.scheme, host=parsed.netloc, resource_path=parsed.path or "/",
                         query_params=parse_qsl(parsed.query), header_params=dict(headers), body=body)
    Signer(BasicCredentials(ak, sk)).sign(request)
    return request.header_params


def answer_text(status: int, text: str, url: str) -> str:
    """The service's answer for printing (one line of JSON when it is JSON); a non-2xx answer is a one-line error."""
    if not 200 <= status < 300:
        raise JobError(f"{url} answered HTTP {status}: {' '.join(text.split())[:300]}")
    try:
        return json.dumps(json.loads(text), ensure_ascii=False)
    except ValueError:
        return text
