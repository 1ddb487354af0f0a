"""Admission control with the spec's worked examples (§11, §17.6)."""

import asyncio
import time

import pytest

from blobhouse.core.ids import Scopes
from blobhouse.server.admission import (
    BandwidthLimiter,
    ConcurrencyLimiter,
    Killswitch,
    Killswitches,
    ThroughputLimiter,
    ThroughputRule,
    normalize_service,
)
from blobhouse.server.http import HttpError

ORG42 = Scopes.of(org=42, project=4711)


def status_of(check) -> int:  # type: ignore[no-untyped-def]
    try:
        check()
    except HttpError as exc:
        return exc.status
    return 200


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("relay-7d9f8b6c5d-x2k4p", "relay"),
        ("snuba-consumer-12", "snuba-consumer"),
        ("plain", "plain"),
        ("name-with-dashes", "name-with-dashes"),
    ],
)
def test_pod_suffixes_are_stripped_from_service_names(raw: str, expected: str) -> None:
    assert normalize_service(raw) == expected


def test_killswitch_needs_every_condition() -> None:
    switches = Killswitches([Killswitch("blocked", {"org": "42"}, "test-*")])
    assert status_of(lambda: switches.check("blocked", ORG42, "test-service")) == 403
    assert status_of(lambda: switches.check("blocked", ORG42, "test-svc-abcdefg-12345")) == 403
    assert status_of(lambda: switches.check("other", ORG42, "test-service")) == 200
    assert status_of(lambda: switches.check("blocked", Scopes.of(org=1), "test-service")) == 200
    assert status_of(lambda: switches.check("blocked", ORG42, None)) == 200
    assert status_of(lambda: switches.check("blocked", ORG42, "prod-service")) == 200


def test_empty_killswitch_matches_everything() -> None:
    switches = Killswitches([Killswitch()])
    assert status_of(lambda: switches.check("any", Scopes(), None)) == 403


def test_global_throughput_allows_rate_plus_burst_then_recovers() -> None:
    limiter = ThroughputLimiter(global_rps=2, burst=1)
    results = [status_of(lambda: limiter.check("u", ORG42)) for _ in range(4)]
    assert results == [200, 200, 200, 429]
    time.sleep(1.05)
    assert status_of(lambda: limiter.check("u", ORG42)) == 200


def test_usecase_share_limits_one_usecase_not_others() -> None:
    limiter = ThroughputLimiter(global_rps=100, usecase_pct=2)
    results = [status_of(lambda: limiter.check("a", ORG42)) for _ in range(3)]
    assert results == [200, 200, 429]
    assert status_of(lambda: limiter.check("b", ORG42)) == 200


def test_scope_share_limits_one_scope_not_others() -> None:
    limiter = ThroughputLimiter(global_rps=100, scope_pct=2)
    results = [status_of(lambda: limiter.check("a", Scopes.of(org=1))) for _ in range(3)]
    assert results == [200, 200, 429]
    assert status_of(lambda: limiter.check("a", Scopes.of(org=2))) == 200


def test_rule_without_global_limit_throttles_only_its_match() -> None:
    limiter = ThroughputLimiter(None, rules=[ThroughputRule("restricted", {"org": "42"}, rps=1)])
    assert status_of(lambda: limiter.check("restricted", ORG42)) == 200
    assert status_of(lambda: limiter.check("restricted", ORG42)) == 429
    assert status_of(lambda: limiter.check("other", ORG42)) == 200
    assert status_of(lambda: limiter.check("restricted", Scopes.of(org=1))) == 200


def test_bandwidth_debt_rejects_until_paid_back() -> None:
    limiter = BandwidthLimiter(global_bps=100, burst_ms=0)
    assert status_of(lambda: limiter.check("u", ORG42)) == 200
    limiter.charge("u", ORG42, 100)
    assert status_of(lambda: limiter.check("u", ORG42)) == 429
    time.sleep(1.05)
    assert status_of(lambda: limiter.check("u", ORG42)) == 200


def test_bandwidth_burst_admits_two_uploads_then_rejects() -> None:
    limiter = BandwidthLimiter(global_bps=100, burst_ms=1500)
    results = []
    for _ in range(3):
        results.append(status_of(lambda: limiter.check("u", ORG42)))
        limiter.charge("u", ORG42, 100)
    assert results == [200, 200, 429]


def test_bandwidth_report_only_never_rejects_but_counts() -> None:
    limiter = BandwidthLimiter(global_bps=100, burst_ms=0, report_only=True)
    for _ in range(3):
        assert status_of(lambda: limiter.check("u", ORG42)) == 200
        limiter.charge("u", ORG42, 100)
    assert limiter.bytes_total == 300


def test_bandwidth_usecase_share_is_separate_per_usecase() -> None:
    limiter = BandwidthLimiter(global_bps=10_000, burst_ms=100, usecase_pct=1)
    limiter.charge("a", ORG42, 100)
    assert status_of(lambda: limiter.check("a", ORG42)) == 429
    assert status_of(lambda: limiter.check("b", ORG42)) == 200


async def test_concurrency_limit_fails_fast_without_a_queue() -> None:
    limiter = ConcurrencyLimiter(limit=1, queue=0, timeout=1)
    async with limiter.permit():
        with pytest.raises(HttpError) as info:
            async with limiter.permit():
                pass
        assert info.value.status == 429
    async with limiter.permit():
        assert limiter.in_use == 1


async def test_concurrency_queue_waits_up_to_the_timeout() -> None:
    limiter = ConcurrencyLimiter(limit=1, queue=1, timeout=0.2)
    release = asyncio.Event()

    async def holder() -> None:
        async with limiter.permit():
            await release.wait()

    task = asyncio.create_task(holder())
    await asyncio.sleep(0)
    started = time.monotonic()
    with pytest.raises(HttpError):
        async with limiter.permit():
            pass
    assert time.monotonic() - started >= 0.19
    release.set()
    await task


async def test_zero_concurrency_rejects_everything() -> None:
    with pytest.raises(HttpError) as info:
        async with ConcurrencyLimiter(limit=0).permit():
            pass
    assert info.value.status == 429
