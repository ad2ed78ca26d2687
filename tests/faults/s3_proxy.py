"""An HTTP reverse proxy in front of the S3 server that injects S3-style faults.

Clients use the proxy's `endpoint_url` as their S3 endpoint. Requests are forwarded unchanged
(method, path, query, headers including Host, body), so SigV4 signatures made for the proxy's
address stay valid. Faults, set at runtime and drawn from one seeded random stream (the same seed
gives the same sequence of decisions):

- `error_rate`: answer 500 InternalError or 503 SlowDown with an S3 XML body, without forwarding;
- `reset_rate`: close the connection without answering, either before forwarding (the request
  never reached S3) or after it (S3 applied it, the client never hears so);
- `delay_rate` / `delay`: wait `delay` seconds before forwarding;
- `refuse`: close the listening socket (connections are refused) and drop every request arriving
  on an already open connection; S3 itself keeps its data;
- `deny`: answer 403 AccessDenied, without forwarding, to every request ("all") or to every write
  ("writes": PUT and POST), as S3 does when a policy or credentials lose their permission;
- `configure(..., method=, path_contains=)`: inject the error, reset and delay faults only into
  requests with that method and/or a path containing that text (others are forwarded untouched),
  e.g. GETs of the journal keys.

`counts()` tells what the proxy did: requests, forwarded (answered by S3 untouched), error_500,
error_503, reset_before, reset_after (forwarded, answer dropped), delayed, refused, denied.
"""

import http.client
import random
import socket
import struct
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "expect",
    }
)
ERRORS = {
    "error_500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "error_503": (503, "SlowDown", "Please reduce your request rate."),
    "denied": (403, "AccessDenied", "Access Denied"),
}
DENIALS = {
    "all": frozenset({"GET", "PUT", "POST", "DELETE", "HEAD"}),
    "writes": frozenset({"PUT", "POST"}),
}


def error_body(code: str, message: str) -> bytes:
    request_id = uuid.uuid4().hex[:16].upper()
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{request_id}</RequestId><HostId>fault-proxy</HostId></Error>"
    ).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, proxy: "S3FaultProxy") -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", port), _Handler)


class _Dropped(Exception):
    """The proxy decided to close this connection without an answer."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    upstream: http.client.HTTPConnection | None = None

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the counts say what happened."""

    def do_GET(self) -> None:
        self._proxy()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def finish(self) -> None:
        self._close_upstream()
        super().finish()

    def _proxy(self) -> None:
        proxy = self.server.proxy
        body = self._read_body()
        try:
            fault = proxy._decide(self.command, self.path)
            if fault in ERRORS:
                status, code, message = ERRORS[fault]
                self._answer(
                    status, [("Content-Type", "application/xml")], error_body(code, message)
                )
                return
            if fault == "reset_before":
                raise _Dropped
            status, headers, payload = self._forward(body)
            if fault == "reset_after":
                raise _Dropped
            self._answer(status, headers, payload)
        except _Dropped:
            self._drop()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        headers = {
            key: value for key, value in self.headers.items() if key.lower() not in HOP_BY_HOP
        }
        if body or self.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        try:
            return self._exchange(headers, body)
        except (http.client.HTTPException, OSError):
            self._close_upstream()  # S3 may have closed a kept-alive connection: one fresh try
        try:
            return self._exchange(headers, body)
        except (http.client.HTTPException, OSError):
            self._close_upstream()
            raise _Dropped from None

    def _exchange(
        self, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        if self.upstream is None:
            host, port = self.server.proxy.upstream
            self.upstream = http.client.HTTPConnection(host, port, timeout=60)
        self.upstream.request(self.command, self.path, body=body, headers=headers)
        response = self.upstream.getresponse()
        payload = response.read()
        kept = [
            (key, value) for key, value in response.getheaders() if key.lower() not in HOP_BY_HOP
        ]
        return response.status, kept, payload

    def _close_upstream(self) -> None:
        if self.upstream is not None:
            self.upstream.close()
            self.upstream = None

    def _answer(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response_only(status)
        has_length = False
        for key, value in headers:
            if key.lower() == "content-length":
                has_length = True
                if self.command != "HEAD":
                    value = str(len(payload))
            if key.lower() not in ("server", "date"):
                self.send_header(key, value)
        if not has_length:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        self.wfile.flush()

    def _drop(self) -> None:
        """Close with a TCP reset: the client sees the connection die with no answer."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class S3FaultProxy:
    """A fault-injecting reverse proxy for one S3 endpoint on a free loopback port."""

    def __init__(self, upstream_url: str, seed: int = 0) -> None:
        parts = urlsplit(upstream_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.error_rate = 0.0
        self.reset_rate = 0.0
        self.delay_rate = 0.0
        self.delay = 0.0
        self.method: str | None = None
        self.path_contains: str | None = None
        self._denied: frozenset[str] = frozenset()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._refusing = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "S3FaultProxy":
        self._listen()
        return self

    def stop(self) -> None:
        self._close()

    def __enter__(self) -> "S3FaultProxy":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def configure(
        self,
        error_rate: float = 0.0,
        reset_rate: float = 0.0,
        delay_rate: float = 0.0,
        delay: float = 0.0,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> None:
        """Set every fault rate at once (0 to 1 each; at most 1 together for errors and resets),
        for the requests `method` and `path_contains` select (every request when both are None)."""
        for name, value in (
            ("error_rate", error_rate),
            ("reset_rate", reset_rate),
            ("delay_rate", delay_rate),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} {value} is not between 0 and 1")
        if error_rate + reset_rate > 1.0:
            raise ValueError("error_rate + reset_rate must not exceed 1")
        with self._lock:
            self.error_rate, self.reset_rate, self.delay_rate, self.delay = (
                error_rate,
                reset_rate,
                delay_rate,
                delay,
            )
            self.method, self.path_contains = method, path_contains

    @property
    def deny(self) -> str | None:
        return next((name for name, methods in DENIALS.items() if methods == self._denied), None)

    @deny.setter
    def deny(self, value: str | None) -> None:
        """ "all": 403 AccessDenied to every request; "writes": to PUTs and POSTs; None: stop."""
        if value is not None and value not in DENIALS:
            raise ValueError(f"deny {value!r} is not one of {sorted(DENIALS)} or None")
        with self._lock:
            self._denied = DENIALS[value] if value else frozenset()

    @property
    def refuse(self) -> bool:
        return self._refusing

    @refuse.setter
    def refuse(self, value: bool) -> None:
        """True: close the listening socket (an outage); False: listen again on the same port."""
        if value == self._refusing:
            return
        self._refusing = value
        if value:
            self._close()
        else:
            self._listen()

    @contextmanager
    def outage(self) -> Iterator[None]:
        """Refuse connections for the duration of the `with` block."""
        self.refuse = True
        try:
            yield
        finally:
            self.refuse = False

    def refuse_for(self, seconds: float) -> threading.Thread:
        """Start an outage of `seconds` in the background; join the returned thread to wait for its end."""

        def run() -> None:
            with self.outage():
                time.sleep(seconds)

        thread = threading.Thread(target=run, name="s3-proxy-outage", daemon=True)
        thread.start()
        return thread

    def counts(self) -> Counter[str]:
        """How many requests arrived, were forwarded, and met each fault."""
        with self._lock:
            return Counter(self._counts)

    def _listen(self) -> None:
        for _ in range(50):
            try:
                self._server = _Server(self.port, self)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise OSError(f"could not listen on 127.0.0.1:{self.port} again")
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="s3-proxy", daemon=True
        )
        self._thread.start()

    def _close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _decide(self, method: str, path: str) -> str | None:
        """The fault for the next request (None: forward it), drawn under one lock so that a
        sequence of requests meets a seed-determined sequence of faults; delays happen here too."""
        with self._lock:
            self._counts["requests"] += 1
            if self._refusing:
                self._counts["refused"] += 1
                raise _Dropped
            if method in self._denied:
                self._counts["denied"] += 1
                return "denied"
            if (self.method and method != self.method) or (
                self.path_contains and self.path_contains not in path
            ):
                self._counts["forwarded"] += 1
                return None
            roll, delay_roll, which = (
                self._random.random(),
                self._random.random(),
                self._random.random(),
            )
            delay = self.delay if delay_roll < self.delay_rate else 0.0
            if delay:
                self._counts["delayed"] += 1
            if roll < self.error_rate:
                fault: str | None = "error_500" if which < 0.5 else "error_503"
            elif roll < self.error_rate + self.reset_rate:
                fault = "reset_after" if which < 0.5 else "reset_before"
            else:
                fault = None
            self._counts[fault or "forwarded"] += 1
        if delay:
            time.sleep(delay)
        return fault
