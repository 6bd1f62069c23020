#!/usr/bin/env python3
"""Latency benchmark of the backend service (components/backend/app/server.py) with wrk.

    apt-get install wrk
    python scripts/bench_backend.py                            # the service in this checkout
    git show HEAD:components/backend/app/server.py > /tmp/server.py
    python scripts/bench_backend.py --server /tmp/server.py    # any other version of it

Starts the service on 127.0.0.1 (a free port; no other traffic), then runs wrk twice against
GET / on kept-alive connections:

    single      1 connection, 1 thread: the latency of one request with nothing queued
    concurrent  50 connections, 2 threads: a burst such as the load balancer sends

Targets: single p50 <= 1 ms; concurrent p99 <= 100 ms with no socket error, no timeout and no
answer outside 2xx/3xx. Prints a table; exit status 0 when every target is met, 1 when one is
missed (or wrk or the service failed), 2 when wrk is not installed or for bad usage.

Standard library only. Takes about 20 s with the default durations.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SERVER = (
    Path(__file__).resolve().parent.parent / "components" / "backend" / "app" / "server.py"
)
HOST = "127.0.0.1"
SINGLE_P50_TARGET_MS = 1.0
CONCURRENT_P99_TARGET_MS = 100.0
CONCURRENT_CONNECTIONS = 50
CONCURRENT_THREADS = 2
# wrk counts a request unanswered after this long as a timeout (its own default, made explicit).
WRK_REQUEST_TIMEOUT_SECONDS = 2
MAX_RUN_SECONDS = 60  # each wrk run; keeps the whole benchmark bounded
STARTUP_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 5.0
# wrk runs for its -d duration; this much more covers its start and its report before we give up.
WRK_GRACE_SECONDS = 15.0

# wrk prints latencies with the unit that keeps the number readable (format_time_us in wrk).
_MILLISECONDS_PER_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_LATENCY_LINE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([0-9.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_REQUESTS_PER_SECOND = re.compile(r"^Requests/sec:\s+([0-9.]+)\s*$", re.MULTILINE)
_SOCKET_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", re.MULTILINE
)
_NON_SUCCESS = re.compile(r"Non-2xx or 3xx responses: (\d+)")


@dataclass(frozen=True)
class WrkResult:
    p50_ms: float
    p99_ms: float
    requests_per_second: float
    connect_errors: int = 0
    read_errors: int = 0
    write_errors: int = 0
    timeouts: int = 0
    non_success_responses: int = 0  # wrk's "Non-2xx or 3xx responses"

    @property
    def socket_errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors + self.timeouts


def parse_wrk_output(text: str) -> WrkResult:
    """The figures of one `wrk --latency` report; ValueError when the report lacks them."""
    percentiles = {
        percent: float(value) * _MILLISECONDS_PER_UNIT[unit]
        for percent, value, unit in _LATENCY_LINE.findall(text)
    }
    rate = _REQUESTS_PER_SECOND.search(text)
    if "50" not in percentiles or "99" not in percentiles or rate is None:
        raise ValueError("not a wrk --latency report (no 50%/99% latency or Requests/sec line)")
    # wrk prints these two lines only when their counts are not zero.
    errors = _SOCKET_ERRORS.search(text)
    connect, read, write, timeouts = (int(n) for n in errors.groups()) if errors else (0, 0, 0, 0)
    non_success = _NON_SUCCESS.search(text)
    return WrkResult(
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        requests_per_second=float(rate.group(1)),
        connect_errors=connect,
        read_errors=read,
        write_errors=write,
        timeouts=timeouts,
        non_success_responses=int(non_success.group(1)) if non_success else 0,
    )


def missed_targets(single: WrkResult, concurrent: WrkResult) -> list[str]:
    """One sentence per target missed; empty when all are met."""
    missed = []
    if single.p50_ms > SINGLE_P50_TARGET_MS:
        missed.append(f"single: p50 {single.p50_ms:.3f} ms > {SINGLE_P50_TARGET_MS} ms")
    if concurrent.p99_ms > CONCURRENT_P99_TARGET_MS:
        missed.append(f"concurrent: p99 {concurrent.p99_ms:.1f} ms > {CONCURRENT_P99_TARGET_MS} ms")
    if concurrent.socket_errors:
        missed.append(
            f"concurrent: {concurrent.socket_errors} socket errors "
            f"(connect {concurrent.connect_errors}, read {concurrent.read_errors}, "
            f"write {concurrent.write_errors}, timeout {concurrent.timeouts})"
        )
    if concurrent.non_success_responses:
        missed.append(f"concurrent: {concurrent.non_success_responses} non-2xx/3xx responses")
    return missed


def format_table(results: dict[str, WrkResult]) -> str:
    rows = [("run", "p50 ms", "p99 ms", "req/s", "socket errors", "non-2xx/3xx")]
    rows += [
        (
            name,
            f"{result.p50_ms:.3f}",
            f"{result.p99_ms:.3f}",
            f"{result.requests_per_second:.0f}",
            str(result.socket_errors),
            str(result.non_success_responses),
        )
        for name, result in results.items()
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def wait_until_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited with status {process.returncode}")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
        except OSError:
            time.sleep(0.05)
        else:
            return
    raise RuntimeError(f"the service did not listen on {HOST}:{port} within the startup timeout")


@contextmanager
def running_service(python: str, server: Path) -> Iterator[int]:
    """The service listening on HOST, its port yielded; stopped with SIGTERM as systemd does."""
    port = free_port()
    # Its stderr goes to a file: an unread pipe could fill up and stall the service under load.
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(  # noqa: S603 -- our own interpreter and service file
            [python, str(server), "--bind", HOST, "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # one access-log line per request
            stderr=stderr,
        )
        try:
            try:
                wait_until_listening(port, process)
            except RuntimeError as error:
                stderr.seek(0)
                raise RuntimeError(f"{error}\n{stderr.read().decode(errors='replace')}") from None
            yield port
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run_wrk(wrk: str, url: str, *, connections: int, threads: int, seconds: int) -> WrkResult:
    command = [
        wrk,
        "--latency",
        f"--connections={connections}",
        f"--threads={threads}",
        f"--duration={seconds}s",
        f"--timeout={WRK_REQUEST_TIMEOUT_SECONDS}s",
        url,
    ]
    completed = subprocess.run(  # noqa: S603 -- wrk from PATH, against our own 127.0.0.1 URL
        command,
        capture_output=True,
        text=True,
        timeout=seconds + WRK_GRACE_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"wrk exited with status {completed.returncode}: {completed.stderr}")
    return parse_wrk_output(completed.stdout)


def duration_seconds(text: str) -> int:
    seconds = int(text)
    if not 1 <= seconds <= MAX_RUN_SECONDS:
        raise argparse.ArgumentTypeError(f"use 1 to {MAX_RUN_SECONDS} seconds")
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--server", type=Path, default=DEFAULT_SERVER, help="the service file to benchmark"
    )
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter that runs the service"
    )
    parser.add_argument("--single-seconds", type=duration_seconds, default=5)
    parser.add_argument("--concurrent-seconds", type=duration_seconds, default=10)
    options = parser.parse_args(argv)

    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    if not options.server.is_file():
        print(f"no such service file: {options.server}", file=sys.stderr)
        return 2

    try:
        with running_service(options.python, options.server) as port:
            url = f"http://{HOST}:{port}/"
            results = {
                "single": run_wrk(
                    wrk, url, connections=1, threads=1, seconds=options.single_seconds
                ),
                "concurrent": run_wrk(
                    wrk,
                    url,
                    connections=CONCURRENT_CONNECTIONS,
                    threads=CONCURRENT_THREADS,
                    seconds=options.concurrent_seconds,
                ),
            }
    except (RuntimeError, ValueError, subprocess.TimeoutExpired) as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1

    print(f"{options.server}")
    print(format_table(results))
    missed = missed_targets(results["single"], results["concurrent"])
    for sentence in missed:
        print(f"MISSED {sentence}")
    if not missed:
        print(
            f"all targets met: single p50 <= {SINGLE_P50_TARGET_MS} ms; concurrent p99 <= "
            f"{CONCURRENT_P99_TARGET_MS} ms, no socket error, every response 2xx/3xx"
        )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
