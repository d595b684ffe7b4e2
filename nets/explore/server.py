"""The explorer's HTTP server: the page, its files and a JSON API, on 127.0.0.1 only.

    GET  /                     the page (static/index.html)
    GET  /static/<file>        explore.js, explore.css
    GET  /api/landscapes       [{key, name, formula, domain, start, minima, saddle_points,
                                 minimum_value}, ...]
    GET  /api/landscapes/<key> {key, x, y, z}: the values on a grid, for the contours
    GET  /api/optimizers       [{name, label, hyperparameters: [{name, label, default}]}, ...]
    POST /api/run              {landscape, start, steps, runs: [{optimizer, ...}]} -> trajectories
                               (see `nets.explore.runs.run_request`)

A bad request (malformed JSON, an unknown landscape or optimizer, a bad hyperparameter, too
many steps, a start outside the domain, a body over MAX_BODY bytes) gets a 400 and
`{"error": message}`; an unknown path a 404. The standard library's ThreadingHTTPServer serves
each request in a thread of its own; the compiled programs are shared.
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from nets.explore.methods import (
    LANDSCAPES,
    METHODS,
    describe_landscape,
    describe_method,
    landscape_grid,
)
from nets.explore.runs import MAX_RUNS, MAX_STEPS, Programs, RequestError, run_request

__all__ = ["HOST", "MAX_BODY", "ExplorerServer", "make_server", "serve_in_thread"]

HOST = "127.0.0.1"
MAX_BODY = 64 * 1024
"""The largest request body accepted, in bytes."""

_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/static/explore.js": ("explore.js", "text/javascript; charset=utf-8"),
    "/static/explore.css": ("explore.css", "text/css; charset=utf-8"),
}
_GRID = "/api/landscapes/"


class ExplorerServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that holds the explorer's compiled programs."""

    daemon_threads = True

    def __init__(self, port: int = 0, *, programs: Programs | None = None,
                 quiet: bool = True) -> None:
        self.programs = programs if programs is not None else Programs()
        self.quiet = quiet
        super().__init__((HOST, port), _Handler)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"


class _Handler(BaseHTTPRequestHandler):
    server: ExplorerServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        if not self.server.quiet:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, allow_nan=False).encode()
        self._send(status, body, "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        path = self.path.split("?", 1)[0]
        if path in _STATIC:
            name, content_type = _STATIC[path]
            body = resources.files("nets.explore").joinpath("static", name).read_bytes()
            self._send(HTTPStatus.OK, body, content_type)
        elif path == "/api/landscapes":
            self._json(HTTPStatus.OK, [describe_landscape(key) for key in LANDSCAPES])
        elif path.startswith(_GRID) and path[len(_GRID):] in LANDSCAPES:
            self._json(HTTPStatus.OK, landscape_grid(path[len(_GRID):]))
        elif path == "/api/optimizers":
            self._json(HTTPStatus.OK, {
                "optimizers": [describe_method(m) for m in METHODS.values()],
                "max_steps": MAX_STEPS,
                "max_runs": MAX_RUNS,
            })
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no such page: {path}")

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        payload = self._read_json()
        if payload is _UNREAD:
            return
        if path != "/api/run":
            self._error(HTTPStatus.NOT_FOUND, f"no such endpoint: {path}")
            return
        try:
            answer = run_request(payload, self.server.programs)
        except RequestError as error:
            self._error(HTTPStatus.BAD_REQUEST, str(error))
            return
        except Exception as error:  # noqa: BLE001 - the server keeps serving; the page says why
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR,
                        f"the run failed: {type(error).__name__}: {error}")
            return
        self._json(HTTPStatus.OK, answer)

    def _read_json(self) -> Any:
        """The request's JSON body, or _UNREAD after answering a bad one with a 400."""
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._error(HTTPStatus.BAD_REQUEST, "a request body with a Content-Length is needed")
            return _UNREAD
        if length > MAX_BODY:
            self.close_connection = True  # the unread body must not be parsed as a request
            self._error(HTTPStatus.BAD_REQUEST,
                        f"the request body is {length} bytes; at most {MAX_BODY} are accepted")
            return _UNREAD
        raw = self.rfile.read(length)
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            self._error(HTTPStatus.BAD_REQUEST, f"the request body is not valid JSON: {error}")
            return _UNREAD


_UNREAD = object()


def make_server(port: int = 0, *, quiet: bool = True) -> ExplorerServer:
    """An explorer server bound to 127.0.0.1:`port` (0: a free port), not yet serving."""
    return ExplorerServer(port, quiet=quiet)


def serve_in_thread(server: ExplorerServer) -> threading.Thread:
    """Serve `server` from a daemon thread (stop it with `server.shutdown()`)."""
    thread = threading.Thread(target=server.serve_forever, name="explorer", daemon=True)
    thread.start()
    return thread
