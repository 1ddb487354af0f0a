"""Rate limits shared through Redis (``rate_limits.redis_url``): two server processes
pointing at one Redis and one key prefix admit no more than one budget between them.

Uses the Redis server on 127.0.0.1:6379 with a key prefix of this test's own; a missing
Redis is a failure, not a skip.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from tests.admission.support import Reply, call, object_path
from tests.conftest import MakeServer

pytestmark = pytest.mark.server

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    prefix = f"blobhouse-test:{uuid.uuid4().hex}:"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_two_instances_share_one_throughput_and_bandwidth_budget(
    make_server: MakeServer, redis_prefix: str
) -> None:
    config = {
        "rate_limits": {
            "redis_url": REDIS_URL,
            "redis_prefix": redis_prefix,
            # 6 tokens to start with, 1 more a second, for both instances together.
            "throughput": {"global_rps": 1, "burst": 5},
            # 0.01 % of 1 MB/s: 100 B/s per usecase, with the default 1 s of burst.
            "bandwidth": {"global_bps": 1_000_000, "usecase_pct": 0.01},
        }
    }
    first, second = make_server(config), make_server(config)
    started = time.monotonic()

    # Bandwidth: 300 bytes through one instance put 3 s of debt on the usecase for both.
    assert call(first.url, "POST", object_path("shared-bw", "org=1"), b"b" * 300).status == 201
    refused = call(second.url, "POST", object_path("shared-bw", "org=1"), b"b" * 10)
    assert time.monotonic() - started >= 2 or refused.status == 429
    if refused.status == 429:
        assert refused.detail == "rate limited: bandwidth of usecase 'shared-bw' exceeded"

    # Throughput: 32 requests spread over both instances from 4 threads.
    def get(n: int) -> Reply:
        url = (first.url, second.url)[n % 2]
        return call(url, "GET", object_path("shared-tp", f"org={n}", "missing"))

    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(pool.map(get, range(32)))
    elapsed = time.monotonic() - started
    admitted = sum(1 for reply in replies if reply.status == 404)
    rejected = [reply for reply in replies if reply.status == 429]
    assert admitted + len(rejected) == len(replies)
    # The upload above took one token (the refused one took none: bandwidth is first).
    assert admitted >= 5
    assert 1 + admitted <= 6 + 1 * elapsed  # separate budgets would admit 6 each
    assert {reply.detail for reply in rejected} == {"rate limited: global throughput exceeded"}
