"""The harness every loopback emulator plugs into: routing, fault injection, a control API, lifecycle.

An emulator declares routes and its environment variables; the harness serves it on 127.0.0.1 on a
free port, injects faults before the emulator sees a request, and exposes `/_sandbox/faults`
(GET, POST) and `/_sandbox/stats` (GET; POST `/_sandbox/stats/reset`) so tests and users can change
faults while it runs and check how politely a client behaved.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from metapipeline.sandbox.faults import FaultInjector, FaultSettings

log = logging.getLogger(__name__)

CONTROL_PREFIX = "/_sandbox/"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)  # named groups of the matched route

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-serialisable, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler

    @classmethod
    def of(cls, method: str, path_regex: str, handler: Handler) -> Route:
        return cls(method.upper(), re.compile(path_regex + r"/?"), handler)


class Emulator:
    """Base class: subclasses set `name`, return their routes and their environment."""

    name = "emulator"

    def routes(self) -> Iterable[Route]:
        raise NotImplementedError

    def env(self, base_url: str) -> dict[str, str]:
        raise NotImplementedError

    def before_route(self, request: Request) -> Response | None:
        """Auth and rate limits: a response here short-circuits routing."""
        return None

    def error(self, status: int, message: str) -> Response:
        return Response(status, {"error": message})

    def fault_response(self, status: int, retry_after_s: int) -> Response:
        """What the service sends when it is overloaded or failing (emulators may override)."""
        if status == 429:
            return Response(
                429, self.error(429, "Too many requests").body, {"Retry-After": str(retry_after_s)}
            )
        return Response(
            status, f"<html><body><h1>{status} Server Error</h1></body></html>".encode(), {}, "text/html"
        )


class EmulatorServer:
    """Serves one emulator on 127.0.0.1 with faults and the control API."""

    def __init__(self, emulator: Emulator, faults: FaultSettings | None = None, port: int = 0):
        self.emulator = emulator
        self.faults = FaultInjector(faults)
        self._routes = list(emulator.routes())
        self._stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None
        # Gateways answer 502, 503 and 504 alike; rotate so clients meet each.
        self._server_errors = itertools.cycle((502, 503, 504))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.emulator.name}-emulator",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread:  # shutdown() waits for serve_forever(), so only call it once serving
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def stats(self) -> dict[str, int]:
        with self._stats_lock:
            return dict(self._stats)

    def count(self, *keys: str) -> None:
        with self._stats_lock:
            self._stats.update(keys)

    def reset_stats(self) -> None:
        with self._stats_lock:
            self._stats.clear()

    def dispatch(self, request: Request) -> Response | None:
        """The response for a request, or None to drop the connection."""
        if request.path.startswith(CONTROL_PREFIX):
            return self._control(request)
        self.count("requests")
        fault = self.faults.choose(request.path, request.method)
        if fault is not None:
            self.count(f"fault_{fault}")
        if fault == "drop":
            return None
        if fault == "429":
            return self.emulator.fault_response(429, self.faults.settings.retry_after_s)
        if fault == "5xx":
            return self.emulator.fault_response(next(self._server_errors), self.faults.settings.retry_after_s)
        response = self._route(request)
        self.count(f"status_{response.status}")
        if fault == "malformed":
            whole = response.encoded() or b'{"ok": true}'
            return Response(response.status, whole[: max(1, len(whole) // 2)], response.headers)
        return response

    def _route(self, request: Request) -> Response:
        short_circuit = self.emulator.before_route(request)
        if short_circuit is not None:
            return short_circuit
        path_matched = False
        for route in self._routes:
            match = route.pattern.fullmatch(request.path)
            if not match:
                continue
            path_matched = True
            if route.method == request.method:
                request.params.update(match.groupdict())
                try:
                    return route.handler(request)
                except Exception:
                    log.exception(
                        "%s emulator failed on %s %s", self.emulator.name, request.method, request.path
                    )
                    return self.emulator.error(500, "emulator error (see the sandbox log)")
        if path_matched:
            return self.emulator.error(405, f"{request.method} is not allowed on {request.path}")
        return self.emulator.error(404, f"no route for {request.method} {request.path}")

    def _control(self, request: Request) -> Response:
        what = request.path[len(CONTROL_PREFIX) :].rstrip("/")
        if what == "faults" and request.method == "GET":
            return Response(200, self.faults.settings.to_dict())
        if what == "faults" and request.method in {"POST", "PUT"}:
            try:
                self.faults.configure(self.faults.settings.updated(request.json() or {}))
            except (ValueError, TypeError, json.JSONDecodeError) as exc:
                return Response(400, {"error": str(exc)})
            return Response(200, self.faults.settings.to_dict())
        if what == "stats" and request.method == "GET":
            return Response(200, self.stats())
        if what == "stats/reset" and request.method == "POST":
            self.reset_stats()
            return Response(200, {})
        return Response(404, {"error": f"unknown control endpoint {request.method} {request.path}"})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK stall

            def _handle(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    method=self.command,
                    path=url.path,
                    query={k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                response = server.dispatch(request)
                if response is None:
                    # A dropped connection: no status line at all, like a proxy that gave up.
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                body = response.encoded()
                self.send_response(response.status)
                if body or response.status != 204:
                    self.send_header("Content-Type", response.content_type)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("%s emulator: " + format, server.emulator.name, *args)

        return _Handler


class Sandbox:
    """A set of running emulators plus the environment that points the product at them."""

    def __init__(
        self,
        emulators: Iterable[Emulator],
        *,
        faults: dict[str, FaultSettings] | None = None,
        extra_env: dict[str, str] | None = None,
    ):
        faults = dict(faults or {})
        self.servers = {e.name: EmulatorServer(e, faults.pop(e.name, None)) for e in emulators}
        if faults:
            raise ValueError(
                f"faults for unknown emulator(s) {', '.join(faults)}; known: {', '.join(self.servers)}"
            )
        self.extra_env = dict(extra_env or {})

    def start(self) -> Sandbox:
        for server in self.servers.values():
            server.start()
        return self

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    def env(self) -> dict[str, str]:
        merged = dict(self.extra_env)
        for server in self.servers.values():
            merged.update(server.emulator.env(server.base_url))
        return merged

    def __getitem__(self, name: str) -> EmulatorServer:
        return self.servers[name]

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def free_port() -> int:
    """A loopback port nothing listens on now, for a server started by another process."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
