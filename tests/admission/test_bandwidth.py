"""Bandwidth limits over HTTP (spec §11.3, §17.6): GCRA debt checked at admission.

Bytes are charged as they stream (upload bodies and download bodies); a request is
refused while the debt reaches further ahead than ``burst_ms``. With ``b`` bytes a
second and uploads of ``b`` bytes, each upload beyond the burst has to wait for a full
second of repayment, so a run of ``t`` seconds admits at most ``burst / 1 s + 1 + t``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.admission.support import Reply, call, object_path, run_until_rejected
from tests.conftest import MakeServer

pytestmark = pytest.mark.server

GLOBAL = "rate limited: global bandwidth exceeded"


def bandwidth(**limits: Any) -> dict[str, Any]:
    return {"rate_limits": {"bandwidth": limits}}


def uploader(url: str, usecase: str, scopes: str = "org=1", size: int = 100) -> Callable[[], Reply]:
    path = object_path(usecase, scopes)
    return lambda: call(url, "POST", path, b"u" * size)


def test_upload_debt_refuses_the_next_upload_until_paid_back(make_server: MakeServer) -> None:
    server = make_server(bandwidth(global_bps=100, burst_ms=0))
    upload = uploader(server.url, "metered")
    run = run_until_rejected(upload, limit=10)
    assert run.statuses[0] == 201
    assert run.statuses[-1] == 429
    assert run.count(201) <= 1 + run.elapsed
    assert run.replies[-1].detail == GLOBAL

    time.sleep(1.1)  # the last 100 bytes were charged before the run ended
    assert upload().status == 201


def test_burst_lets_two_uploads_through_then_refuses(make_server: MakeServer) -> None:
    server = make_server(bandwidth(global_bps=100, burst_ms=1500))
    run = run_until_rejected(uploader(server.url, "bursty"), limit=10)
    assert run.statuses[:2] == [201, 201]
    assert run.statuses[-1] == 429
    assert run.count(201) <= 2.5 + run.elapsed
    assert run.replies[-1].detail == GLOBAL


def test_one_large_upload_is_admitted_then_its_debt_blocks_uploads_and_downloads(
    make_server: MakeServer,
) -> None:
    server = make_server(bandwidth(global_bps=1000, burst_ms=1000))
    target = object_path("large", "org=1", "big")
    started = time.monotonic()
    # Admission only looks at past debt, so one upload may exceed the whole budget...
    assert call(server.url, "PUT", target, b"L" * 5000).status == 200
    # ...after which the next 4 seconds are spoken for, in both directions.
    upload = uploader(server.url, "large")()
    download = call(server.url, "GET", target)
    elapsed = time.monotonic() - started
    assert elapsed >= 4 or (upload.status, download.status) == (429, 429)
    if upload.status == 429:
        assert upload.detail == GLOBAL


def test_report_only_never_refuses(make_server: MakeServer) -> None:
    server = make_server(bandwidth(global_bps=100, burst_ms=0, report_only=True))
    for n in range(5):
        target = object_path("reported", "org=1", f"k{n}")
        assert call(server.url, "PUT", target, b"r" * 100).status == 200
        assert call(server.url, "GET", target).body == b"r" * 100


def test_usecase_share_limits_one_usecase_and_not_the_others(make_server: MakeServer) -> None:
    # 1 % of 10000 B/s: 100 B/s per usecase, 100 ms of burst.
    server = make_server(bandwidth(global_bps=10_000, burst_ms=100, usecase_pct=1))
    limited = uploader(server.url, "bw-usecase-a")
    run = run_until_rejected(limited, limit=10)
    assert run.statuses[0] == 201
    assert run.statuses[-1] == 429
    assert run.count(201) <= 1 + run.elapsed
    assert run.replies[-1].detail == "rate limited: bandwidth of usecase 'bw-usecase-a' exceeded"

    assert uploader(server.url, "bw-usecase-b")().status == 201
    time.sleep(1.1)
    assert limited().status == 201


def test_scope_share_charges_downloads_too(make_server: MakeServer) -> None:
    # 1 % of 10000 B/s: 100 B/s per scope list, 100 ms of burst.
    server = make_server(bandwidth(global_bps=10_000, burst_ms=100, scope_pct=1))
    target = object_path("bw-scope", "org=1", "doc")
    started = time.monotonic()
    assert call(server.url, "PUT", target, b"d" * 100).status == 200  # org=1 owes 1 s
    same_scope = call(server.url, "PUT", object_path("other-usecase", "org=1", "x"), b"x")
    other_scope = call(server.url, "PUT", object_path("bw-scope", "org=2", "doc"), b"d" * 100)
    elapsed = time.monotonic() - started
    assert other_scope.status == 200
    assert elapsed >= 0.9 or same_scope.status == 429
    if same_scope.status == 429:
        assert same_scope.detail == "rate limited: bandwidth of scope 'org=1' exceeded"

    time.sleep(1.1)
    download = lambda: call(server.url, "GET", target)  # noqa: E731
    run = run_until_rejected(download, limit=10)
    assert run.statuses[0] == 200
    assert run.replies[0].body == b"d" * 100
    assert run.statuses[-1] == 429
    assert run.count(200) <= 1 + run.elapsed
    assert run.replies[-1].detail == "rate limited: bandwidth of scope 'org=1' exceeded"


def test_requests_refused_for_bandwidth_spend_no_throughput_tokens(
    make_server: MakeServer,
) -> None:
    # Two throughput tokens that never refill; 100 B/s for each usecase.
    server = make_server(
        {
            "rate_limits": {
                "throughput": {"global_rps": 0, "burst": 2},
                "bandwidth": {"global_bps": 10_000, "usecase_pct": 1},
            }
        }
    )
    heavy = object_path("heavy", "org=1")
    started = time.monotonic()
    assert call(server.url, "POST", heavy, b"h" * 1000).status == 201  # 10 s of debt
    refused = [call(server.url, "POST", heavy, b"h") for _ in range(5)]
    elapsed = time.monotonic() - started
    assert elapsed >= 9 or {reply.status for reply in refused} == {429}
    assert all("bandwidth of usecase 'heavy'" in reply.detail for reply in refused)

    light = object_path("light", "org=1", "missing")
    assert call(server.url, "GET", light).status == 404  # the second token is still there
    last = call(server.url, "GET", light)
    assert last.status == 429
    assert last.detail == "rate limited: global throughput exceeded"
