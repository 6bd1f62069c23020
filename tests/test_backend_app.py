"""The backend service itself, started on 127.0.0.1 and asked over real HTTP."""

from __future__ import annotations

import ast
import http.client
import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

SERVER_FILE = Path(__file__).resolve().parent.parent / "components" / "backend_app" / "server.py"
SEVEN_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]


def load_server_module() -> ModuleType:
    # components/backend_app is shipped to the instances as files, not imported as a package.
    spec = importlib.util.spec_from_file_location("backend_server", SERVER_FILE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SERVER = load_server_module()


def serve(health_path: str) -> Iterator[int]:
    server = SERVER.make_server("127.0.0.1", 0, health_path)
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


def test_source_runs_on_amazon_linux_python_3_9() -> None:
    ast.parse(SERVER_FILE.read_text(), feature_version=(3, 9))
