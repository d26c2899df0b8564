"""The model server stand-in: load a model package folder, answer POST / and GET health checks over HTTP.

See `wrn.serving.modelserver` for the pages each behaviour comes from ([pkg], [cfg], [code], [apig], [err],
[health]). Standard library + the package's own dependencies only, so it runs on Python 3.7 as the inference
images do.
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import json
import logging
import os
import re
import socket
import sys
import time
import traceback
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..errors import PackageError, RequestError, ServingError
from .multipart import parse_form

log = logging.getLogger("wrn.serving")

STANDIN_ROOT = Path(__file__).resolve().parent  # holds the stand-in `model_service` package
MAX_BODY_BYTES = 12 * 1024 * 1024  # [apig] API Gateway refuses larger request bodies
PREDICTION_LIMIT_SECONDS = 40.0  # [code] "the duration of a single prediction in ModelArts cannot exceed 40s"
_DRAIN_LIMIT = 256 * 1024 * 1024  # past this an oversized body is not read to its end: the connection is closed
_packages = itertools.count()


class LoadedPackage:
    """A model package's config.json and its inference code's service instance."""

    def __init__(self, folder: Path, config: Dict[str, Any], service: Any, warnings: List[str]) -> None:
        self.folder, self.config, self.service, self.warnings = folder, config, service, warnings


def dependency_problems(config: Dict[str, Any]) -> List[str]:
    """[cfg] The platform pip-installs `dependencies` before the service starts; the stand-in installs nothing and
    names each declared package that is missing or of another version than its restraint allows."""
    problems = []
    for dependency in config.get("dependencies") or []:
        for package in dependency.get("packages") or []:
            name, wanted = package.get("package_name", ""), package.get("package_version") or ""
            installed = _installed_version(name)
            if installed is None:
                problems.append("%s is not installed (config.json declares it)" % name)
                continue
            restraint = (package.get("restraint") or "").upper()
            have, want = _numbers(installed), _numbers(wanted)
            if wanted and ((restraint == "EXACT" and have != want) or (restraint == "ATLEAST" and have < want)
                           or (restraint == "ATMOST" and have > want)):
                problems.append("%s %s is installed, config.json declares %s %s" % (name, installed, restraint,
                                                                                   wanted))
    return problems


def _numbers(version: str) -> Tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def _installed_version(name: str) -> Optional[str]:
    try:
        from importlib.metadata import PackageNotFoundError, version  # Python 3.8+
    except ImportError:  # Python 3.7, as the inference images
        try:
            import pkg_resources
        except ImportError:
            return ""  # cannot tell: not reported
        try:
            return pkg_resources.get_distribution(name).version
        except pkg_resources.DistributionNotFound:
            return None
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def load_package(folder: Path) -> LoadedPackage:
    """[pkg] Check the folder, read config.json, import customize_service.py and create its service."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise PackageError("model package %s is not a folder: give the model/ folder `wrn.cli package` wrote"
                           % folder)
    for required in ("config.json", "customize_service.py"):
        if not (folder / required).is_file():
            raise PackageError("model package %s has no %s ([pkg]: a model folder holds exactly one config.json "
                               "and one customize_service.py)" % (folder, required))
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except ValueError as exc:
        raise PackageError("%s is not valid JSON: %s" % (folder / "config.json", exc)) from None
    _check_api(folder, config)
    if str(STANDIN_ROOT) not in sys.path:
        sys.path.insert(0, str(STANDIN_ROOT))  # `from model_service.model_service import SingleNodeService`
    from model_service.model_service import SingleNodeService

    # [pkg] recommends relative imports from customize_service.py, so the folder is loaded as a package of its
    # own (a unique name per load: one process may load several packages).
    package_name = "modelarts_model_%d" % next(_packages)
    package = types.ModuleType(package_name)
    package.__path__ = [str(folder)]  # type: ignore[attr-defined]
    sys.modules[package_name] = package
    spec = importlib.util.spec_from_file_location(package_name + ".customize_service",
                                                  str(folder / "customize_service.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    # The pages do not say how the child class is found; the one subclass defined in the file is taken.
    classes = [c for _, c in inspect.getmembers(module, inspect.isclass)
               if issubclass(c, SingleNodeService) and c is not SingleNodeService and c.__module__ == module.__name__]
    if len(classes) != 1:
        raise PackageError("%s defines %d child classes of SingleNodeService: expected exactly one"
                           % (folder / "customize_service.py", len(classes)))
    # [code] model_path is the local folder of the model; model_name is not documented: the folder's parent name.
    warnings = dependency_problems(config)
    service = classes[0](folder.parent.name or "model", str(folder))
    return LoadedPackage(folder, config, service, warnings)


def _check_api(folder: Path, config: Dict[str, Any]) -> None:
    """[cfg] model_algorithm and model_type are mandatory; a non-Image model declares one API, at url "/"."""
    for key in ("model_algorithm", "model_type"):
        if not isinstance(config.get(key), str) or not config[key]:
            raise PackageError("%s: the mandatory field %r is missing" % (folder / "config.json", key))
    apis = config.get("apis", [])
    if apis and (len(apis) != 1 or apis[0].get("url", "/") != "/"):
        raise PackageError("%s: apis must declare one API at url \"/\" ([cfg])" % (folder / "config.json"))


class ModelServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: Tuple[str, int], package: LoadedPackage, max_body: int = MAX_BODY_BYTES,
                 quiet: bool = True) -> None:
        self.package, self.max_body, self.quiet = package, max_body, quiet
        super().__init__(address, RequestHandler)


class RequestHandler(BaseHTTPRequestHandler):
    server: ModelServer
    protocol_version = "HTTP/1.1"  # keep-alive: ModelArts reuses its connections to the service ([err] 4503)

    def setup(self) -> None:
        super().setup()
        # The headers and the body leave in two writes: without TCP_NODELAY, Nagle's algorithm holds the body until
        # the client's delayed ACK of the headers (about 40 ms a request on Linux).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        if not self.server.quiet:
            sys.stderr.write("%s %s\n" % (self.address_string(), format % args))

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        if path in ("/", "/health"):  # [health]
            self._answer(200, {"status": "OK", "model_type": self.server.package.config.get("model_type")})
        else:
            self._answer(404, {"error_code": "not_found", "error_msg": "no such path %r: the service answers "
                               "POST / and GET /health" % path})

    def do_POST(self) -> None:  # noqa: N802
        started = time.perf_counter()
        try:
            if self.path.split("?", 1)[0] != "/":
                self.close_connection = True  # the body is left unread
                raise RequestError("no such path %r: predictions are POSTed to / ([cfg])" % self.path, status=404,
                                   code="not_found")
            data = self._request_data()
            result = self.server.package.service.inference(data)
            body = result if isinstance(result, (dict, list)) else {"result": result}
            self._answer(200, body)
        except Exception as exc:
            status = getattr(exc, "status", None)
            if isinstance(exc, ServingError) or (isinstance(status, int) and 400 <= status < 500):
                # The pages do not say how an exception of the inference code becomes an answer. The package's
                # errors (its own copy of wrn.serving.errors, another class than this server's) carry their HTTP
                # status and code: a bad request gets its 4xx, named.
                self._answer(status if isinstance(status, int) else 500,
                             {"error_code": getattr(exc, "code", "bad_request"), "error_msg": str(exc)})
                return
            # the inference code failed: a 500 for this request, the server lives on
            traceback.print_exc()
            self._answer(500, {"error_code": "inference_failed",
                               "error_msg": "%s: %s" % (type(exc).__name__, str(exc).splitlines()[0] if str(exc)
                                                        else "")})
        seconds = time.perf_counter() - started
        if seconds > PREDICTION_LIMIT_SECONDS:
            log.warning("a prediction took %.1f s: ModelArts cuts predictions off at %.0f s ([code])", seconds,
                        PREDICTION_LIMIT_SECONDS)

    def _request_data(self) -> Any:
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            self.close_connection = True
            raise RequestError("the request has no Content-Length: send the body with its length", status=411,
                               code="length_required")
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            raise RequestError("Content-Length %r is not a byte count" % length_text, code="bad_request") from None
        if length > self.server.max_body:
            self._discard(length)
            raise RequestError("request body of %d bytes is over the limit of %d bytes (%.0f MB, as ModelArts' API "
                               "Gateway): send a smaller image" % (length, self.server.max_body,
                                                                  self.server.max_body / 2 ** 20),
                               status=413, code="body_too_large")
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            raise RequestError("the body ended after %d of %d bytes" % (len(body), length), code="bad_request")
        content_type = self.headers.get("Content-Type", "")
        kind = content_type.split(";", 1)[0].strip().lower()
        if not body:
            raise RequestError("the request body is empty: send an image file as the 'images' field of a "
                               "multipart/form-data request", code="empty_body")
        if kind == "multipart/form-data":
            return parse_form(body, content_type)
        if kind == "application/json":
            try:
                return json.loads(body.decode("utf-8"))
            except ValueError as exc:
                raise RequestError("the JSON body is not valid JSON: %s" % exc, code="bad_json") from None
        raise RequestError("Content-Type %r is not accepted: send multipart/form-data with an 'images' file field "
                           "(or application/json)" % (content_type or "none"), status=415,
                           code="unsupported_content_type")

    def _discard(self, length: int) -> None:
        """Read an oversized body away so the client sees the answer rather than a reset connection."""
        if length > _DRAIN_LIMIT:
            self.close_connection = True
            return
        remaining = length
        while remaining:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                self.close_connection = True
                return
            remaining -= len(chunk)

    def _answer(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


def serve(folder: Path, host: str = "127.0.0.1", port: int = 8080, max_body: int = MAX_BODY_BYTES,
          quiet: bool = True) -> None:
    """Load the package and serve until interrupted; one JSON line on stdout says where it listens."""
    started = time.perf_counter()
    package = load_package(folder)
    server = ModelServer((host, port), package, max_body, quiet)
    for problem in package.warnings:
        print("warning: %s" % problem, file=sys.stderr, flush=True)
    classifier = getattr(package.service, "classifier", None)
    engine = getattr(getattr(classifier, "runner", None), "engine", "?")
    host_name, bound_port = server.server_address[:2]
    print(json.dumps({"serving": str(package.folder), "url": "http://%s:%d/" % (host_name, bound_port),
                      "engine": engine, "load_seconds": round(time.perf_counter() - started, 3),
                      "pid": os.getpid()}), flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
