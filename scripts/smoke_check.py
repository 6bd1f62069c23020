#!/usr/bin/env python3
"""Post-deploy smoke check of the CloudFront -> ALB -> EC2 stack, run after `pulumi up`.

    pulumi stack output --json --stack dev > outputs.json
    python scripts/smoke_check.py --stack-outputs outputs.json

Checks, in order, each printing one line on stdout, `PASS <check>: <detail>` or
`FAIL <check>: <detail>`:

    https-root      GET <url>/ answers 200 with the body `Backend is running!`, exactly
    http-redirect   GET http://<host>/ answers a redirect (not followed) to an https:// URL
    post-forwarded  POST <url>/ reaches the backend (CloudFront answers 403 to a method its
                    cache behaviour does not allow)
    not-cached      two GETs of <url>/: no Age header, no X-Cache saying "Hit"
    origin-locked   GET http://<albDnsName>/ answers 403, or gets no connection at all (refused,
                    timed out, unreachable): the ALB serves only requests that came through
                    CloudFront. Runs only when an ALB DNS name is known.

Those are the checks of the built-in placeholder service (output `builtinService` true, or
absent in older stacks). A team's own app (`appImage`, `machineImage`) may answer anything on /:
when the outputs say `builtinService: false`, or with --own-app and --health-check-url, the
checks probe its health check (output `healthCheckUrl`) instead:

    https-health    replaces https-root: GET <healthCheckUrl> answers 200, with any body
    http-redirect   unchanged
    post-forwarded  POST <url>/ reaches the app: any answer passes but the two refusals, a 403
                    with `Server: CloudFront` (its cache behaviour does not allow the method) or a
                    403 with `Server: awselb/2.0` (the ALB got no origin secret)
    not-cached      two GETs of <healthCheckUrl>, same rule
    origin-locked   unchanged

A new distribution takes minutes to deploy: a failing check is retried, as a whole, with
exponential backoff (--initial-delay, doubling up to --max-delay) until it passes or the time
limit (--timeout, shared by all checks) is spent; every check is attempted at least once.
Retries are reported on stderr; only the last attempt's result is printed on stdout.

Exit status: 0 when every check passed, 1 when one failed, 2 for bad usage.

Standard library only (Python 3.11), so a CI job can run it before installing anything.
"""

from __future__ import annotations

import argparse
import errno
import functools
import http.client
import json
import socket
import ssl
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

EXPECTED_BODY = b"Backend is running!"
HEALTHY_STATUS = 200
REFUSED_STATUS = 403  # what CloudFront and the ALB answer a request they do not pass on
REDIRECT_STATUSES = frozenset({301, 302, 307, 308})
ORIGIN_LOCKED_STATUS = 403
POST_BODY = b"smoke-check"
USER_AGENT = "smoke-check/1"
MAX_BODY_BYTES = 64 * 1024  # read no more of a response than this
SHOWN_BODY_CHARS = 80  # bodies in failure details are cut to this many characters
BACKOFF_FACTOR = 2
# Errors that mean "nothing answers at this address": the ALB only accepts CloudFront's servers.
UNREACHABLE_ERRNOS = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH})

DEFAULT_TIMEOUT = 900.0
DEFAULT_INITIAL_DELAY = 5.0
DEFAULT_MAX_DELAY = 60.0
DEFAULT_REQUEST_TIMEOUT = 10.0


@dataclass(frozen=True)
class Config:
    url: str  # the distribution's base URL: https://dxxxx.cloudfront.net (http:// in tests)
    http_url: str  # the same site over plain HTTP, which must redirect to https://
    alb_dns_name: str | None = None  # host[:port] of the ALB; None skips origin-locked
    # Set when the team's own app runs: its health check replaces the built-in body's checks.
    health_check_url: str | None = None
    timeout: float = DEFAULT_TIMEOUT  # seconds for all checks and their retries together
    initial_delay: float = DEFAULT_INITIAL_DELAY
    max_delay: float = DEFAULT_MAX_DELAY
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT  # per-request socket timeout

    @property
    def root_url(self) -> str:
        return self.url.rstrip("/") + "/"

    @property
    def own_app(self) -> bool:
        return self.health_check_url is not None

    @property
    def probe_url(self) -> str:
        """What https-root/https-health and not-cached GET: the app's health check, or <url>/."""
        return self.health_check_url or self.root_url


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str

    @property
    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.detail}"


@dataclass(frozen=True)
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


class RequestError(Exception):
    """A request got no HTTP answer: DNS, connection, TLS or protocol failure."""

    def __init__(self, method: str, url: str, cause: OSError | http.client.HTTPException) -> None:
        super().__init__(f"{method} {url}: {describe_error(cause)}")
        self.cause = cause


def describe_error(error: OSError | http.client.HTTPException) -> str:
    if isinstance(error, socket.gaierror):
        reason = f"DNS lookup failed ({error.strerror})"
    elif isinstance(error, ssl.SSLCertVerificationError):
        reason = f"TLS certificate verification failed ({error.verify_message})"
    elif isinstance(error, TimeoutError):
        reason = "timed out"
    elif isinstance(error, ConnectionRefusedError):
        reason = "connection refused"
    else:
        reason = f"{type(error).__name__}: {error}"
    return reason


@functools.cache
def tls_context() -> ssl.SSLContext:
    """Certificate and host name verification on, against the system's CA store."""
    return ssl.create_default_context()


def request(method: str, url: str, *, timeout: float, body: bytes | None = None) -> Response:
    """One request, redirects not followed; raises RequestError when no HTTP answer comes."""
    parts = urlsplit(url)
    host = parts.hostname
    if host is None:
        raise ValueError(f"no host in {url!r}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = (
        http.client.HTTPSConnection(host, parts.port, timeout=timeout, context=tls_context())
        if parts.scheme == "https"
        else http.client.HTTPConnection(host, parts.port, timeout=timeout)
    )
    headers = {"User-Agent": USER_AGENT, "Connection": "close"}
    if body is not None:
        headers["Content-Type"] = "text/plain"
    try:
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        return Response(response.status, response.headers, response.read(MAX_BODY_BYTES))
    except (OSError, http.client.HTTPException) as error:
        raise RequestError(method, url, error) from error
    finally:
        connection.close()


def show(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace")
    if len(text) <= SHOWN_BODY_CHARS:
        return repr(text)
    return f"{text[:SHOWN_BODY_CHARS]!r}... ({len(body)} bytes)"


def expect_backend(response: Response) -> tuple[bool, str]:
    if response.status == 200 and response.body == EXPECTED_BODY:
        return True, f"200 {show(response.body)}"
    return False, f"expected 200 {show(EXPECTED_BODY)}, got {response.status} {show(response.body)}"


# --- The checks: each returns (passed, detail) or raises RequestError -------------------------


def check_https_root(config: Config) -> tuple[bool, str]:
    return expect_backend(request("GET", config.root_url, timeout=config.request_timeout))


def check_https_health(config: Config) -> tuple[bool, str]:
    url = config.probe_url
    response = request("GET", url, timeout=config.request_timeout)
    if response.status == HEALTHY_STATUS:
        return True, f"{response.status} {show(response.body)} from {url}"
    return False, (
        f"expected {HEALTHY_STATUS} from {url}, got {response.status} {show(response.body)}"
    )


def check_http_redirect(config: Config) -> tuple[bool, str]:
    response = request("GET", config.http_url, timeout=config.request_timeout)
    location = response.headers.get("Location", "")
    if response.status not in REDIRECT_STATUSES:
        return (
            False,
            f"expected a redirect to https://, got {response.status} {show(response.body)}",
        )
    if not location.startswith("https://"):
        return False, f"{response.status} redirects to {location!r}, not to https://"
    return True, f"{response.status} -> {location}"


def check_post_forwarded(config: Config) -> tuple[bool, str]:
    return expect_backend(
        request("POST", config.root_url, timeout=config.request_timeout, body=POST_BODY)
    )


def refused_by(response: Response) -> str | None:
    """Who refused the request before it reached the app, told by the Server header of the 403
    that CloudFront or the ALB generates itself; None when the answer came from the app."""
    if response.status != REFUSED_STATUS:
        return None
    server = response.headers.get("Server", "")
    if server.lower() == "cloudfront":
        return f"CloudFront (Server: {server}): its cache behaviour does not allow the method"
    if server.lower().startswith("awselb/"):
        return f"the ALB (Server: {server}): the request did not carry the origin secret"
    return None


def check_post_reaches_app(config: Config) -> tuple[bool, str]:
    response = request("POST", config.root_url, timeout=config.request_timeout, body=POST_BODY)
    refuser = refused_by(response)
    if refuser is not None:
        return False, f"{response.status} from {refuser}"
    return True, (
        f"{response.status} {show(response.body)} from the app (not refused by CloudFront "
        "or the ALB)"
    )


def check_not_cached(config: Config) -> tuple[bool, str]:
    seen: list[str] = []
    for number in (1, 2):
        response = request("GET", config.probe_url, timeout=config.request_timeout)
        if response.status != 200:
            return False, f"GET {number} of 2: expected 200, got {response.status}"
        age = response.headers.get("Age")
        x_cache = response.headers.get("X-Cache")
        cached = [f"Age: {age}"] if age is not None else []
        # Hit, RefreshHit: CloudFront answered from its cache (a RefreshHit after revalidating).
        if x_cache is not None and "hit" in x_cache.lower():
            cached.append(f"X-Cache: {x_cache}")
        if cached:
            return False, f"GET {number} of 2 was served from a cache ({', '.join(cached)})"
        seen.append(repr(x_cache) if x_cache is not None else "absent")
    return True, f"no Age header; X-Cache: {', '.join(seen)}"


def check_origin_locked(config: Config) -> tuple[bool, str]:
    url = f"http://{config.alb_dns_name}/"
    try:
        response = request("GET", url, timeout=config.request_timeout)
    except RequestError as error:
        cause = error.cause
        if isinstance(cause, TimeoutError | ConnectionRefusedError) or (
            isinstance(cause, OSError) and cause.errno in UNREACHABLE_ERRNOS
        ):
            return True, f"{error} (the ALB does not answer directly)"
        raise
    if response.status == ORIGIN_LOCKED_STATUS:
        return True, f"{response.status} from {url}"
    return False, (
        f"expected {ORIGIN_LOCKED_STATUS} from {url}, got {response.status} "
        f"{show(response.body)}: the ALB serves requests that did not come through CloudFront"
    )


Check = Callable[[Config], tuple[bool, str]]


def checks_for(config: Config) -> list[tuple[str, Check]]:
    checks: list[tuple[str, Check]] = (
        [
            ("https-health", check_https_health),
            ("http-redirect", check_http_redirect),
            ("post-forwarded", check_post_reaches_app),
            ("not-cached", check_not_cached),
        ]
        if config.own_app
        else [
            ("https-root", check_https_root),
            ("http-redirect", check_http_redirect),
            ("post-forwarded", check_post_forwarded),
            ("not-cached", check_not_cached),
        ]
    )
    if config.alb_dns_name:
        checks.append(("origin-locked", check_origin_locked))
    return checks


# --- Running them, with retries -----------------------------------------------------------------


def attempt(check: Check, config: Config) -> tuple[bool, str]:
    try:
        return check(config)
    except RequestError as error:
        return False, str(error)


def run_with_retries(
    name: str,
    check: Check,
    config: Config,
    *,
    deadline: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> CheckResult:
    delay = config.initial_delay
    attempts = 1
    while True:
        passed, detail = attempt(check, config)
        remaining = deadline - clock()
        if passed or remaining <= 0:
            if not passed and attempts > 1:
                print(
                    f"GIVE UP {name}: {attempts} attempts, time limit of {config.timeout:g}s spent",
                    file=sys.stderr,
                    flush=True,
                )
            return CheckResult(name, passed, detail)
        pause = min(delay, remaining)
        print(
            f"RETRY {name}: attempt {attempts} failed: {detail}; next attempt in {pause:.3g}s",
            file=sys.stderr,
            flush=True,
        )
        sleep(pause)
        delay = min(delay * BACKOFF_FACTOR, config.max_delay)
        attempts += 1


def iter_checks(
    config: Config,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[CheckResult]:
    deadline = clock() + config.timeout
    for name, check in checks_for(config):
        yield run_with_retries(name, check, config, deadline=deadline, sleep=sleep, clock=clock)


def run_checks(
    config: Config,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[CheckResult]:
    return list(iter_checks(config, sleep=sleep, clock=clock))


# --- Command line -----------------------------------------------------------------------------


def _seconds(*, allow_zero: bool) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if not (value >= 0 if allow_zero else value > 0) or value == float("inf"):
            bound = "0 or more" if allow_zero else "more than 0"
            raise argparse.ArgumentTypeError(f"must be {bound} seconds: {text!r}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Smoke-check a deployed CloudFront -> ALB -> EC2 stack.",
        epilog="Exit status: 0 all checks passed, 1 a check failed, 2 bad usage.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", help="the distribution's URL, e.g. https://dxxxx.cloudfront.net")
    source.add_argument(
        "--stack-outputs",
        metavar="FILE|-",
        help="the JSON of `pulumi stack output --json` (keys url, albDnsName, builtinService, "
        "healthCheckUrl); - reads stdin",
    )
    parser.add_argument(
        "--own-app",
        action="store_true",
        help="the instances run the team's own app, not the built-in service (what "
        "builtinService false says in the outputs): probe its health check instead of "
        "the built-in body; needs a health check URL",
    )
    parser.add_argument(
        "--health-check-url",
        metavar="URL",
        help="the app's health check through CloudFront, e.g. "
        "https://dxxxx.cloudfront.net/health (overrides healthCheckUrl); only for an own app",
    )
    parser.add_argument(
        "--alb-dns-name",
        metavar="NAME",
        help="the ALB's DNS name (overrides albDnsName); enables the origin-locked check",
    )
    parser.add_argument(
        "--http-url",
        metavar="URL",
        help="plain-HTTP URL for http-redirect (default: http://<host of the URL>/; "
        "required when the URL is http://)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds(allow_zero=True),
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="time limit for all checks and their retries; 0: one attempt each "
        "(default: %(default)g)",
    )
    parser.add_argument(
        "--initial-delay",
        type=_seconds(allow_zero=False),
        default=DEFAULT_INITIAL_DELAY,
        metavar="SECONDS",
        help="first pause before retrying a failed check, doubled each retry "
        "(default: %(default)g)",
    )
    parser.add_argument(
        "--max-delay",
        type=_seconds(allow_zero=False),
        default=DEFAULT_MAX_DELAY,
        metavar="SECONDS",
        help="longest pause between retries (default: %(default)g)",
    )
    parser.add_argument(
        "--request-timeout",
        type=_seconds(allow_zero=False),
        default=DEFAULT_REQUEST_TIMEOUT,
        metavar="SECONDS",
        help="socket timeout of each request (default: %(default)g)",
    )
    return parser


@dataclass(frozen=True)
class StackOutputs:
    """What the check reads of `pulumi stack output --json`."""

    url: str
    alb_dns_name: str | None = None
    health_check_url: str | None = None
    builtin_service: bool = True  # older stacks do not say: they run only the built-in service


def _optional_string(outputs: dict[str, Any], key: str) -> str | None:
    value = outputs.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"`{key}` is not a string")
    return value


def load_stack_outputs(source: str) -> StackOutputs:
    """The outputs the check uses, from `pulumi stack output --json`; raises ValueError or
    OSError."""
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    try:
        outputs: Any = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error})") from None
    if not isinstance(outputs, dict):
        raise ValueError("not a JSON object")
    url = outputs.get("url")
    if not isinstance(url, str):
        raise ValueError("no string `url`")
    builtin_service = outputs.get("builtinService", True)
    if not isinstance(builtin_service, bool):
        raise ValueError(f"`builtinService` is not true or false: {builtin_service!r}")
    return StackOutputs(
        url=url,
        alb_dns_name=_optional_string(outputs, "albDnsName"),
        health_check_url=_optional_string(outputs, "healthCheckUrl"),
        builtin_service=builtin_service,
    )


def _split_url(text: str, schemes: tuple[str, ...]) -> SplitResult:
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"bad port in {text!r}") from None
    if parts.scheme not in schemes or not parts.hostname or parts.username is not None:
        raise ValueError(f"expected {' or '.join(f'{s}://HOST' for s in schemes)}, got {text!r}")
    return parts


def _health_check_url(own_app: bool, given: str | None, from_outputs: str | None) -> str | None:
    """The own app's health check URL (--health-check-url over healthCheckUrl); None for the
    built-in service, which has no use for one."""
    if not own_app:
        if given is not None:
            raise ValueError(
                "--health-check-url is for the team's own app: add --own-app "
                "(or deploy with builtinService false)"
            )
        return None
    url = given or from_outputs
    if not url:
        raise ValueError(
            "the team's own app needs its health check URL: --health-check-url, "
            "or healthCheckUrl in the stack outputs"
        )
    _split_url(url, ("https", "http"))
    return url


def parse_args(argv: Sequence[str] | None = None) -> Config:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        outputs = (
            load_stack_outputs(args.stack_outputs)
            if args.stack_outputs is not None
            else StackOutputs(url=args.url)
        )
        url = outputs.url
        alb_dns_name: str | None = args.alb_dns_name or outputs.alb_dns_name
        parts = _split_url(url, ("https", "http"))
        health_check_url = _health_check_url(
            args.own_app or not outputs.builtin_service,
            args.health_check_url,
            outputs.health_check_url,
        )
        if args.http_url is not None:
            http_url = urlunsplit(_split_url(args.http_url, ("http",)))
        elif parts.scheme == "https":
            host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
            http_url = f"http://{host}/"
        else:
            raise ValueError(f"--http-url is required when the URL is plain HTTP ({url})")
        if alb_dns_name and urlsplit(f"//{alb_dns_name}").netloc != alb_dns_name:
            raise ValueError(f"the ALB DNS name must be HOST[:PORT], got {alb_dns_name!r}")
    except (ValueError, OSError) as error:
        parser.error(str(error))
    return Config(
        url=url,
        http_url=http_url,
        alb_dns_name=alb_dns_name or None,
        health_check_url=health_check_url,
        timeout=args.timeout,
        initial_delay=args.initial_delay,
        max_delay=args.max_delay,
        request_timeout=args.request_timeout,
    )


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    failed = False
    for result in iter_checks(config):
        print(result.line, flush=True)
        failed = failed or not result.passed
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
