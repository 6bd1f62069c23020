#!/usr/bin/env python3
"""The backend service the instances run: answers `Backend is running!` behind the load balancer.

Standard library only, and Python 3.9 compatible: it runs on Amazon Linux 2023's own python3,
so an instance needs no package download (and no internet access) to serve. One thread serves
every connection (asyncio): an idle kept-alive connection costs a socket, not a thread.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import re
import signal
import socket
import sys
import threading
from collections.abc import Awaitable
from email.utils import formatdate
from http import HTTPStatus
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")
ROOT_BODY = b"Backend is running!"
HEALTH_BODY = b"ok"
NOT_FOUND_BODY = b"Not found"
MAX_BODY_BYTES = 1024 * 1024
MAX_HEAD_BYTES = 64 * 1024
# An idle keep-alive connection must outlive the load balancer's own idle timeout (65 s, which in
# turn outlives CloudFront's 60 s origin keep-alive): if the target closes first, the ALB may send
# a request down the dying connection and answer the client 502.
IDLE_TIMEOUT_SECONDS = 75
# From a request's first byte to its last: a head or a body trickled in is answered 408.
REQUEST_TIMEOUT_SECONDS = 15
# Beyond it, new connections wait in the listen backlog. backend.service's LimitNOFILE= fits it.
MAX_CONNECTIONS = 4096
# socketserver listened with a backlog of 5: a burst of new connections overflowed it, and the
# kernel dropped their SYNs. The kernel caps it at net.core.somaxconn (4096 on Amazon Linux 2023).
LISTEN_BACKLOG = 1024
LINGER_SECONDS = 2
METHODS = {"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"}
TOKEN = rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+)"
REQUEST_LINE = re.compile(TOKEN + rb" ([\x21-\x7e]+) HTTP/([0-9])\.([0-9])")
FIELD = re.compile(TOKEN + rb":[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*")  # no CTL but tab
# The log shows what the client sent, but no terminal escape or line break: \x1b, \x0a.
ESCAPES = {c: f"\\x{c:02x}" for c in [*range(32), *range(127, 256)]}
ESCAPES.update({92: "\\\\", 34: '\\"'})


class RequestError(Exception):
    """Answered with its status; then the connection closes."""


def content_length(fields: dict[bytes, list[str]]) -> int:
    """The body's length, per RFC 9112 section 6."""
    lengths = fields.get(b"content-length")
    if b"transfer-encoding" in fields:  # no chunked body here; with a length, framed two ways
        raise RequestError(400 if lengths else 501)
    # Digits only (no sign, space or _ that int() forgives): one value, repeated at most.
    values = {v.strip() for line in lengths or ["0"] for v in line.split(",")}
    if len(values) > 1 or not re.fullmatch("[0-9]+", min(values)):
        raise RequestError(400)
    return int(min(values))


class BackendServer:
    request_timeout, max_connections = REQUEST_TIMEOUT_SECONDS, MAX_CONNECTIONS

    def __init__(self, bind: str, port: int, health_path: str, idle_timeout: float) -> None:
        self.health_path, self.idle_timeout = health_path, idle_timeout
        self.listener = socket.create_server((bind, port), backlog=LISTEN_BACKLOG)
        self.listener.setblocking(False)
        self.server_address = self.listener.getsockname()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping, self.stopped = False, threading.Event()

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serves until shutdown(); `poll_interval` is socketserver's, unused."""
        try:
            asyncio.run(self.serve())
        finally:
            self.stopped.set()

    def shutdown(self, wait: bool = True) -> None:
        """Stops serve_forever (from a signal handler: without waiting)."""
        self.stopping = True
        if self.loop:
            self.loop.call_soon_threadsafe(self.stop.set)
            if wait:
                self.stopped.wait()

    def server_close(self) -> None:
        self.listener.close()

    async def serve(self) -> None:
        self.stop = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        acceptor = self.loop.create_task(self.accept(asyncio.Semaphore(self.max_connections)))
        if not self.stopping:
            await self.stop.wait()
        acceptor.cancel()  # and asyncio.run cancels every connection's task

    async def accept(self, slots: asyncio.Semaphore) -> None:
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()  # the loop holds only weak references to them
        while True:
            await slots.acquire()  # at the bound, new connections wait in the listen backlog
            try:
                sock, address = await loop.sock_accept(self.listener)
            except OSError:  # out of descriptors or memory: wait for some to close
                slots.release()
                await asyncio.sleep(0.5)
                continue
            task = loop.create_task(self.connection(sock, address[0]))
            tasks.add(task)
            task.add_done_callback(lambda task: (tasks.discard(task), slots.release()))

    async def connection(self, sock: socket.socket, peer: str) -> None:
        reader, writer = await asyncio.open_connection(sock=sock, limit=MAX_HEAD_BYTES)
        try:
            while await self.exchange(reader, writer, peer):
                pass
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):  # noqa: UP041
            pass  # the client left, or stayed idle too long
        finally:
            writer.close()

    async def exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> bool:
        """Reads a request and answers it; False when the connection is to close."""
        first = await asyncio.wait_for(reader.read(1), self.idle_timeout)
        if first in b"\r\n":
            return first != b""  # an empty line before a request line is allowed
        deadline = asyncio.get_running_loop().time() + self.request_timeout
        line, method, keep_alive = b"", "", False
        try:
            head = first + await self.within(deadline, reader.readuntil(b"\r\n\r\n"))
            line = head.split(b"\r\n", 1)[0]
            method, target, keep_alive, length, expect = self.read_head(head)
            if length and expect == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # the client holds the body
            while length:
                chunk = await self.within(deadline, reader.read(min(length, 65536)))
                if not chunk:
                    return False
                length -= len(chunk)
            status, body = self.route(method, target)
        except RequestError as error:
            status, body, keep_alive = error.args[0], b"", False
        except asyncio.LimitOverrunError:
            status, body, keep_alive = 431, b"", False
        except asyncio.TimeoutError:  # noqa: UP041 - not the builtin TimeoutError on Python 3.9
            status, body, keep_alive = 408, b"", False
        body = body or HTTPStatus(status).phrase.encode()
        writer.write(
            (
                f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nServer: backend\r\n"
                f"Date: {formatdate(usegmt=True)}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n"
                f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
            ).encode()
            + (b"" if method == "HEAD" else body)
        )
        text = line[:2048].decode("latin-1").translate(ESCAPES)
        sys.stdout.write(f'{peer} "{text}" {status} -\n')
        sys.stdout.flush()
        if not keep_alive:
            # Close our side only, then read theirs out: closing with unread bytes would reset
            # the connection, which can destroy the answer before the client reads it.
            writer.write_eof()
            with contextlib.suppress(asyncio.TimeoutError):
                while await asyncio.wait_for(reader.read(65536), LINGER_SECONDS):
                    pass
            return False
        if writer.transport.get_write_buffer_size():
            await self.within(deadline, writer.drain())
        return True

    async def within(self, deadline: float, awaitable: Awaitable[T]) -> T:
        return await asyncio.wait_for(awaitable, deadline - asyncio.get_running_loop().time())

    def route(self, method: str, target: str) -> tuple[int, bytes]:
        path = urlsplit(target).path
        if path == "/":
            return 200, ROOT_BODY
        if path == self.health_path and method in ("GET", "HEAD"):
            return 200, HEALTH_BODY
        return 404, NOT_FOUND_BODY

    def read_head(self, head: bytes) -> tuple[str, str, bool, int, str]:
        """The method, target, keep-alive, body length and Expect of a request's head."""
        line, *lines = head[:-4].split(b"\r\n")
        request = REQUEST_LINE.fullmatch(line)
        if not request:
            raise RequestError(400)
        method, target, major, minor = (part.decode() for part in request.groups())
        if major != "1":
            raise RequestError(505)
        fields: dict[bytes, list[str]] = {}
        for field in map(FIELD.fullmatch, lines):
            if not field:  # no colon, a space before it, a folded line, a control character
                raise RequestError(400)
            fields.setdefault(field[1].lower(), []).append(field[2].decode("latin-1"))
        if method not in METHODS:
            raise RequestError(501)
        length = content_length(fields)
        if length > MAX_BODY_BYTES:
            raise RequestError(413)
        tokens = {t.strip().lower() for v in fields.get(b"connection", []) for t in v.split(",")}
        keep_alive = "close" not in tokens and (minor != "0" or "keep-alive" in tokens)
        expect = fields.get(b"expect", [""])[0].lower() if minor != "0" else ""
        return method, target, keep_alive, length, expect


def make_server(
    bind: str, port: int, health_path: str, idle_timeout: float = IDLE_TIMEOUT_SECONDS
) -> BackendServer:
    """A listening server; port 0 picks a free one (see server.server_address)."""
    return BackendServer(bind, port, health_path, idle_timeout)


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
    # systemd stops the service with SIGTERM (the ALB has drained the target first).
    signal.signal(signal.SIGTERM, lambda *_: server.shutdown(wait=False))
    print(f"listening on {options.bind}:{options.port}, health check {options.health_path}")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
