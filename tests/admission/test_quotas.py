"""Storage quotas over HTTP: 413 with the quota's figures, on tiered SQLite and PostgreSQL.

Each backend gets one server for the module; every test writes to usecases of its own,
so their counters never meet. What the server acknowledged is checked three ways: by
reading the objects back, by the ``blobhouse usage`` counters, and by the ``used`` figure
of the next 413.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.admission.support import Reply, call, object_path
from tests.backends import postgres
from tests.servers import ServerProcess, clean_env, launch_server

pytestmark = pytest.mark.server

LARGE = 1_200_000  # above the 1 MiB tier threshold: stored as a file, counted in SQL
USECASES: dict[str, Any] = {
    "quota-bytes": {"quota": {"max_bytes": 1000}},
    "quota-objects": {"quota": {"max_objects": 3}},
    "quota-scope": {"quota": {"scope_max_bytes": 1000, "scope_max_objects": 3}},
    "quota-overwrite": {"quota": {"scope_max_bytes": 1000}},
    "quota-large": {"quota": {"scope_max_bytes": 3 * LARGE, "scope_max_objects": 2}},
    "quota-race": {"quota": {"scope_max_bytes": "3MB"}},
    "quota-count": {"quota": {"scope_max_objects": 10}},
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp(f"quotas-{request.param}")
    config: dict[str, Any] = {"usecases": USECASES}
    database = None
    if request.param == "postgresql":
        database = asyncio.run(postgres.create_database())
        config["storage"] = {
            "type": "tiered",
            "path": str(workdir / "data"),
            "high_volume": {"type": "sql", "url": postgres.sqlalchemy_url(database)},
        }
    started = launch_server(workdir, config)
    try:
        yield started
    finally:
        started.stop()
        if database is not None:
            asyncio.run(postgres.drop_database(database))


def put(server: ServerProcess, usecase: str, scopes: str, key: str, body: bytes) -> Reply:
    return call(server.url, "PUT", object_path(usecase, scopes, key), body)


def assert_over_quota(reply: Reply, **figures: Any) -> None:
    assert reply.status == 413, (reply.status, reply.body)
    answer = reply.json()
    assert {name: answer.get(name) for name in figures} == figures
    assert str(figures["limit"]) in answer["detail"]


def usage(server: ServerProcess, usecase: str, scope: str | None = None) -> list[dict[str, Any]]:
    """The counters as ``blobhouse usage --json`` reports them from the SQL tier."""
    command = [sys.executable, "-m", "blobhouse", "usage", "--config", str(server.config_file)]
    command += ["--usecase", usecase, "--json"]
    if scope is not None:
        command += ["--scope", scope]
    done = subprocess.run(
        command,
        cwd=server.workdir,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def payload(key: str, size: int) -> bytes:
    digest = hashlib.blake2b(key.encode()).digest()
    return (digest * (size // len(digest) + 1))[:size]


def test_usecase_byte_quota_spans_its_scopes(server: ServerProcess) -> None:
    assert put(server, "quota-bytes", "org=1", "a", b"a" * 600).status == 200
    assert put(server, "quota-bytes", "org=2", "b", b"b" * 400).status == 200
    refused = put(server, "quota-bytes", "org=3", "c", b"c")
    assert_over_quota(
        refused, quota="usecase.max_bytes", usecase="quota-bytes", limit=1000, used=1000, adding=1
    )
    assert call(server.url, "HEAD", object_path("quota-bytes", "org=3", "c")).status == 404

    assert call(server.url, "DELETE", object_path("quota-bytes", "org=1", "a")).status == 204
    assert put(server, "quota-bytes", "org=3", "c", b"c" * 600).status == 200
    rows = usage(server, "quota-bytes")
    assert sorted((row["scope"], row["objects"], row["bytes"]) for row in rows) == [
        ("org=1", 0, 0),
        ("org=2", 1, 400),
        ("org=3", 1, 600),
    ]


def test_usecase_object_quota_counts_new_keys_not_overwrites(server: ServerProcess) -> None:
    for n in range(3):
        assert put(server, "quota-objects", f"org={n}", "k", b"x").status == 200
    assert_over_quota(
        put(server, "quota-objects", "org=9", "k", b"x"),
        quota="usecase.max_objects",
        usecase="quota-objects",
        limit=3,
        used=3,
        adding=1,
    )
    collection = object_path("quota-objects", "org=9")
    assert call(server.url, "POST", collection, b"x").status == 413
    assert put(server, "quota-objects", "org=0", "k", b"rewritten").status == 200

    assert call(server.url, "DELETE", object_path("quota-objects", "org=1", "k")).status == 204
    assert call(server.url, "POST", collection, b"x").status == 201
    assert put(server, "quota-objects", "org=9", "k", b"x").json()["used"] == 3


def test_scope_quotas_hold_for_each_scope_list_separately(server: ServerProcess) -> None:
    assert put(server, "quota-scope", "org=1", "a", b"a" * 700).status == 200
    assert put(server, "quota-scope", "org=1", "b", b"b" * 300).status == 200
    assert_over_quota(
        put(server, "quota-scope", "org=1", "c", b"c"),
        quota="scope.max_bytes",
        scope="org=1",
        limit=1000,
        used=1000,
        adding=1,
    )
    # Another tenant, and a longer scope list under the same org, have room of their own.
    assert put(server, "quota-scope", "org=2", "a", b"a" * 1000).status == 200
    assert put(server, "quota-scope", "org=1;project=1", "a", b"a" * 1000).status == 200

    for key in ("x", "y", "z"):
        assert put(server, "quota-scope", "org=3", key, b"s").status == 200
    assert_over_quota(
        put(server, "quota-scope", "org=3", "w", b"s"),
        quota="scope.max_objects",
        scope="org=3",
        limit=3,
        used=3,
        adding=1,
    )
    assert call(server.url, "DELETE", object_path("quota-scope", "org=3", "x")).status == 204
    assert put(server, "quota-scope", "org=3", "w", b"s").status == 200


def test_overwriting_a_key_counts_only_the_difference(server: ServerProcess) -> None:
    assert put(server, "quota-overwrite", "org=1", "k", b"1" * 800).status == 200
    assert put(server, "quota-overwrite", "org=1", "k", b"2" * 1000).status == 200
    assert_over_quota(
        put(server, "quota-overwrite", "org=1", "k", b"3" * 1001),
        quota="scope.max_bytes",
        limit=1000,
        used=1000,
        adding=1,
    )
    assert call(server.url, "GET", object_path("quota-overwrite", "org=1", "k")).body == b"2" * 1000
    # Shrinking always works, and frees room for other keys.
    assert put(server, "quota-overwrite", "org=1", "k", b"4" * 10).status == 200
    assert put(server, "quota-overwrite", "org=1", "j", b"5" * 990).status == 200
    assert put(server, "quota-overwrite", "org=1", "i", b"6").json()["used"] == 1000


def test_overwriting_a_large_object_counts_only_the_difference(server: ServerProcess) -> None:
    first, second = payload("a", LARGE), payload("b", LARGE)
    assert put(server, "quota-large", "org=1", "a", first).status == 200
    assert put(server, "quota-large", "org=1", "b", second).status == 200
    # At the object limit, overwrites add no object; growing them fits the byte limit.
    grown = payload("a2", LARGE + LARGE // 2)
    assert put(server, "quota-large", "org=1", "a", grown).status == 200
    assert put(server, "quota-large", "org=1", "b", payload("b2", LARGE + LARGE // 2)).status == 200
    assert_over_quota(
        put(server, "quota-large", "org=1", "a", payload("a3", LARGE + LARGE // 2 + 1)),
        quota="scope.max_bytes",
        limit=3 * LARGE,
        used=3 * LARGE,
        adding=1,
    )
    assert_over_quota(
        put(server, "quota-large", "org=1", "c", payload("c", LARGE)),
        quota="scope.max_objects",
        limit=2,
        used=2,
    )
    assert call(server.url, "GET", object_path("quota-large", "org=1", "a")).body == grown
    assert call(server.url, "HEAD", object_path("quota-large", "org=1", "c")).status == 404


WRITERS = 8
ATTEMPTS = 12
RACE_LIMIT = 3_000_000
RACE_DEADLINE = 60.0


def race_size(writer: int, attempt: int) -> int:
    """Mostly small and medium objects; every fourth one goes to the file tier."""
    if attempt % 4 == 3:
        return 1_100_000 + writer
    return (2_000, 40_000, 150_000)[attempt % 3] + writer


def test_concurrent_writers_never_overshoot_a_byte_quota(server: ServerProcess) -> None:
    scopes = "org=9"
    outcomes: dict[str, tuple[int, Reply]] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + RACE_DEADLINE

    def write(writer: int) -> None:
        for attempt in range(ATTEMPTS):
            if time.monotonic() > deadline:
                return
            key = f"w{writer}-{attempt}"
            size = race_size(writer, attempt)
            reply = put(server, "quota-race", scopes, key, payload(key, size))
            with lock:
                outcomes[key] = (size, reply)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=RACE_DEADLINE + 30)
    assert not any(thread.is_alive() for thread in threads)
    assert len(outcomes) == WRITERS * ATTEMPTS

    statuses = {reply.status for _, reply in outcomes.values()}
    assert statuses == {200, 413}
    for _, reply in outcomes.values():
        if reply.status == 413:
            answer = reply.json()
            assert (answer["quota"], answer["scope"], answer["limit"]) == (
                "scope.max_bytes",
                scopes,
                RACE_LIMIT,
            )
    acknowledged = {key: size for key, (size, reply) in outcomes.items() if reply.status == 200}

    # Exactly what was acknowledged is stored, byte for byte; nothing refused is.
    for key, (size, _) in outcomes.items():
        head = call(server.url, "HEAD", object_path("quota-race", scopes, key))
        if key in acknowledged:
            assert (head.status, head.headers.get("x-sn-size")) == (204, str(size))
        else:
            assert head.status == 404, key
    for key, size in acknowledged.items():
        got = call(server.url, "GET", object_path("quota-race", scopes, key))
        assert got.body == payload(key, size), key

    stored = sum(acknowledged.values())
    assert stored <= RACE_LIMIT
    assert usage(server, "quota-race", scopes) == [
        {"usecase": "quota-race", "scope": scopes, "objects": len(acknowledged), "bytes": stored}
    ]
    room = RACE_LIMIT - stored
    assert_over_quota(
        put(server, "quota-race", scopes, "one-too-many", b"x" * (room + 1)),
        quota="scope.max_bytes",
        limit=RACE_LIMIT,
        used=stored,
        adding=room + 1,
    )


def test_concurrent_writers_fill_an_object_quota_exactly(server: ServerProcess) -> None:
    replies: list[Reply] = []
    lock = threading.Lock()

    def write(writer: int) -> None:
        for attempt in range(4):
            reply = put(server, "quota-count", "org=1", f"w{writer}-{attempt}", b"c" * 100)
            with lock:
                replies.append(reply)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert sorted(reply.status for reply in replies) == [200] * 10 + [413] * 22
    for reply in replies:
        if reply.status == 413:
            assert reply.json()["quota"] == "scope.max_objects"
    assert usage(server, "quota-count") == [
        {"usecase": "quota-count", "scope": "org=1", "objects": 10, "bytes": 1000}
    ]
