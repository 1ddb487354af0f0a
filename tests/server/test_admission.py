"""Admission control with the spec's worked examples (§11, §17.6).

Rate limits run twice: with buckets in this process, and with buckets in the real Redis
server on 127.0.0.1 (the mode that holds limits across instances).
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio

from blobhouse.core.ids import Scopes
from blobhouse.server.admission import (
    BandwidthLimiter,
    ConcurrencyLimiter,
    Killswitch,
    Killswitches,
    LocalBuckets,
    LocalDebt,
    RedisBuckets,
    RedisDebt,
    ThroughputLimiter,
    ThroughputRule,
    normalize_service,
)
from blobhouse.server.http import HttpError

ORG42 = Scopes.of(org=42, project=4711)
REDIS_URL = "redis://127.0.0.1:6379/0"


async def status_of(call: Any) -> int:
    try:
        result = call()
        if asyncio.iscoroutine(result):
            await result
    except HttpError as exc:
        return exc.status
    return 200


@pytest.fixture(params=["local", "redis"])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], tuple[Any, Any]]]:
    if request.param == "local":
        yield lambda: (LocalBuckets(), LocalDebt())
        return
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    await client.ping()  # a missing Redis is a failure, not a skip
    prefix = f"blobhouse-test:{uuid.uuid4().hex}:"
    yield lambda: (RedisBuckets(client, prefix), RedisDebt(client, prefix))
    keys = [key async for key in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


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


async def test_killswitch_needs_every_condition() -> None:
    switches = Killswitches([Killswitch("blocked", {"org": "42"}, "test-*")])
    assert await status_of(lambda: switches.check("blocked", ORG42, "test-service")) == 403
    assert (
        await status_of(lambda: switches.check("blocked", ORG42, "test-svc-abcdefg-12345")) == 403
    )
    assert await status_of(lambda: switches.check("other", ORG42, "test-service")) == 200
    assert await status_of(lambda: switches.check("blocked", Scopes.of(org=1), "test-x")) == 200
    assert await status_of(lambda: switches.check("blocked", ORG42, None)) == 200
    assert await status_of(lambda: switches.check("blocked", ORG42, "prod-service")) == 200


async def test_empty_killswitch_matches_everything() -> None:
    switches = Killswitches([Killswitch()])
    assert await status_of(lambda: switches.check("any", Scopes(), None)) == 403


async def test_global_throughput_allows_rate_plus_burst_then_recovers(stores: Any) -> None:
    limiter = ThroughputLimiter(global_rps=2, burst=1, store=stores()[0])
    results = [await status_of(lambda: limiter.check("u", ORG42)) for _ in range(4)]
    assert results == [200, 200, 200, 429]
    await asyncio.sleep(1.05)
    assert await status_of(lambda: limiter.check("u", ORG42)) == 200


async def test_usecase_share_limits_one_usecase_not_others(stores: Any) -> None:
    limiter = ThroughputLimiter(global_rps=100, usecase_pct=2, store=stores()[0])
    results = [await status_of(lambda: limiter.check("a", ORG42)) for _ in range(3)]
    assert results == [200, 200, 429]
    assert await status_of(lambda: limiter.check("b", ORG42)) == 200


async def test_scope_share_limits_one_scope_not_others(stores: Any) -> None:
    limiter = ThroughputLimiter(global_rps=100, scope_pct=2, store=stores()[0])
    results = [await status_of(lambda: limiter.check("a", Scopes.of(org=1))) for _ in range(3)]
    assert results == [200, 200, 429]
    assert await status_of(lambda: limiter.check("a", Scopes.of(org=2))) == 200


async def test_rule_without_global_limit_throttles_only_its_match(stores: Any) -> None:
    rule = ThroughputRule("restricted", {"org": "42"}, rps=1)
    limiter = ThroughputLimiter(None, rules=[rule], store=stores()[0])
    assert await status_of(lambda: limiter.check("restricted", ORG42)) == 200
    assert await status_of(lambda: limiter.check("restricted", ORG42)) == 429
    assert await status_of(lambda: limiter.check("other", ORG42)) == 200
    assert await status_of(lambda: limiter.check("restricted", Scopes.of(org=1))) == 200


async def test_two_instances_sharing_redis_share_one_budget() -> None:
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    prefix = f"blobhouse-test:{uuid.uuid4().hex}:"
    try:
        first = ThroughputLimiter(global_rps=2, burst=0, store=RedisBuckets(client, prefix))
        second = ThroughputLimiter(global_rps=2, burst=0, store=RedisBuckets(client, prefix))
        results = [
            await status_of(lambda: first.check("u", ORG42)),
            await status_of(lambda: second.check("u", ORG42)),
            await status_of(lambda: first.check("u", ORG42)),
        ]
        assert results == [200, 200, 429]
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_bandwidth_debt_rejects_until_paid_back(stores: Any) -> None:
    limiter = BandwidthLimiter(global_bps=100, burst_ms=0, store=stores()[1])
    assert await status_of(lambda: limiter.check("u", ORG42)) == 200
    await limiter.charge("u", ORG42, 100)
    assert await status_of(lambda: limiter.check("u", ORG42)) == 429
    await asyncio.sleep(1.05)
    assert await status_of(lambda: limiter.check("u", ORG42)) == 200


async def test_bandwidth_burst_admits_two_uploads_then_rejects(stores: Any) -> None:
    limiter = BandwidthLimiter(global_bps=100, burst_ms=1500, store=stores()[1])
    results = []
    for _ in range(3):
        results.append(await status_of(lambda: limiter.check("u", ORG42)))
        await limiter.charge("u", ORG42, 100)
    assert results == [200, 200, 429]


async def test_bandwidth_report_only_never_rejects_but_counts(stores: Any) -> None:
    limiter = BandwidthLimiter(global_bps=100, burst_ms=0, report_only=True, store=stores()[1])
    for _ in range(3):
        assert await status_of(lambda: limiter.check("u", ORG42)) == 200
        await limiter.charge("u", ORG42, 100)
    assert limiter.bytes_total == 300


async def test_bandwidth_usecase_share_is_separate_per_usecase(stores: Any) -> None:
    limiter = BandwidthLimiter(global_bps=10_000, burst_ms=100, usecase_pct=1, store=stores()[1])
    await limiter.charge("a", ORG42, 100)
    assert await status_of(lambda: limiter.check("a", ORG42)) == 429
    assert await status_of(lambda: limiter.check("b", ORG42)) == 200


async def test_metered_stream_charges_every_byte() -> None:
    limiter = BandwidthLimiter(global_bps=1_000_000)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 40_000

    assert sum([len(c) async for c in limiter.metered("u", ORG42, body())]) == 200_000
    assert limiter.bytes_total == 200_000


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
