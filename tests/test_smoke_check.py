"""scripts/smoke_check.py against imitations on 127.0.0.1 of CloudFront, its plain-HTTP listener
and the ALB: a good deployment passes, each broken variant fails the right check; the same for a
stack running the team's own app, probed through its health check."""

from __future__ import annotations

import functools
import io
import json
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from scripts import smoke_check as smoke

BACKEND = "Backend is running!"
DISTRIBUTION = "https://d111111abcdef8.cloudfront.net"
HEALTH_PATH = "/health"
Reply = tuple[int, dict[str, str], str]  # sent as is: no Server header unless the reply names one
# What an imitation answers: (method, number of the request on this server from 0) -> reply.
Answer = Callable[[str, int], Reply]


def edge(method: str, index: int) -> Reply:
    """CloudFront with caching disabled, forwarding every method to a healthy backend."""
    return 200, {"X-Cache": "Miss from cloudfront", "Content-Type": "text/plain"}, BACKEND


def listener(method: str, index: int) -> Reply:
    """CloudFront's plain-HTTP side: viewer protocol policy redirect-to-https."""
    return 301, {"Location": f"{DISTRIBUTION}/", "Server": "CloudFront"}, ""


def locked_alb(method: str, index: int) -> Reply:
    """The ALB's default action for requests without the origin secret header."""
    return 403, {"Content-Type": "text/plain", "Server": "awselb/2.0"}, "Forbidden"


def app_root(method: str, index: int) -> Reply:
    """A team's own API through CloudFront: nothing lives at /, whatever the method."""
    return 404, {"X-Cache": "Miss from cloudfront", "Content-Type": "text/plain"}, "Not Found"


def app_health(method: str, index: int) -> Reply:
    """The same API's health check, which the ALB's target group probes."""
    return 200, {"X-Cache": "Miss from cloudfront", "Content-Type": "text/plain"}, "ok"


@dataclass
class Imitation:
    answer: Answer
    routes: dict[str, Answer] = field(default_factory=dict)  # path -> its answer, over `answer`
    port: int = 0
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)  # method, path, body

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"


def start(imitation: Imitation) -> ThreadingHTTPServer:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = urlsplit(self.path).path
            with lock:
                index = len(imitation.requests)
                imitation.requests.append((self.command, path, body))
            answer = imitation.routes.get(path, imitation.answer)
            status, headers, text = answer(self.command, index)
            data = text.encode()
            self.log_request(status)
            self.send_response_only(status)  # without http.server's own Server header
            for name, value in {**headers, "Content-Length": str(len(data))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _reply  # noqa: N815 -- http.server's names

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    imitation.port = server.server_address[1]
    return server


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], Imitation]]:
    """Starts imitations on ephemeral ports; stops them all after the test."""
    running: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def serve_(answer: Answer, routes: dict[str, Answer] | None = None) -> Imitation:
        imitation = Imitation(answer, routes or {})
        server = start(imitation)
        # A short poll interval: shutdown() waits up to one interval for the loop to notice.
        thread = threading.Thread(target=server.serve_forever, args=(0.005,), daemon=True)
        thread.start()
        running.append((server, thread))
        return imitation

    yield serve_
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Deployment:
    front: Imitation
    plain: Imitation
    alb: Imitation

    def argv(self, *extra: str) -> list[str]:
        return [
            "--url", self.front.url,
            "--http-url", f"{self.plain.url}/",
            "--alb-dns-name", self.alb.host,
            "--initial-delay", "0.01",
            "--max-delay", "0.05",
            "--request-timeout", "2",
            *extra,
        ]  # fmt: skip

    def good_lines(self) -> list[str]:
        return [
            f"PASS https-root: 200 '{BACKEND}'",
            f"PASS http-redirect: 301 -> {DISTRIBUTION}/",
            f"PASS post-forwarded: 200 '{BACKEND}'",
            "PASS not-cached: no Age header; X-Cache: 'Miss from cloudfront', "
            "'Miss from cloudfront'",
            f"PASS origin-locked: 403 from http://{self.alb.host}/",
        ]

    @property
    def health_check_url(self) -> str:
        return f"{self.front.url}{HEALTH_PATH}"

    def own_app_argv(self, *extra: str) -> list[str]:
        return self.argv("--own-app", "--health-check-url", self.health_check_url, *extra)

    def own_app_lines(self) -> list[str]:
        return [
            f"PASS https-health: 200 'ok' from {self.health_check_url}",
            f"PASS http-redirect: 301 -> {DISTRIBUTION}/",
            "PASS post-forwarded: 404 'Not Found' from the app "
            "(not refused by CloudFront or the ALB)",
            "PASS not-cached: no Age header; X-Cache: 'Miss from cloudfront', "
            "'Miss from cloudfront'",
            f"PASS origin-locked: 403 from http://{self.alb.host}/",
        ]


@pytest.fixture
def deploy(serve: Callable[..., Imitation]) -> Callable[..., Deployment]:
    def deploy_(
        front: Answer = edge,
        plain: Answer = listener,
        alb: Answer = locked_alb,
        health: Answer | None = None,
    ) -> Deployment:
        """`health`: what the front answers on HEALTH_PATH (the own app's health check)."""
        routes = {HEALTH_PATH: health} if health is not None else {}
        return Deployment(serve(front, routes), serve(plain), serve(alb))

    return deploy_


@pytest.fixture
def deploy_own_app(deploy: Callable[..., Deployment]) -> Callable[..., Deployment]:
    def deploy_own_app_(
        front: Answer = app_root, health: Answer = app_health, **others: Answer
    ) -> Deployment:
        return deploy(front=front, health=health, **others)

    return deploy_own_app_


def replace(lines: list[str], **by_check: str) -> list[str]:
    """The good lines with some checks' lines replaced, e.g. not_cached="FAIL not-cached: …"."""
    wanted = {name.replace("_", "-"): line for name, line in by_check.items()}
    return [wanted.get(line.split()[1].rstrip(":"), line) for line in lines]


# --- A good deployment ------------------------------------------------------------------------


def test_good_deployment_passes_every_check(
    deploy: Callable[..., Deployment], capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = deploy()

    code = smoke.main(deployment.argv("--timeout", "0"))

    out, err = capsys.readouterr()
    assert out.splitlines() == deployment.good_lines()
    assert err == ""
    assert code == 0
    assert deployment.front.requests == [
        ("GET", "/", b""),
        ("POST", "/", smoke.POST_BODY),
        ("GET", "/", b""),
        ("GET", "/", b""),
    ]
    assert [method for method, *_ in deployment.plain.requests] == ["GET"]
    assert [method for method, *_ in deployment.alb.requests] == ["GET"]


def test_without_an_alb_name_origin_locked_is_skipped(
    deploy: Callable[..., Deployment], capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = deploy()
    argv = deployment.argv("--timeout", "0")
    del argv[argv.index("--alb-dns-name") : argv.index("--alb-dns-name") + 2]

    assert smoke.main(argv) == 0
    assert capsys.readouterr().out.splitlines() == deployment.good_lines()[:4]
    assert deployment.alb.requests == []


def test_run_checks_returns_one_result_per_check(deploy: Callable[..., Deployment]) -> None:
    deployment = deploy()

    results = smoke.run_checks(smoke.parse_args(deployment.argv("--timeout", "0")))

    assert [(result.name, result.passed) for result in results] == [
        ("https-root", True),
        ("http-redirect", True),
        ("post-forwarded", True),
        ("not-cached", True),
        ("origin-locked", True),
    ]
    assert [result.line for result in results] == deployment.good_lines()


# --- Broken deployments: the right check fails ------------------------------------------------


def wrong_body(method: str, index: int) -> Reply:
    return 200, {"X-Cache": "Miss from cloudfront"}, "<h1>Welcome to nginx!</h1>"


def body_with_newline(method: str, index: int) -> Reply:
    return 200, {"X-Cache": "Miss from cloudfront"}, BACKEND + "\n"


def no_redirect(method: str, index: int) -> Reply:
    return 200, {}, BACKEND


def redirect_to_http(method: str, index: int) -> Reply:
    return 301, {"Location": "http://d111111abcdef8.cloudfront.net/"}, ""


def cached_after_first_get(method: str, index: int) -> Reply:
    # Caching enabled: the first GET fills the cache, later ones are answered from it.
    if method == "GET" and index > 0:
        return 200, {"Age": "10", "X-Cache": "Hit from cloudfront"}, BACKEND
    return edge(method, index)


def refresh_hit(method: str, index: int) -> Reply:
    return 200, {"X-Cache": "RefreshHit from cloudfront"}, BACKEND


def age_only(method: str, index: int) -> Reply:
    return 200, {"Age": "3"}, BACKEND


def post_rejected(method: str, index: int) -> Reply:
    # CloudFront's answer to a method the cache behaviour does not allow.
    if method == "POST":
        headers = {"Server": "CloudFront", "X-Cache": "Error from cloudfront"}
        return 403, headers, "<HTML>403 ERROR</HTML>"
    return edge(method, index)


def open_alb(method: str, index: int) -> Reply:
    return 200, {}, BACKEND


EXPECTED_BACKEND = f"expected 200 '{BACKEND}'"


@pytest.mark.parametrize(
    ("broken", "failures"),
    [
        pytest.param(
            {"front": wrong_body},
            {
                "https_root": f"FAIL https-root: {EXPECTED_BACKEND}, got 200 "
                "'<h1>Welcome to nginx!</h1>'",
                "post_forwarded": f"FAIL post-forwarded: {EXPECTED_BACKEND}, got 200 "
                "'<h1>Welcome to nginx!</h1>'",
            },
            id="wrong-body",
        ),
        pytest.param(
            {"front": body_with_newline},
            {
                "https_root": f"FAIL https-root: {EXPECTED_BACKEND}, got 200 '{BACKEND}\\n'",
                "post_forwarded": f"FAIL post-forwarded: {EXPECTED_BACKEND}, got 200 "
                f"'{BACKEND}\\n'",
            },
            id="body-with-newline",
        ),
        pytest.param(
            {"plain": no_redirect},
            {
                "http_redirect": "FAIL http-redirect: expected a redirect to https://, "
                f"got 200 '{BACKEND}'"
            },
            id="no-redirect",
        ),
        pytest.param(
            {"plain": redirect_to_http},
            {
                "http_redirect": "FAIL http-redirect: 301 redirects to "
                "'http://d111111abcdef8.cloudfront.net/', not to https://"
            },
            id="redirect-to-http",
        ),
        pytest.param(
            {"front": cached_after_first_get},
            {
                "not_cached": "FAIL not-cached: GET 1 of 2 was served from a cache "
                "(Age: 10, X-Cache: Hit from cloudfront)"
            },
            id="cached",
        ),
        pytest.param(
            {"front": refresh_hit},
            {
                "not_cached": "FAIL not-cached: GET 1 of 2 was served from a cache "
                "(X-Cache: RefreshHit from cloudfront)"
            },
            id="refresh-hit",
        ),
        pytest.param(
            {"front": age_only},
            {"not_cached": "FAIL not-cached: GET 1 of 2 was served from a cache (Age: 3)"},
            id="age-without-x-cache",
        ),
        pytest.param(
            {"front": post_rejected},
            {
                "post_forwarded": f"FAIL post-forwarded: {EXPECTED_BACKEND}, got 403 "
                "'<HTML>403 ERROR</HTML>'"
            },
            id="post-rejected",
        ),
    ],
)
def test_broken_deployment_fails_the_right_check(
    deploy: Callable[..., Deployment],
    capsys: pytest.CaptureFixture[str],
    broken: dict[str, Answer],
    failures: dict[str, str],
) -> None:
    deployment = deploy(**broken)

    code = smoke.main(deployment.argv("--timeout", "0"))

    assert capsys.readouterr().out.splitlines() == replace(deployment.good_lines(), **failures)
    assert code == 1


def test_alb_answering_without_cloudfront_fails_origin_locked(
    deploy: Callable[..., Deployment], capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = deploy(alb=open_alb)

    code = smoke.main(deployment.argv("--timeout", "0"))

    assert capsys.readouterr().out.splitlines() == replace(
        deployment.good_lines(),
        origin_locked=f"FAIL origin-locked: expected 403 from http://{deployment.alb.host}/, "
        f"got 200 '{BACKEND}': the ALB serves requests that did not come through CloudFront",
    )
    assert code == 1


def test_long_bodies_are_cut_in_the_detail(
    deploy: Callable[..., Deployment], capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = deploy(front=lambda method, index: (200, {}, "x" * 5000))

    assert smoke.main(deployment.argv("--timeout", "0")) == 1

    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"FAIL https-root: {EXPECTED_BACKEND}, got 200 '{'x' * 80}'... (5000 bytes)"


# --- The team's own app: its health check instead of the built-in body ----------------------


def test_own_app_with_nothing_at_the_root_passes_through_its_health_check(
    deploy_own_app: Callable[..., Deployment], capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = deploy_own_app()

    code = smoke.main(deployment.own_app_argv("--timeout", "0"))

    out, err = capsys.readouterr()
    assert out.splitlines() == deployment.own_app_lines()
    assert err == ""
    assert code == 0
    assert deployment.front.requests == [
        ("GET", HEALTH_PATH, b""),
        ("POST", "/", smoke.POST_BODY),
        ("GET", HEALTH_PATH, b""),
        ("GET", HEALTH_PATH, b""),
    ]


def unhealthy(method: str, index: int) -> Reply:
    return 503, {"X-Cache": "Error from cloudfront"}, "Service Unavailable"


def health_cached(method: str, index: int) -> Reply:
    if index > 0:
        return 200, {"Age": "4", "X-Cache": "Hit from cloudfront"}, "ok"
    return app_health(method, index)


def alb_refuses_post(method: str, index: int) -> Reply:
    # The ALB's default action: CloudFront forwarded the POST without the origin secret.
    if method == "POST":
        return 403, {"Server": "awselb/2.0", "X-Cache": "Error from cloudfront"}, "Forbidden"
    return app_root(method, index)


def app_forbids_post(method: str, index: int) -> Reply:
    # The app's own 403: no Server header of CloudFront's or the ALB's.
    if method == "POST":
        return 403, {"Server": "uvicorn", "X-Cache": "Error from cloudfront"}, "Forbidden"
    return app_root(method, index)


def app_creates(method: str, index: int) -> Reply:
    return 201, {"Server": "CloudFront"}, "created"


@pytest.mark.parametrize(
    ("broken", "changed"),
    [
        pytest.param(
            {"health": unhealthy},
            {
                "https_health": "FAIL https-health: expected 200 from {health}, "
                "got 503 'Service Unavailable'",
                "not_cached": "FAIL not-cached: GET 1 of 2: expected 200, got 503",
            },
            id="health-check-503",
        ),
        pytest.param(
            {"health": health_cached},
            {
                "not_cached": "FAIL not-cached: GET 1 of 2 was served from a cache "
                "(Age: 4, X-Cache: Hit from cloudfront)"
            },
            id="health-check-cached",
        ),
        pytest.param(
            {"front": post_rejected},
            {
                "post_forwarded": "FAIL post-forwarded: 403 from CloudFront (Server: CloudFront): "
                "its cache behaviour does not allow the method"
            },
            id="post-refused-by-cloudfront",
        ),
        pytest.param(
            {"front": alb_refuses_post},
            {
                "post_forwarded": "FAIL post-forwarded: 403 from the ALB (Server: awselb/2.0): "
                "the request did not carry the origin secret"
            },
            id="post-refused-by-the-alb",
        ),
        pytest.param(
            {"front": app_forbids_post},
            {
                "post_forwarded": "PASS post-forwarded: 403 'Forbidden' from the app "
                "(not refused by CloudFront or the ALB)"
            },
            id="app-answers-403",
        ),
        pytest.param(
            {"front": app_creates},
            {
                "post_forwarded": "PASS post-forwarded: 201 'created' from the app "
                "(not refused by CloudFront or the ALB)"
            },
            id="app-answers-201-with-a-cloudfront-server",
        ),
    ],
)
def test_own_app_checks_fail_only_for_the_right_reasons(
    deploy_own_app: Callable[..., Deployment],
    capsys: pytest.CaptureFixture[str],
    broken: dict[str, Answer],
    changed: dict[str, str],
) -> None:
    deployment = deploy_own_app(**broken)
    changed = {
        name: line.format(health=deployment.health_check_url) for name, line in changed.items()
    }

    code = smoke.main(deployment.own_app_argv("--timeout", "0"))

    assert capsys.readouterr().out.splitlines() == replace(deployment.own_app_lines(), **changed)
    assert code == (1 if any(line.startswith("FAIL") for line in changed.values()) else 0)


# --- The ALB refusing connections counts as locked --------------------------------------------


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_alb_refusing_connections_counts_as_locked(
    deploy: Callable[..., Deployment], capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = deploy()
    deployment.alb.port = unused_port()  # nothing listens there

    assert smoke.main(deployment.argv("--timeout", "0")) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"PASS origin-locked: GET http://{deployment.alb.host}/: connection refused "
        "(the ALB does not answer directly)"
    )


def test_alb_timing_out_counts_as_locked(
    deploy: Callable[..., Deployment], capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = deploy()
    # Listens, never accepts nor answers: like a security group that drops the packets.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        deployment.alb.port = silent.getsockname()[1]

        code = smoke.main(deployment.argv("--timeout", "0", "--request-timeout", "0.05"))

    assert capsys.readouterr().out.splitlines()[-1] == (
        f"PASS origin-locked: GET http://{deployment.alb.host}/: timed out "
        "(the ALB does not answer directly)"
    )
    assert code == 0


def test_unresolvable_names_fail_every_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_dns(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)

    code = smoke.main(["--url", DISTRIBUTION, "--alb-dns-name", "alb.example", "--timeout", "0"])

    no_name = "DNS lookup failed (Name or service not known)"
    assert capsys.readouterr().out.splitlines() == [
        f"FAIL https-root: GET {DISTRIBUTION}/: {no_name}",
        f"FAIL http-redirect: GET http://d111111abcdef8.cloudfront.net/: {no_name}",
        f"FAIL post-forwarded: POST {DISTRIBUTION}/: {no_name}",
        f"FAIL not-cached: GET {DISTRIBUTION}/: {no_name}",
        f"FAIL origin-locked: GET http://alb.example/: {no_name}",
    ]
    assert code == 1


# --- Retries ----------------------------------------------------------------------------------


def test_flaky_distribution_passes_after_retries(
    deploy: Callable[..., Deployment], capsys: pytest.CaptureFixture[str]
) -> None:
    def deploying(method: str, index: int) -> Reply:
        return (503, {}, "Service Unavailable") if index < 2 else edge(method, index)

    deployment = deploy(front=deploying)

    code = smoke.main(deployment.argv("--initial-delay", "0.01", "--timeout", "5"))

    out, err = capsys.readouterr()
    assert out.splitlines() == deployment.good_lines()
    retried = f"failed: {EXPECTED_BACKEND}, got 503 'Service Unavailable'"
    assert err.splitlines() == [
        f"RETRY https-root: attempt 1 {retried}; next attempt in 0.01s",
        f"RETRY https-root: attempt 2 {retried}; next attempt in 0.02s",
    ]
    assert code == 0


def test_never_good_stops_at_the_time_limit(
    deploy: Callable[..., Deployment],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def down(method: str, index: int) -> Reply:
        return 502, {"X-Cache": "Error from cloudfront"}, "Bad Gateway"

    deployment = deploy(front=down)
    # main's checks on a clock that only their pauses move: the time limit is spent, not waited.
    now = [1000.0]
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += seconds

    on_the_fake_clock = functools.partial(smoke.iter_checks, sleep=sleep, clock=lambda: now[0])
    monkeypatch.setattr(smoke, "iter_checks", on_the_fake_clock)
    # Delays a binary fraction can hold exactly: 0.125 doubled to the 0.25 cap, within 1 s.
    limits = ("--initial-delay", "0.125", "--max-delay", "0.25", "--timeout", "1")

    code = smoke.main(deployment.argv(*limits))

    out, err = capsys.readouterr()
    assert out.splitlines() == replace(
        deployment.good_lines(),
        https_root=f"FAIL https-root: {EXPECTED_BACKEND}, got 502 'Bad Gateway'",
        post_forwarded=f"FAIL post-forwarded: {EXPECTED_BACKEND}, got 502 'Bad Gateway'",
        not_cached="FAIL not-cached: GET 1 of 2: expected 200, got 502",
    )
    assert code == 1
    # Retried until the limit is spent, the last pause cut to what is left of it: the sixth
    # and last attempt comes at the limit.
    assert pauses == [0.125, 0.25, 0.25, 0.25, 0.125]
    # Only the first check spent the time limit; the later ones got one attempt each.
    retried = f"failed: {EXPECTED_BACKEND}, got 502 'Bad Gateway'"
    assert err.splitlines() == [
        *(
            f"RETRY https-root: attempt {number} {retried}; next attempt in {pause:g}s"
            for number, pause in enumerate(pauses, start=1)
        ),
        "GIVE UP https-root: 6 attempts, time limit of 1s spent",
    ]


def test_backoff_doubles_up_to_the_cap_and_stops_at_the_deadline(
    deploy: Callable[..., Deployment],
) -> None:
    def down(method: str, index: int) -> Reply:
        return 503, {}, ""

    deployment = deploy(front=down)
    now = [1000.0]
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += seconds

    config = smoke.Config(
        url=deployment.front.url,
        http_url=f"{deployment.plain.url}/",
        timeout=200,
        initial_delay=5,
        max_delay=60,
    )

    results = smoke.run_checks(config, sleep=sleep, clock=lambda: now[0])

    # 5, 10, 20, 40, 60, 60 (195 s), then the 5 s left, then a last attempt at the deadline.
    assert pauses == [5, 10, 20, 40, 60, 60, 5]
    assert len(deployment.front.requests) == 8 + 1 + 1  # https-root 8 times, then one each
    assert [(result.name, result.passed) for result in results] == [
        ("https-root", False),
        ("http-redirect", True),
        ("post-forwarded", False),
        ("not-cached", False),
    ]


# --- Command line -----------------------------------------------------------------------------


def test_defaults_and_the_derived_plain_http_url() -> None:
    config = smoke.parse_args(["--url", "https://d111111abcdef8.cloudfront.net:443"])

    assert config == smoke.Config(
        url="https://d111111abcdef8.cloudfront.net:443",
        http_url="http://d111111abcdef8.cloudfront.net/",
        alb_dns_name=None,
        health_check_url=None,
        timeout=900,
        initial_delay=5,
        max_delay=60,
        request_timeout=10,
    )


def stack_outputs(deployment: Deployment, *, builtin_service: bool | None = True) -> str:
    """As `pulumi stack output --json` prints them, with the keys the check does not use;
    builtin_service None: an older stack, without builtinService and healthCheckUrl."""
    outputs: dict[str, object] = {
        "albDnsName": deployment.alb.host,
        "autoScalingGroupName": "backend-asg-1234567",
        "distributionDomainName": "d111111abcdef8.cloudfront.net",
        "distributionId": "E2QWRUHAPOMQZL",
        "url": deployment.front.url,
    }
    if builtin_service is not None:
        outputs |= {
            "builtinService": builtin_service,
            "healthCheckUrl": deployment.health_check_url,
        }
    return json.dumps(outputs, indent=4)


@pytest.mark.parametrize("builtin_service", [True, None], ids=["builtin-service", "older-stack"])
def test_reads_url_and_alb_from_a_stack_outputs_file(
    deploy: Callable[..., Deployment],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    builtin_service: bool | None,
) -> None:
    # The health path answers 404: the built-in checks must not probe it.
    deployment = deploy(health=app_root)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(stack_outputs(deployment, builtin_service=builtin_service))

    code = smoke.main(
        [
            "--stack-outputs",
            str(outputs),
            "--http-url",
            f"{deployment.plain.url}/",
            "--timeout",
            "0",
        ]
    )

    assert capsys.readouterr().out.splitlines() == deployment.good_lines()
    assert code == 0
    assert {path for _, path, _ in deployment.front.requests} == {"/"}


def test_own_app_stack_outputs_probe_its_health_check(
    deploy_own_app: Callable[..., Deployment], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    deployment = deploy_own_app()
    outputs = tmp_path / "outputs.json"
    outputs.write_text(stack_outputs(deployment, builtin_service=False))

    code = smoke.main(
        [
            "--stack-outputs",
            str(outputs),
            "--http-url",
            f"{deployment.plain.url}/",
            "--timeout",
            "0",
        ]
    )

    assert capsys.readouterr().out.splitlines() == deployment.own_app_lines()
    assert code == 0


OWN_HEALTH = f"{DISTRIBUTION}/healthz"


@pytest.mark.parametrize(
    ("outputs", "argv", "health_check_url"),
    [
        pytest.param(None, ["--own-app", "--health-check-url", OWN_HEALTH], OWN_HEALTH, id="flags"),
        pytest.param(None, [], None, id="url-alone"),
        pytest.param({"builtinService": False}, [], f"{DISTRIBUTION}/health", id="outputs-false"),
        pytest.param({"builtinService": True}, [], None, id="outputs-true"),
        pytest.param({}, [], None, id="outputs-older-stack"),
        pytest.param(
            {"builtinService": False},
            ["--health-check-url", OWN_HEALTH],
            OWN_HEALTH,
            id="flag-over-outputs",
        ),
        pytest.param(
            {"builtinService": True}, ["--own-app"], f"{DISTRIBUTION}/health", id="own-app-flag"
        ),
    ],
)
def test_own_app_from_the_outputs_or_the_flags(
    tmp_path: Path,
    outputs: dict[str, object] | None,
    argv: list[str],
    health_check_url: str | None,
) -> None:
    if outputs is None:
        argv = ["--url", DISTRIBUTION, *argv]
    else:
        path = tmp_path / "outputs.json"
        path.write_text(
            json.dumps({"url": DISTRIBUTION, "healthCheckUrl": f"{DISTRIBUTION}/health", **outputs})
        )
        argv = ["--stack-outputs", str(path), *argv]

    config = smoke.parse_args(argv)

    assert config.health_check_url == health_check_url
    first_check, _ = smoke.checks_for(config)[0]
    assert first_check == ("https-health" if health_check_url else "https-root")


def test_reads_stack_outputs_from_stdin(
    deploy: Callable[..., Deployment], monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = deploy()
    monkeypatch.setattr(sys, "stdin", io.StringIO(stack_outputs(deployment)))

    config = smoke.parse_args(["--stack-outputs", "-", "--http-url", "http://127.0.0.1:8080/"])

    assert (config.url, config.http_url, config.alb_dns_name) == (
        deployment.front.url,
        "http://127.0.0.1:8080/",
        deployment.alb.host,
    )


def test_https_stack_outputs_derive_the_plain_http_url(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"url": DISTRIBUTION, "albDnsName": "alb-1.elb.amazonaws.com"}))

    config = smoke.parse_args(["--stack-outputs", str(outputs)])

    assert (config.url, config.http_url, config.alb_dns_name) == (
        DISTRIBUTION,
        "http://d111111abcdef8.cloudfront.net/",
        "alb-1.elb.amazonaws.com",
    )


@pytest.mark.parametrize(
    ("argv", "outputs", "message"),
    [
        ([], None, "one of the arguments --url --stack-outputs is required"),
        (["--url", DISTRIBUTION, "--stack-outputs", "x"], None, "not allowed with argument"),
        (["--url", "ftp://example.com"], None, "expected https://HOST or http://HOST"),
        (["--url", "http://127.0.0.1:8080"], None, "--http-url is required"),
        (["--url", DISTRIBUTION, "--http-url", "https://x/"], None, "expected http://HOST"),
        (["--url", DISTRIBUTION, "--alb-dns-name", "http://alb/"], None, "HOST[:PORT]"),
        (["--url", DISTRIBUTION, "--timeout", "-1"], None, "must be 0 or more seconds"),
        (["--url", DISTRIBUTION, "--initial-delay", "0"], None, "must be more than 0"),
        (["--stack-outputs", "{outputs}"], "{}", "no string `url`"),
        (["--stack-outputs", "{outputs}"], "not json", "not JSON"),
        (["--stack-outputs", "{outputs}"], '["url"]', "not a JSON object"),
        (["--stack-outputs", "{outputs}/missing.json"], None, "No such file"),
        (["--url", DISTRIBUTION, "--own-app"], None, "needs its health check URL"),
        (["--url", DISTRIBUTION, "--health-check-url", OWN_HEALTH], None, "add --own-app"),
        (
            ["--url", DISTRIBUTION, "--own-app", "--health-check-url", "/health"],
            None,
            "expected https://HOST or http://HOST, got '/health'",
        ),
        (
            ["--stack-outputs", "{outputs}"],
            json.dumps({"url": DISTRIBUTION, "builtinService": False}),
            "needs its health check URL",
        ),
        (
            ["--stack-outputs", "{outputs}"],
            json.dumps({"url": DISTRIBUTION, "builtinService": "false"}),
            "`builtinService` is not true or false: 'false'",
        ),
        (
            ["--stack-outputs", "{outputs}"],
            json.dumps({"url": DISTRIBUTION, "builtinService": False, "healthCheckUrl": 1}),
            "`healthCheckUrl` is not a string",
        ),
    ],
)
def test_bad_usage_exits_2(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    argv: list[str],
    outputs: str | None,
    message: str,
) -> None:
    path = tmp_path / "outputs.json"
    if outputs is not None:
        path.write_text(outputs)
    argv = [
        arg.replace("{outputs}", str(path if outputs is not None else tmp_path)) for arg in argv
    ]

    # parse_args, not main: a validation that let bad usage through must not start the checks.
    with pytest.raises(SystemExit) as exit_info:
        smoke.parse_args(argv)

    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
