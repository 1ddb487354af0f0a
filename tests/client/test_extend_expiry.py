"""``extend_expiry`` in our clients: the request the official client sends, and its errors."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from blobhouse import (
    Client,
    ExpiryExtensionRejected,
    ObjectNotFound,
    TimeToIdle,
    TimeToLive,
    Usecase,
)
from blobhouse.aio import AsyncClient
from blobhouse.client._plans import expiry_extension_body
from tests.servers import ServerProcess


@pytest.mark.parametrize(
    ("kwargs", "body"),
    [
        ({"from_now": timedelta(days=30)}, {"after": "30d", "from": "now"}),
        (
            {"from_creation": timedelta(days=1, hours=2, minutes=3, seconds=4, microseconds=9)},
            {"after": "1d 2h 3m 4s", "from": "creation"},
        ),
        ({"from_creation": timedelta(0)}, {"after": "0s", "from": "creation"}),
        (
            {"at": datetime(2026, 10, 16, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))},
            {"at": "2026-10-16T12:00:00.123456+00:00"},
        ),
    ],
)
def test_bodies_match_the_official_client(kwargs: dict[str, object], body: object) -> None:
    raw = expiry_extension_body(
        kwargs.get("at"),  # type: ignore[arg-type]
        kwargs.get("from_creation"),  # type: ignore[arg-type]
        kwargs.get("from_now"),  # type: ignore[arg-type]
    )
    expected = {"extend_expiry": body}
    assert raw == json.dumps(expected, separators=(",", ":")).encode()  # compact, in this order


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one"),
        ({"from_now": timedelta(1), "from_creation": timedelta(1)}, "exactly one"),
        ({"at": datetime(2030, 1, 1)}, "timezone-aware"),
        ({"from_now": timedelta(seconds=-1)}, "must not be negative"),
    ],
)
def test_invalid_targets_fail_before_sending(kwargs: dict[str, object], message: str) -> None:
    with Client("http://127.0.0.1:9") as client, pytest.raises(ValueError, match=message):
        client.session(Usecase("extending"), org=1).extend_expiry("k", **kwargs)  # type: ignore[arg-type]


def test_sync_extension_lengthens_a_ttl_and_reports_errors(
    blobhouse_server: ServerProcess,
) -> None:
    with Client(blobhouse_server.url) as client:
        session = client.session(Usecase("extending"), org=uuid.uuid4().int % 10**9)
        session.put(b"x", key="ttl", expiration_policy=TimeToLive(timedelta(days=1)))
        session.extend_expiry("ttl", from_now=timedelta(days=30))
        head = session.head("ttl")
        assert head is not None and isinstance(head.expiration_policy, TimeToLive)
        assert head.expiration_policy.delta >= timedelta(days=29, hours=23)
        session.put(b"x", key="manual")
        with pytest.raises(ExpiryExtensionRejected) as rejected:
            session.extend_expiry("manual", from_now=timedelta(days=1))
        assert rejected.value.status == 409
        with pytest.raises(ObjectNotFound) as missing:
            session.extend_expiry("missing", at=datetime.now(UTC) + timedelta(days=1))
        assert missing.value.status == 404


def test_async_extension_moves_a_tti_deadline(blobhouse_server: ServerProcess) -> None:
    async def run() -> None:
        async with AsyncClient(blobhouse_server.url) as client:
            session = client.session(Usecase("extending"), org=uuid.uuid4().int % 10**9)
            await session.put(b"x", key="tti", expiration_policy=TimeToIdle(timedelta(days=1)))
            target = datetime.now(UTC) + timedelta(days=10)
            await session.extend_expiry("tti", at=target)
            head = await session.head("tti")
            assert head is not None and head.time_expires is not None
            assert head.time_expires >= target - timedelta(seconds=1)
            assert head.expiration_policy == TimeToIdle(timedelta(days=1))
            with pytest.raises(ObjectNotFound):
                await session.extend_expiry("gone", from_now=timedelta(days=1))

    asyncio.run(run())
