"""The backend service itself, started on 127.0.0.1 and asked over real HTTP."""

from __future__ import annotations

import ast
import http.client
import importlib.util
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

SERVER_FILE = (
    Path(__file__).resolve().parent.parent / "components" / "backend" / "app" / "server.py"
)
SEVEN_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]


def load_server_module() -> ModuleType:
    # components/backend/app is shipped to the instances as files, not imported as a package.
    spec = importlib.util.spec_from_file_location("backend_server", SERVER_FILE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SERVER = load_server_module()


def serve(health_path: str, **options: float) -> Iterator[int]:
    server = SERVER.make_server("127.0.0.1", 0, health_path, **options)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    yield from serve("/health")


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("method", SEVEN_METHODS)
def test_root_answers_backend_is_running_for_every_forwarded_method(port: int, method: str) -> None:
    status, headers, body = request(port, method, "/")

    assert status == 200
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Content-Length"] == str(len(b"Backend is running!"))
    assert body == (b"" if method == "HEAD" else b"Backend is running!")


def test_health_path_answers_ok(port: int) -> None:
    assert request(port, "GET", "/health")[::2] == (200, b"ok")


def test_unknown_paths_are_not_found(port: int) -> None:
    assert request(port, "GET", "/nope")[::2] == (404, b"Not found")


def test_query_string_does_not_change_the_route(port: int) -> None:
    assert request(port, "GET", "/?debug=1")[::2] == (200, b"Backend is running!")


def test_post_with_a_body_is_answered(port: int) -> None:
    status, _, body = request(port, "POST", "/", body=b'{"hello": "world"}')

    assert (status, body) == (200, b"Backend is running!")


def test_oversized_body_is_refused(port: int) -> None:
    status, _, _ = request(port, "POST", "/", headers={"Content-Length": str(2 * 1024 * 1024)})

    assert status == 413


def test_responses_are_never_cached_and_name_no_python(port: int) -> None:
    _, headers, _ = request(port, "GET", "/")

    assert headers["Cache-Control"] == "no-store"
    assert "python" not in headers["Server"].lower()


def test_custom_health_path_replaces_the_default() -> None:
    for custom_port in serve("/ready"):
        assert request(custom_port, "GET", "/ready")[::2] == (200, b"ok")
        assert request(custom_port, "GET", "/health")[0] == 404


def test_kept_alive_connection_answers_without_waiting_for_delayed_acks(port: int) -> None:
    # Headers and body sent as two writes stall each answer ~40 ms (Nagle vs. delayed ACK):
    # ten requests took over 0.4 s. Sent as one write, they take a few milliseconds.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        started = time.monotonic()
        for _ in range(10):
            connection.request("GET", "/")
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b"Backend is running!")
        elapsed = time.monotonic() - started
    finally:
        connection.close()

    assert elapsed < 0.25


def test_expect_100_continue_gets_its_interim_answer_before_the_body(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as client:
        client.sendall(
            b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        interim = client.recv(1024)
        client.sendall(b"hello")
        final = client.recv(1024)

    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert final.startswith(b"HTTP/1.1 200 OK\r\n")
    assert final.endswith(b"\r\n\r\nBackend is running!")


def test_burst_of_connections_waits_in_the_listen_backlog() -> None:
    # Nothing accepts here: every connection must fit the backlog. With socketserver's default
    # of 5, the kernel drops further SYNs once six connections wait, and the next connect times
    # out.
    server = SERVER.make_server("127.0.0.1", 0, "/health")
    clients: list[socket.socket] = []
    try:
        for _ in range(64):
            clients.append(socket.create_connection(server.server_address, timeout=0.5))
    finally:
        for client in clients:
            client.close()
        server.server_close()

    assert len(clients) == 64


def test_idle_kept_alive_connection_is_closed_after_the_idle_timeout() -> None:
    for custom_port in serve("/health", idle_timeout=0.2):
        with socket.create_connection(("127.0.0.1", custom_port), timeout=5) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            assert client.recv(1024).endswith(b"Backend is running!")
            time.sleep(0.05)  # idle, but less than the timeout: still kept alive
            client.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            assert client.recv(1024).endswith(b"Backend is running!")
            idle_since = time.monotonic()
            closed = client.recv(1024)
            idle_for = time.monotonic() - idle_since

        assert closed == b""
        assert 0.15 <= idle_for < 2


def test_idle_timeout_defaults_to_outlast_the_load_balancer() -> None:
    # The ALB closes idle connections after 65 s; the target must not close them first.
    assert SERVER.parse_options([]).idle_timeout == SERVER.IDLE_TIMEOUT_SECONDS == 75
    with SERVER.make_server("127.0.0.1", 0, "/health") as server:
        assert server.RequestHandlerClass.timeout == 75
    assert SERVER.parse_options(["--idle-timeout", "2.5"]).idle_timeout == 2.5


@pytest.mark.parametrize("idle_timeout", ["0", "-1", "nan", "inf"])
def test_idle_timeout_must_be_a_positive_number_of_seconds(idle_timeout: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        SERVER.parse_options(["--idle-timeout", idle_timeout])

    assert exit_info.value.code == 2


def test_source_runs_on_amazon_linux_python_3_9() -> None:
    ast.parse(SERVER_FILE.read_text(), feature_version=(3, 9))
