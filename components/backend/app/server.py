#!/usr/bin/env python3
"""The backend service the instances run: answers `Backend is running!` behind the load balancer.

Standard library only, and Python 3.9 compatible: it runs on Amazon Linux 2023's own python3,
so an instance needs no package download (and no internet access) to serve.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

ROOT_BODY = b"Backend is running!"
HEALTH_BODY = b"ok"
NOT_FOUND_BODY = b"Not found"
TOO_LARGE_BODY = b"Request body too large"
MAX_BODY_BYTES = 1024 * 1024
# An idle keep-alive connection must outlive the load balancer's own idle timeout (65 s, which in
# turn outlives CloudFront's 60 s origin keep-alive): if the target closes first, the ALB may send
# a request down the dying connection and answer the client 502.
IDLE_TIMEOUT_SECONDS = 75
# socketserver listens with a backlog of 5: a burst of new connections overflows it, and the
# kernel drops their SYNs, which clients retry only a second later. The kernel caps the backlog at
# net.core.somaxconn (4096 on Amazon Linux 2023).
LISTEN_BACKLOG = 1024
# Large enough for any answer of this service, so headers and body leave in one send() on flush.
WRITE_BUFFER_BYTES = 64 * 1024


class BackendHandler(BaseHTTPRequestHandler):
    server_version = "backend"
    sys_version = ""  # the Server header names no Python version
    protocol_version = "HTTP/1.1"  # keep-alive with the load balancer
    health_path = "/health"
    # The headers and the body used to leave in two small writes; Nagle's algorithm held the
    # second until the client's delayed ACK, about 40 ms per request on a kept-alive connection.
    # A buffered writer makes them one write (handle_one_request flushes it after each request)
    # and TCP_NODELAY sends that write at once.
    wbufsize = WRITE_BUFFER_BYTES
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT_SECONDS

    def handle_expect_100(self) -> bool:
        answered = super().handle_expect_100()
        self.wfile.flush()  # the client holds the body back until this interim answer arrives
        return answered

    def _respond(self, status: int, body: bytes, *, send_body: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _discard_body(self) -> bool:
        """Reads and drops a request body; False (after answering 413) if it is too large."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._respond(413, TOO_LARGE_BODY)
            return False
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                break
            remaining -= len(chunk)
        return True

    def _route(self, *, send_body: bool = True) -> None:
        if not self._discard_body():
            return
        path = urlsplit(self.path).path
        if path == "/":
            self._respond(200, ROOT_BODY, send_body=send_body)
        elif path == self.health_path and self.command in ("GET", "HEAD"):
            self._respond(200, HEALTH_BODY, send_body=send_body)
        else:
            self._respond(404, NOT_FOUND_BODY, send_body=send_body)

    def do_GET(self) -> None:
        self._route()

    def do_HEAD(self) -> None:
        self._route(send_body=False)

    def do_OPTIONS(self) -> None:
        self._route()

    def do_PUT(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def do_PATCH(self) -> None:
        self._route()

    def do_DELETE(self) -> None:
        self._route()

    def address_string(self) -> str:
        return str(self.client_address[0])  # no reverse DNS lookups

    def log_message(self, format: str, *args: Any) -> None:
        sys.stdout.write(f"{self.address_string()} {format % args}\n")
        sys.stdout.flush()


class BackendServer(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG
    # Kept-alive connections idle for up to IDLE_TIMEOUT_SECONDS: waiting for their threads would
    # hold a stop that long.
    daemon_threads = True


def make_server(
    bind: str, port: int, health_path: str, idle_timeout: float = IDLE_TIMEOUT_SECONDS
) -> ThreadingHTTPServer:
    """A ready server; port 0 picks a free one (see server.server_address)."""
    handler = type(
        "ConfiguredHandler",
        (BackendHandler,),
        {"health_path": health_path, "timeout": idle_timeout},
    )
    return BackendServer((bind, port), handler)


def parse_options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--bind", default="0.0.0.0")  # noqa: S104 - the load balancer connects
    parser.add_argument("--health-path", default="/health")
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=IDLE_TIMEOUT_SECONDS,
        help="seconds a kept-alive connection may stay idle (default: %(default)s)",
    )
    options = parser.parse_args(argv)
    if not options.health_path.startswith("/"):
        parser.error("--health-path must start with /")
    if not (math.isfinite(options.idle_timeout) and options.idle_timeout > 0):
        parser.error("--idle-timeout must be a positive number of seconds")
    return options


def main(argv: list[str] | None = None) -> None:
    options = parse_options(argv)
    server = make_server(options.bind, options.port, options.health_path, options.idle_timeout)
    # systemd stops the service with SIGTERM: finish in-flight requests, then exit.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"listening on {options.bind}:{options.port}, health check {options.health_path}")
    sys.stdout.flush()
    with server:
        server.serve_forever()


if __name__ == "__main__":
    main()
