"""Expiration on a live server: TTI reads extend, idle objects vanish, the reaper frees space.

Durations here are seconds long so the tests finish quickly; every wait is a bounded
sleep or a bounded poll.
"""

from __future__ import annotations

import http.client
import sqlite3
import time
from datetime import datetime
from pathlib import Path

from tests.conftest import MakeServer
from tests.servers import ServerProcess

USECASE = "lifecycle"


def call(
    server: ServerProcess,
    method: str,
    key: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(method, f"/v1/objects/{USECASE}/org=1/{key}", body, headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def expires(headers: dict[str, str]) -> datetime:
    return datetime.fromisoformat(headers["x-sn-time-expires"])


def test_tti_read_after_the_debounce_pushes_the_deadline_out(
    blobhouse_server: ServerProcess,
) -> None:
    key = f"tti-bump-{time.monotonic_ns()}"
    status, _, _ = call(blobhouse_server, "PUT", key, b"idle", {"x-sn-expiration": "tti:8s"})
    assert status == 200
    _, first, _ = call(blobhouse_server, "GET", key)
    _, second, _ = call(blobhouse_server, "GET", key)
    # Within the debounce (a quarter of the TTI) reads do not rewrite the deadline.
    assert expires(second) == expires(first)

    time.sleep(2.6)
    status, third, _ = call(blobhouse_server, "GET", key)
    assert status == 200
    assert expires(third) == expires(first)  # the header shows the deadline before this read
    _, fourth, _ = call(blobhouse_server, "HEAD", key)
    assert (expires(fourth) - expires(first)).total_seconds() >= 2.5


def test_tti_object_nobody_reads_expires(blobhouse_server: ServerProcess) -> None:
    key = f"tti-idle-{time.monotonic_ns()}"
    status, _, _ = call(blobhouse_server, "PUT", key, b"idle", {"x-sn-expiration": "tti:2s"})
    assert status == 200
    time.sleep(2.5)
    assert call(blobhouse_server, "GET", key)[0] == 404
    assert call(blobhouse_server, "HEAD", key)[0] == 404
    assert call(blobhouse_server, "DELETE", key)[0] == 204


def stored(data: Path) -> tuple[int, int]:
    """(SQL rows, blob files) the tiered storage holds under ``data``."""
    with sqlite3.connect(data / "blobhouse.sqlite3") as db:
        (rows,) = db.execute("SELECT count(*) FROM objects").fetchone()
    blobs = [p for p in (data / "objects").rglob("*") if p.is_file() and p.parent.name != ".tmp"]
    return rows, len(blobs)


def test_reaper_deletes_expired_rows_and_their_blob_files(
    make_server: MakeServer, tmp_path: Path
) -> None:
    data = tmp_path / "objects"
    server = make_server(
        {
            "storage": {"type": "tiered", "path": str(data)},
            "reaper": {"interval": "500ms", "batch": 1},
        }
    )
    large = b"L" * (2 << 20)  # above the 1 MiB threshold: a blob file plus a row
    ttl = {"x-sn-expiration": "ttl:1s"}
    assert call(server, "PUT", "small-expiring", b"s", ttl)[0] == 200
    assert call(server, "PUT", "large-expiring", large, ttl)[0] == 200
    assert call(server, "PUT", "large-kept", large)[0] == 200
    assert call(server, "PUT", "small-kept", b"k", {"x-sn-expiration": "ttl:1d"})[0] == 200
    assert stored(data) == (4, 2)

    deadline = time.monotonic() + 20
    while stored(data) != (2, 1) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stored(data) == (2, 1), "the reaper left expired rows or blob files behind"
    assert call(server, "GET", "large-kept")[2] == large
    assert call(server, "GET", "small-kept")[2] == b"k"
