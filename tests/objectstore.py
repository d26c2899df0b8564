"""A real local S3-protocol server (moto's ThreadedMotoServer) and a tiny HTTP stand-in that answers errors."""

from __future__ import annotations

import http.server
import threading
import uuid
from dataclasses import dataclass, field

ACCESS_KEY = "AKIDWRNTESTACCESS123"
SECRET_KEY = "wrnTestSecretKey/Do+Not+Leak0987654321"
TOKEN = "wrnTestSecurityTokenValue42"


@dataclass
class ObjectStore:
    endpoint: str
    server: object = None
    _s3: object = None

    def env(self, **extra: str) -> dict[str, str]:
        return {"OBS_ENDPOINT": self.endpoint, "OBS_ACCESS_KEY_ID": ACCESS_KEY, "OBS_SECRET_ACCESS_KEY": SECRET_KEY,
                "OBS_SECURITY_TOKEN": TOKEN, "OBS_SIGNATURE": "v4", "OBS_PATH_STYLE": "true",
                "WRN_STORAGE_BACKOFF": "0.05", "WRN_STORAGE_RETRIES": "2", "WRN_OBS_SDK_RETRIES": "0",
                "WRN_OBS_TIMEOUT": "10", "WRN_MULTIPART_THRESHOLD_MB": "6", "WRN_PART_SIZE_MB": "5", **extra}

    @property
    def s3(self):
        """boto3, for test set-up and independent checks only; the code under test uses the OBS SDK."""
        if self._s3 is None:
            import boto3

            self._s3 = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                                    aws_access_key_id="setup", aws_secret_access_key="setup")
        return self._s3

    def new_bucket(self) -> str:
        name = f"wrn-{uuid.uuid4().hex[:12]}"
        self.s3.create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> dict[str, int]:
        out, token = {}, None
        while True:
            kwargs = {"Bucket": bucket, "Prefix": prefix, **({"ContinuationToken": token} if token else {})}
            page = self.s3.list_objects_v2(**kwargs)
            out.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
            if not page.get("IsTruncated"):
                return out
            token = page["NextContinuationToken"]

    def read(self, bucket: str, key: str) -> bytes:
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def start_object_store(address: str = "127.0.0.1") -> ObjectStore:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=address, port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return ObjectStore(endpoint=f"http://{host}:{port}", server=server)


@dataclass
class ErrorServer:
    """Answers every request with `status` and an S3-style error body for the first `failures` requests (all
    requests when None), then with an empty bucket listing: for 403 / 5xx / retry checks the moto server cannot
    produce on demand."""

    status: int
    code: str
    failures: int | None = None
    requests: list[str] = field(default_factory=list)
    httpd: http.server.ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> "ErrorServer":
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, body: bool = True):
                owner.requests.append(f"{self.command} {self.path} {self.headers.get('Authorization', '')}")
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                failing = owner.failures is None or len(owner.requests) <= owner.failures
                if failing:
                    payload = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{owner.code}</Code>"
                               f"<Message>stand-in error</Message><RequestId>REQ-{len(owner.requests)}</RequestId>"
                               "</Error>").encode()
                    self.send_response(owner.status)
                    self.send_header("x-amz-request-id", f"REQ-{len(owner.requests)}")
                else:
                    payload = (b"<?xml version='1.0' encoding='UTF-8'?><ListBucketResult><Name>b</Name>"
                               b"<IsTruncated>false</IsTruncated></ListBucketResult>")
                    self.send_response(200)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if body and self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = _answer

            def do_HEAD(self):
                self._answer(body=False)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
