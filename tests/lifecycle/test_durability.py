"""A server killed with SIGKILL mid-write loses nothing it acknowledged and shows no partial object.

Writers upload small (inline in SQLite), medium and large (blob file + row) objects
concurrently, some overwrite one key again and again, and two uploads stall half-way
so that the kill always lands on writes in flight. The server and its workers get
SIGKILL together; a new server on the same data directory must then return every
acknowledged object byte for byte, and anything that was never acknowledged must be
either absent or complete (an earlier or later whole version), never a torn one.
"""

from __future__ import annotations

import hashlib
import http.client
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import MakeServer
from tests.servers import ServerProcess, relaunch

USECASE = "durability"
SCOPES = "org=7"
SIZES = (3 * 1024, 200 * 1024, 1536 * 1024)  # below and above the 1 MiB tier threshold
WRITERS = 6
MAX_WRITES_PER_WRITER = 300
ACKED_BEFORE_KILL = 90
RUN_DEADLINE = 60.0


def payload(name: str) -> bytes:
    """Content derived from the name alone, so a survivor can be checked without a copy."""
    digest = hashlib.blake2b(name.encode()).digest()
    size = SIZES[digest[0] % len(SIZES)]
    return (digest * (size // len(digest) + 1))[:size]


def path(key: str) -> str:
    return f"/v1/objects/{USECASE}/{SCOPES}/{key}"


@dataclass
class Ledger:
    """What each writer attempted and what the server acknowledged."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: set[str] = field(default_factory=set)
    attempted: set[str] = field(default_factory=set)
    # overwritten key -> (last acknowledged version, last attempted version)
    versions: dict[str, tuple[int, int]] = field(default_factory=dict)

    def count(self) -> int:
        with self.lock:
            return len(self.acked) + sum(acked + 1 for acked, _ in self.versions.values())


def put(connection: http.client.HTTPConnection, key: str, body: bytes, version: str) -> int:
    connection.request(
        "PUT",
        path(key),
        body=body,
        headers={"content-type": "application/x-test", "x-snme-version": version},
    )
    response = connection.getresponse()
    response.read()
    return response.status


def writer(url: str, number: int, ledger: Ledger, stop: threading.Event) -> None:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    overwritten = f"again-{number}"
    try:
        for index in range(MAX_WRITES_PER_WRITER):
            if stop.is_set():
                return
            if index % 3 == 2:  # every third write replaces one key with a new version
                acked_version, _ = ledger.versions.get(overwritten, (-1, -1))
                version = index
                with ledger.lock:
                    ledger.versions[overwritten] = (acked_version, version)
                name, key = f"{overwritten}@{version}", overwritten
            else:
                name = key = f"w{number}-{index}"
                with ledger.lock:
                    ledger.attempted.add(key)
            status = put(connection, key, payload(name), name)
            assert status == 200, status
            with ledger.lock:
                if key == overwritten:
                    ledger.versions[key] = (version, ledger.versions[key][1])
                else:
                    ledger.acked.add(key)
    except (OSError, http.client.HTTPException):
        return  # the server died under us: what was acknowledged is in the ledger
    finally:
        connection.close()


def stalled_upload(url: str, key: str, started: threading.Event, stop: threading.Event) -> None:
    """Send headers and half of a large body, then wait for the crash."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    body = payload(key) * 2
    try:
        connection.putrequest("PUT", path(key))
        connection.putheader("content-length", str(len(body)))
        connection.endheaders()
        connection.send(body[: len(body) // 2])
        started.set()
        stop.wait(RUN_DEADLINE)
    except OSError:
        started.set()
    finally:
        connection.close()


def get(server: ServerProcess, key: str) -> tuple[int, bytes, str | None]:
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", path(key))
        response = connection.getresponse()
        return response.status, response.read(), response.getheader("x-snme-version")
    finally:
        connection.close()


@pytest.mark.parametrize("storage", ["tiered", "filesystem"])
def test_sigkill_during_concurrent_uploads_keeps_every_acknowledged_object(
    make_server: MakeServer, tmp_path: Path, storage: str
) -> None:
    data = tmp_path / "objects"
    server = make_server(
        {"reaper": {"enabled": False}, "storage": {"type": storage, "path": str(data)}}
    )
    ledger = Ledger()
    stop = threading.Event()
    stalled = [f"stalled-{n}" for n in range(2)]
    stalled_started = [threading.Event() for _ in stalled]
    threads = [
        threading.Thread(target=stalled_upload, args=(server.url, key, started, stop))
        for key, started in zip(stalled, stalled_started, strict=True)
    ]
    threads += [
        threading.Thread(target=writer, args=(server.url, number, ledger, stop))
        for number in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + RUN_DEADLINE
    while ledger.count() < ACKED_BEFORE_KILL and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(started.wait(10) for started in stalled_started)
    server.kill()  # mid-flight: the writers are still sending
    stop.set()
    for thread in threads:
        thread.join(30)
    assert ledger.count() >= ACKED_BEFORE_KILL, "too few writes were acknowledged before the kill"

    restarted = relaunch(server)
    try:
        for key in sorted(ledger.acked):
            status, body, version = get(restarted, key)
            assert (status, version) == (200, key), f"acknowledged {key} was lost"
            assert body == payload(key), f"acknowledged {key} came back altered"
        for key in sorted(ledger.attempted - ledger.acked) + stalled:
            status, body, version = get(restarted, key)
            assert status in (200, 404), status
            if status == 200:  # the write committed just before the kill: it must be whole
                assert (version, body) == (key, payload(key)), f"{key} is torn"
        for key, (acked, attempted) in sorted(ledger.versions.items()):
            status, body, version = get(restarted, key)
            if acked < 0:
                assert status in (200, 404)
                if status == 404:
                    continue
            assert status == 200, f"{key}: acknowledged version {acked} was lost"
            assert version is not None
            number = int(version.rsplit("@", 1)[1])
            assert acked <= number <= attempted, f"{key} went back to version {number}"
            assert body == payload(version), f"{key} version {number} is torn"
    finally:
        restarted.stop()
    # Half-written uploads may only live in the staging directory (swept once stale: a
    # fresh one may belong to another worker's live upload), never among the objects.
    strays = [p for p in data.rglob("*.part") if p.parent.name != ".tmp"]
    assert strays == [], "half-written files sit among the stored objects"
