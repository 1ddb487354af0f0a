"""Throughput limits over HTTP (spec §11.3, §17.6): token buckets answer 429 with JSON.

Buckets refill while a test runs, so counts are bounded by what a bucket can hold plus
what it can refill in the measured time (see :mod:`tests.admission.support`); a bucket
with rate 0 never refills and gives exact counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.admission.support import Reply, call, object_path, run_all, run_until_rejected
from tests.batch.support import Op, batch
from tests.conftest import MakeServer

pytestmark = pytest.mark.server

GLOBAL = "rate limited: global throughput exceeded"
RULE = "rate limited: a throughput rule exceeded"


def throughput(**limits: Any) -> dict[str, Any]:
    return {"rate_limits": {"throughput": limits}}


def getter(url: str, usecase: str, scopes: str = "org=1") -> Callable[[], Reply]:
    path = object_path(usecase, scopes, "missing")
    return lambda: call(url, "GET", path)


def test_global_limit_admits_rate_plus_burst_then_429_and_recovers(
    make_server: MakeServer,
) -> None:
    server = make_server(throughput(global_rps=2, burst=1))
    get = getter(server.url, "limited")
    run = run_until_rejected(get)
    assert run.statuses[:3] == [404, 404, 404]  # the bucket starts full: rps + burst
    assert run.statuses[-1] == 429
    assert run.count(404) <= 3 + 2 * run.elapsed
    assert run.replies[-1].detail == GLOBAL

    # Internal routes are never limited, however empty the bucket.
    for _ in range(20):
        assert call(server.url, "GET", "/health").status == 200
        assert call(server.url, "GET", "/ready").status == 200

    time.sleep(1.1)  # refills at least two tokens
    assert get().status == 404


def test_concurrent_burst_is_cut_to_the_bucket(make_server: MakeServer) -> None:
    server = make_server(throughput(global_rps=5, burst=2))
    gets = [getter(server.url, "burst", f"org={n % 3}") for n in range(32)]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(pool.map(lambda get: get(), gets))
    elapsed = time.monotonic() - started
    admitted = sum(1 for reply in replies if reply.status == 404)
    rejected = [reply for reply in replies if reply.status == 429]
    assert admitted + len(rejected) == len(gets)
    assert 7 <= admitted <= 7 + 5 * elapsed
    assert all(reply.detail == GLOBAL for reply in rejected)


def test_bucket_without_refill_admits_exactly_its_burst(make_server: MakeServer) -> None:
    server = make_server(throughput(global_rps=0, burst=3))
    run = run_all([getter(server.url, "exact")] * 8)
    assert run.statuses == [404, 404, 404] + [429] * 5


def test_batch_requests_and_each_operation_take_a_token(make_server: MakeServer) -> None:
    server = make_server(throughput(global_rps=0, burst=4))
    answer = batch(server.url, "batched", "org=1", [Op("get", f"k{n}") for n in range(4)])
    assert answer.status == 200  # the request itself took the first token
    parts = answer.parts()
    assert sorted(part.status for part in parts.values()) == [404, 404, 404, 429]
    [limited] = [part for part in parts.values() if part.status == 429]
    assert "throughput" in limited.body.decode()
    assert getter(server.url, "batched")().status == 429


def test_usecase_share_limits_one_usecase_and_not_the_others(make_server: MakeServer) -> None:
    server = make_server(throughput(global_rps=100, usecase_pct=2))  # 2 rps per usecase
    limited = getter(server.url, "usecase-a")
    run = run_until_rejected(limited)
    assert run.statuses[:2] == [404, 404]
    assert run.statuses[-1] == 429
    assert run.count(404) <= 2 + 2 * run.elapsed
    assert run.replies[-1].detail == "rate limited: throughput of usecase 'usecase-a' exceeded"

    assert run_all([getter(server.url, "usecase-b")] * 2).statuses == [404, 404]
    time.sleep(1.1)
    assert limited().status == 404


def test_scope_share_is_per_scope_list_across_usecases(make_server: MakeServer) -> None:
    server = make_server(throughput(global_rps=100, scope_pct=2))  # 2 rps per scope list
    started = time.monotonic()
    first = run_until_rejected(getter(server.url, "usecase-a", "org=1"))
    assert first.statuses[:2] == [404, 404]
    assert first.statuses[-1] == 429
    assert first.replies[-1].detail == "rate limited: throughput of scope 'org=1' exceeded"
    # The same scopes under another usecase draw from the same bucket.
    second = run_all([getter(server.url, "usecase-b", "org=1")] * 4)
    elapsed = time.monotonic() - started
    assert first.count(404) + second.count(404) <= 2 + 2 * elapsed

    # Other scope lists have their own buckets, a longer list included.
    for scopes in ("org=2", "org=1;project=1"):
        assert run_all([getter(server.url, "usecase-a", scopes)] * 2).statuses == [404, 404]
    time.sleep(1.1)
    assert getter(server.url, "usecase-a", "org=1")().status == 404


def test_rule_limits_only_what_it_matches_without_a_global_limit(
    make_server: MakeServer,
) -> None:
    server = make_server(
        throughput(
            rules=[
                {"usecase": "restricted", "scopes": [["org", "42"]], "rps": 1},
                {"usecase": "pct-only", "pct": 10},  # a share of nothing: no limit
            ]
        )
    )
    restricted = getter(server.url, "restricted", "org=42;project=4711")
    run = run_until_rejected(restricted)
    assert run.statuses[0] == 404
    assert run.statuses[-1] == 429
    assert run.count(404) <= 1 + 1 * run.elapsed
    assert run.replies[-1].detail == RULE

    for get in (
        getter(server.url, "other", "org=42;project=4711"),
        getter(server.url, "restricted", "org=43;project=4711"),
        getter(server.url, "pct-only", "org=42"),
    ):
        assert run_all([get] * 10).statuses == [404] * 10
    time.sleep(1.1)
    assert restricted().status == 404


def test_rule_with_rps_and_pct_takes_the_smaller(make_server: MakeServer) -> None:
    server = make_server(
        throughput(
            global_rps=1000,
            rules=[
                {"usecase": "capped", "rps": 50, "pct": 0.3},  # 3 rps beats 50
                {"usecase": "pct-rule", "pct": 0.2},  # 2 rps
            ],
        )
    )
    for usecase, rate in (("capped", 3), ("pct-rule", 2)):
        run = run_until_rejected(getter(server.url, usecase))
        assert run.statuses[:rate] == [404] * rate
        assert run.statuses[-1] == 429
        assert run.count(404) <= rate + rate * run.elapsed
        assert run.replies[-1].detail == RULE


def test_a_later_bucket_refusing_does_not_give_back_earlier_tokens(
    make_server: MakeServer,
) -> None:
    # Global: 4 tokens, 2 a second. Usecase: 3 tokens, 1 a second. Every request the
    # usecase bucket refuses has already spent a global token, so the global bucket runs
    # dry, which the requests it admitted could never do on their own.
    server = make_server(throughput(global_rps=2, burst=2, usecase_pct=50))
    get = getter(server.url, "greedy")
    replies: list[Reply] = []
    for _ in range(40):
        replies.append(get())
        if replies[-1].status == 429 and replies[-1].detail == GLOBAL:
            break
    assert [reply.status for reply in replies[:3]] == [404, 404, 404]
    assert "rate limited: throughput of usecase 'greedy' exceeded" in {
        reply.detail for reply in replies if reply.status == 429
    }
    # Admitted requests alone (at most 3 + t) can never empty a bucket of 4 + 2t.
    assert replies[-1].status == 429
    assert replies[-1].detail == GLOBAL
