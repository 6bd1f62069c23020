"""scripts/bench_backend.py offline: its reading of wrk reports (real ones, captured from wrk 4.1.0
against the service before and after its latency fix) and its verdict on the targets."""

from __future__ import annotations

import pytest

from scripts import bench_backend as bench

# Lines, not one literal: wrk ends latencies in seconds with a space ("1.25s ").
SINGLE_BEFORE = "\n".join(
    [
        "Running 3s test @ http://127.0.0.1:18080/",
        "  1 threads and 1 connections",
        "  Thread Stats   Avg      Stdev     Max   +/- Stdev",
        "    Latency    43.34ms    5.20ms  44.13ms   98.55%",
        "    Req/Sec    23.00      4.66    30.00     70.00%",
        "  Latency Distribution",
        "     50%   43.99ms",
        "     75%   44.04ms",
        "     90%   44.08ms",
        "     99%   44.13ms",
        "  69 requests in 3.00s, 12.22KB read",
        "Requests/sec:     22.98",
        "Transfer/sec:      4.07KB",
        "",
    ]
)
CONCURRENT_BEFORE = "\n".join(
    [
        "Running 5s test @ http://127.0.0.1:18080/",
        "  2 threads and 50 connections",
        "  Thread Stats   Avg      Stdev     Max   +/- Stdev",
        "    Latency    84.91ms  194.05ms   1.67s    95.17%",
        "    Req/Sec   305.28    163.01   560.00     60.00%",
        "  Latency Distribution",
        "     50%   43.98ms",
        "     75%   44.03ms",
        "     90%   44.33ms",
        "     99%    1.25s ",
        "  3042 requests in 5.00s, 538.32KB read",
        "  Socket errors: connect 0, read 1, write 2, timeout 6",
        "Requests/sec:    607.87",
        "Transfer/sec:    107.57KB",
        "",
    ]
)
SINGLE_AFTER = "\n".join(
    [
        "Running 3s test @ http://127.0.0.1:18081/",
        "  1 threads and 1 connections",
        "  Thread Stats   Avg      Stdev     Max   +/- Stdev",
        "    Latency   164.85us  108.91us   4.24ms   99.21%",
        "    Req/Sec     6.21k     0.97k    8.49k    67.74%",
        "  Latency Distribution",
        "     50%  153.00us",
        "     75%  181.00us",
        "     90%  205.00us",
        "     99%  257.00us",
        "  19135 requests in 3.10s, 3.27MB read",
        "Requests/sec:   6173.68",
        "Transfer/sec:      1.05MB",
        "",
    ]
)
CONCURRENT_AFTER = "\n".join(
    [
        "Running 5s test @ http://127.0.0.1:18081/",
        "  2 threads and 50 connections",
        "  Thread Stats   Avg      Stdev     Max   +/- Stdev",
        "    Latency    10.29ms   16.51ms 279.20ms   96.55%",
        "    Req/Sec     3.11k   508.73     4.54k    81.00%",
        "  Latency Distribution",
        "     50%    7.38ms",
        "     75%   12.21ms",
        "     90%   18.22ms",
        "     99%   81.33ms",
        "  30929 requests in 5.00s, 5.28MB read",
        "Requests/sec:   6183.71",
        "Transfer/sec:      1.06MB",
        "",
    ]
)
NOT_FOUND = "\n".join(
    [
        "Running 1s test @ http://127.0.0.1:18300/nope",
        "  1 threads and 2 connections",
        "  Thread Stats   Avg      Stdev     Max   +/- Stdev",
        "    Latency   206.88us   91.74us   2.53ms   78.23%",
        "    Req/Sec     9.62k     1.71k   12.99k    63.64%",
        "  Latency Distribution",
        "     50%  195.00us",
        "     75%  245.00us",
        "     90%  295.00us",
        "     99%  420.00us",
        "  10531 requests in 1.10s, 1.76MB read",
        "  Non-2xx or 3xx responses: 10531",
        "Requests/sec:   9580.23",
        "Transfer/sec:      1.60MB",
        "",
    ]
)


def test_reads_milliseconds_and_the_request_rate() -> None:
    assert bench.parse_wrk_output(SINGLE_BEFORE) == bench.WrkResult(
        p50_ms=43.99, p99_ms=44.13, requests_per_second=22.98
    )


def test_converts_microseconds_and_seconds_to_milliseconds() -> None:
    after = bench.parse_wrk_output(SINGLE_AFTER)
    before = bench.parse_wrk_output(CONCURRENT_BEFORE)

    assert (after.p50_ms, after.p99_ms) == pytest.approx((0.153, 0.257))
    assert (before.p50_ms, before.p99_ms) == pytest.approx((43.98, 1250.0))


def test_reads_each_kind_of_socket_error() -> None:
    result = bench.parse_wrk_output(CONCURRENT_BEFORE)

    assert (result.connect_errors, result.read_errors, result.write_errors) == (0, 1, 2)
    assert result.timeouts == 6
    assert result.socket_errors == 9
    assert result.non_success_responses == 0


def test_reads_answers_outside_2xx_and_3xx() -> None:
    result = bench.parse_wrk_output(NOT_FOUND)

    assert result.non_success_responses == 10531
    assert result.socket_errors == 0


def test_refuses_text_that_is_not_a_latency_report() -> None:
    without_distribution = "\n".join(
        line for line in SINGLE_AFTER.splitlines() if "%  " not in line or "Latency" in line
    )

    with pytest.raises(ValueError, match="not a wrk --latency report"):
        bench.parse_wrk_output(without_distribution)
    with pytest.raises(ValueError, match="not a wrk --latency report"):
        bench.parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_service_before_the_fix_misses_every_target() -> None:
    missed = bench.missed_targets(
        bench.parse_wrk_output(SINGLE_BEFORE),
        bench.parse_wrk_output(CONCURRENT_BEFORE),
    )

    assert missed == [
        "single: p50 43.990 ms > 1.0 ms",
        "concurrent: p99 1250.0 ms > 100.0 ms",
        "concurrent: 9 socket errors (connect 0, read 1, write 2, timeout 6)",
    ]


def test_service_after_the_fix_meets_every_target() -> None:
    missed = bench.missed_targets(
        bench.parse_wrk_output(SINGLE_AFTER),
        bench.parse_wrk_output(CONCURRENT_AFTER),
    )

    assert missed == []


def test_error_answers_miss_the_concurrent_target() -> None:
    not_found = bench.parse_wrk_output(NOT_FOUND)

    assert bench.missed_targets(not_found, not_found) == ["concurrent: 10531 non-2xx/3xx responses"]


def test_table_shows_one_row_per_run() -> None:
    table = bench.format_table(
        {
            "single": bench.parse_wrk_output(SINGLE_AFTER),
            "concurrent": bench.parse_wrk_output(CONCURRENT_BEFORE),
        }
    )

    assert [line.split() for line in table.splitlines()] == [
        ["run", "p50", "ms", "p99", "ms", "req/s", "socket", "errors", "non-2xx/3xx"],
        ["single", "0.153", "0.257", "6174", "0", "0"],
        ["concurrent", "43.980", "1250.000", "608", "9", "0"],
    ]


def test_without_wrk_it_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench.shutil, "which", lambda _name: None)

    assert bench.main([]) == 2
    assert "apt-get install wrk" in capsys.readouterr().err
