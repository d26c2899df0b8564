"""A local HTTP server that records every request and answers JSON, the base of the ModelArts API stand-ins."""

from __future__ import annotations

import http.server
import json
import threading


class RecordingServer:
    """Each request is recorded as {method, path, headers, raw, body (parsed JSON or None)}; `answer(request)`
    (a subclass's) returns the status and the JSON payload, sent with an X-Request-Id like the real API's."""

    request_id = "req-standin"

    def __init__(self) -> None:
        self.requests: list[dict] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                is_json = self.headers.get("Content-Type", "").startswith("application/json")
                request = {"method": self.command, "path": self.path, "headers": dict(self.headers), "raw": raw,
                           "body": json.loads(raw) if raw and is_json else None}
                owner.requests.append(request)
                status, payload = owner.answer(request)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Request-Id", owner.request_id)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # stop() waits for serve_forever's next poll: 0.05 s rather than the default 0.5 s at every stand-in's end
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def answer(self, request: dict) -> tuple[int, dict]:
        raise NotImplementedError

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
