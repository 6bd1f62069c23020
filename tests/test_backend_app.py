"""The backend service itself, started on 127.0.0.1 and asked over real HTTP."""

from __future__ import annotations

import ast
import http.client
import importlib.util
import re
import resource
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


def serve(health_path: str, idle_timeout: float = 75, **limits: float) -> Iterator[int]:
    server = SERVER.make_server("127.0.0.1", 0, health_path, idle_timeout)
    for name, value in limits.items():  # request_timeout, max_connections
        setattr(server, name, value)
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
    server = SERVER.make_server("127.0.0.1", 0, "/health")
    server.server_close()
    assert server.idle_timeout == 75
    assert SERVER.parse_options(["--idle-timeout", "2.5"]).idle_timeout == 2.5


@pytest.mark.parametrize("idle_timeout", ["0", "-1", "nan", "inf"])
def test_idle_timeout_must_be_a_positive_number_of_seconds(idle_timeout: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        SERVER.parse_options(["--idle-timeout", idle_timeout])

    assert exit_info.value.code == 2


def test_source_runs_on_amazon_linux_python_3_9() -> None:
    ast.parse(SERVER_FILE.read_text(), feature_version=(3, 9))


# ------------------------------------------------------------------- strict message framing
def exchange(port: int, data: bytes, timeout: float = 3) -> tuple[bytes, bool]:
    """What the server answers to `data`, and whether it then closed the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
        client.sendall(data)
        received = b""
        try:
            while chunk := client.recv(65536):
                received += chunk
        except TimeoutError:
            return received, False
        return received, True


def statuses(received: bytes) -> list[int]:
    return [int(status) for status in re.findall(rb"HTTP/1\.1 ([0-9]{3}) ", received)]


POST = b"POST / HTTP/1.1\r\nHost: test\r\n"
# Each is followed by a body that, read as the next request, would be answered too: a desync
# between this server and the load balancer, which pools connections from many clients.
BODY = b"GET /smuggled HTTP/1.1\r\nHost: test\r\n\r\n"
MALFORMED = {
    "chunked": (b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + BODY, 501),
    "gzip-coded": (b"Transfer-Encoding: gzip\r\n\r\n" + BODY, 501),
    "identity-coded": (b"Transfer-Encoding: identity\r\n\r\n" + BODY, 501),
    "both-lengths": (
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + BODY,
        400,
    ),
    "length-abc": (b"Content-Length: abc\r\n\r\n" + BODY, 400),
    "length-minus-one": (b"Content-Length: -1\r\n\r\n" + BODY, 400),
    "length-plus-four": (b"Content-Length:  +4 \r\n\r\nabcd" + BODY, 400),
    "length-underscore": (b"Content-Length: 1_0\r\n\r\n0123456789" + BODY, 400),
    "length-empty": (b"Content-Length: \r\n\r\n" + BODY, 400),
    "two-lengths": (b"Content-Length: 2\r\nContent-Length: 4\r\n\r\nabcd" + BODY, 400),
    "length-list": (b"Content-Length: 2, 4\r\n\r\nabcd" + BODY, 400),
    "space-before-colon": (b"Content-Length : 4\r\n\r\nabcd" + BODY, 400),
    "folded-line": (b"X-Folded: a\r\n b\r\n\r\n" + BODY, 400),
    "control-in-value": (b"X-Bell: \x07\r\n\r\n" + BODY, 400),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_ambiguous_framing_is_refused_once_and_the_connection_closed(port: int, name: str) -> None:
    rest, status = MALFORMED[name]

    received, closed = exchange(port, POST + rest)

    assert (statuses(received), closed) == ([status], True), received
    assert b"Connection: close\r\n" in received


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET / HTTP/1.1 extra\r\n\r\n", 400),
        (b"GET\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"BREW / HTTP/1.1\r\nHost: test\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\nX-Long: " + b"a" * (80 * 1024) + b"\r\n\r\n", 431),
    ],
    ids=["three-words", "no-version", "http-2", "unknown-method", "head-too-large"],
)
def test_bad_request_lines_are_answered_and_closed(port: int, head: bytes, status: int) -> None:
    received, closed = exchange(port, head)

    assert (statuses(received), closed) == ([status], True), received[:200]


def test_identical_repeated_lengths_are_one_length(port: int) -> None:
    # RFC 9110 section 8.6: a recipient may take repeated identical values as one.
    double = b"Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd"
    listed = b"Content-Length: 4, 4\r\n\r\nabcd"
    closing = b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"

    received, closed = exchange(port, POST + double + POST + listed + closing)

    assert (statuses(received), closed) == ([200, 200, 200], True)


def test_pipelined_requests_are_answered_in_order(port: int) -> None:
    requests = b"".join(
        b"GET %s HTTP/1.1\r\nHost: test\r\n\r\n" % path for path in (b"/", b"/health", b"/nope")
    )

    received, closed = exchange(port, requests + b"GET / HTTP/1.0\r\n\r\n")

    assert (statuses(received), closed) == ([200, 200, 404, 200], True)
    assert received.endswith(b"Backend is running!")


# ------------------------------------------------------------------------------- deadlines
def trickle(port: int, sent: bytes, trickled: bytes, every: float) -> tuple[bytes, float]:
    """Sends `sent`, then `trickled` one byte every `every` seconds until the server answers or
    closes; returns the answer and how long after the first byte it came."""
    with socket.create_connection(("127.0.0.1", port), timeout=every) as client:
        started = time.monotonic()
        client.sendall(sent)
        for byte in trickled:
            try:
                client.sendall(bytes([byte]))
                answer = client.recv(65536)
            except TimeoutError:
                continue
            except ConnectionError:
                answer = b""
            return answer, time.monotonic() - started
    pytest.fail("the whole request was read: never cut off")


def test_a_head_trickled_byte_by_byte_is_cut_off_at_the_request_deadline() -> None:
    # Each byte arrives well within the idle timeout, and well within the deadline after the one
    # before: only a deadline on the whole request ends it, long before the head's last byte.
    for custom_port in serve("/health", request_timeout=0.6):
        head = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"
        answer, elapsed = trickle(custom_port, b"", head, every=0.25)

        assert statuses(answer) == [408]
        assert 0.5 < elapsed < 1


def test_a_body_sent_slowly_is_cut_off() -> None:
    for custom_port in serve("/health", request_timeout=0.4):
        head = POST + b"Content-Length: 100\r\n\r\n"
        answer, elapsed = trickle(custom_port, head, b"x" * 100, every=0.08)

        assert statuses(answer) == [408]
        assert 0.32 < elapsed < 0.8


def test_an_idle_kept_alive_connection_outlives_the_request_deadline() -> None:
    for custom_port in serve("/health", idle_timeout=5, request_timeout=0.1):
        with socket.create_connection(("127.0.0.1", custom_port), timeout=5) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            assert client.recv(1024).endswith(b"Backend is running!")
            time.sleep(0.3)  # idle, not in a request: only the idle timeout applies
            client.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            assert client.recv(1024).endswith(b"Backend is running!")


def test_request_deadline_defaults_between_10_and_20_seconds() -> None:
    server = SERVER.make_server("127.0.0.1", 0, "/health")
    server.server_close()

    assert server.request_timeout == SERVER.REQUEST_TIMEOUT_SECONDS
    assert 10 <= server.request_timeout <= 20
    # The ALB's idle timeout (65 s) still ends an idle connection before the service does.
    assert server.request_timeout < 65 < server.idle_timeout


# ------------------------------------------------------------------------ connection bound
def answered(client: socket.socket, within: float) -> bytes:
    client.settimeout(within)
    client.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
    try:
        return client.recv(1024)
    except TimeoutError:
        return b""


def test_connections_beyond_the_bound_wait_in_the_backlog_until_one_closes() -> None:
    for custom_port in serve("/health", max_connections=3):
        held = [socket.create_connection(("127.0.0.1", custom_port), timeout=5) for _ in range(3)]
        try:
            assert all(answered(client, 2).endswith(b"ok") for client in held)
            with socket.create_connection(("127.0.0.1", custom_port), timeout=5) as waiting:
                assert answered(waiting, 0.2) == b""  # connected, in the backlog, not served
                held.pop().close()
                waiting.settimeout(2)
                assert waiting.recv(1024).endswith(b"ok")
        finally:
            for client in held:
                client.close()


IDLE_CONNECTIONS = 2000


@pytest.fixture
def descriptors_for_idle_connections() -> Iterator[None]:
    # The clients' sockets and the server's, in this one process.
    needed = 2 * IDLE_CONNECTIONS + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {needed} descriptors this test needs")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.usefixtures("descriptors_for_idle_connections")
def test_health_answers_within_1_s_while_2000_idle_connections_are_open() -> None:
    threads = threading.active_count()
    status, body, elapsed = 0, b"", 0.0
    for custom_port in serve("/health"):
        idle: list[socket.socket] = []
        try:
            for _ in range(IDLE_CONNECTIONS):
                idle.append(socket.create_connection(("127.0.0.1", custom_port), timeout=5))
            assert answered(idle[0], 2).endswith(b"ok")  # kept alive, then idle like the rest
            started = time.monotonic()
            status, _, body = request(custom_port, "GET", "/health")
            elapsed = time.monotonic() - started
            # One thread serves them all, whatever their number.
            assert threading.active_count() <= threads + 1
            assert answered(idle[-1], 2).endswith(b"ok")
        finally:
            for client in idle:
                client.close()

    assert (status, body) == (200, b"ok")
    assert elapsed < 1


# ------------------------------------------------------------------------------------- log
def test_control_characters_of_the_request_line_are_escaped_in_the_log(
    port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    exchange(port, b"GET /\x1b[2J\x1b[31m\x7f\x9b\r\x00 HTTP/1.1\r\nHost: test\r\n\r\n")
    exchange(port, b'GET /"quoted"\\ HTTP/1.1\r\nConnection: close\r\n\r\n')
    log = ""
    deadline = time.monotonic() + 2
    while log.count("\n") < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
        log += capsys.readouterr().out

    assert r'"GET /\x1b[2J\x1b[31m\x7f\x9b\x0d\x00 HTTP/1.1" 400' in log
    assert r'"GET /\"quoted\"\\ HTTP/1.1" ' in log
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", log)  # nothing raw but line ends
