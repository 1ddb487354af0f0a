"""Concurrency caps over HTTP (spec §11.4, §11.5, §17.6).

``http.max_requests`` counts requests in flight (503 beyond it); ``service.max_concurrency``
counts backend permits (429 beyond it, unless a queue slot lets the caller wait). Both are
filled with uploads held open half-way through their body: the server has admitted them
and they keep their slot until the rest of the body arrives.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from tests.admission.support import HeldUpload, Reply, call, object_path, saturate
from tests.batch.support import Op, batch
from tests.conftest import MakeServer

pytestmark = pytest.mark.server

BUSY = "server busy: too many requests in flight"
NO_PERMIT = "concurrency limit reached"


def held_uploads(url: str, count: int, usecase: str = "held") -> list[HeldUpload]:
    return [
        HeldUpload(url, object_path(usecase, "org=1", f"k{n}"), bytes([65 + n]) * 4000)
        for n in range(count)
    ]


def eventually(send: Callable[[], Reply], status: int, attempts: int = 50) -> Reply:
    """A slot is freed just after its answer is sent; poll briefly for it."""
    for _ in range(attempts):
        reply = send()
        if reply.status == status:
            return reply
        time.sleep(0.05)
    return reply


def test_in_flight_cap_answers_503_while_uploads_are_held(make_server: MakeServer) -> None:
    server = make_server({"http": {"max_requests": 3}})
    probe_path = object_path("held", "org=1", "probe")
    holds = held_uploads(server.url, 3)
    try:
        refused = saturate(holds, lambda: call(server.url, "GET", probe_path), 503)
        assert refused.detail == BUSY
        for method, body in (("PUT", b"x"), ("DELETE", None), ("GET", None)):
            reply = call(server.url, method, probe_path, body)
            assert (reply.status, reply.detail) == (503, BUSY)
        head = call(server.url, "HEAD", probe_path)
        assert (head.status, head.body) == (503, b"")
        # Internal routes stay reachable: probes must not think the server is dead.
        assert call(server.url, "GET", "/health").status == 200
        assert call(server.url, "GET", "/ready").status == 200

        assert [hold.finish().status for hold in holds] == [200, 200, 200]
    finally:
        for hold in holds:
            hold.close()
    for hold in holds:
        stored = eventually(lambda hold=hold: call(server.url, "GET", hold.path), 200)
        assert (stored.status, stored.body) == (200, hold.body)


def test_zero_in_flight_cap_refuses_all_but_internal_routes(make_server: MakeServer) -> None:
    server = make_server({"http": {"max_requests": 0}})
    key, collection = object_path("closed", "org=1", "k"), object_path("closed", "_")
    for method, path, body in (("GET", key, None), ("PUT", key, b"x"), ("POST", collection, b"x")):
        reply = call(server.url, method, path, body)
        assert (reply.status, reply.detail) == (503, BUSY)
    assert batch(server.url, "closed", "org=1", [Op("get", "k")]).status == 503
    assert call(server.url, "GET", "/health").status == 200
    assert call(server.url, "GET", "/ready").status == 200


def test_backend_permits_answer_429_while_uploads_are_held(make_server: MakeServer) -> None:
    server = make_server({"service": {"max_concurrency": 2}})
    probe_path = object_path("held", "org=1", "probe")
    holds = held_uploads(server.url, 2)
    try:
        refused = saturate(holds, lambda: call(server.url, "GET", probe_path), 429)
        assert refused.detail == NO_PERMIT
        for method, body in (("PUT", b"x"), ("DELETE", None)):
            reply = call(server.url, method, probe_path, body)
            assert (reply.status, reply.detail) == (429, NO_PERMIT)
        head = call(server.url, "HEAD", probe_path)
        assert (head.status, head.body) == (429, b"")
        assert call(server.url, "GET", "/health").status == 200

        assert [hold.finish().status for hold in holds] == [200, 200]
    finally:
        for hold in holds:
            hold.close()
    assert eventually(lambda: call(server.url, "GET", probe_path), 404).status == 404
    for hold in holds:
        assert call(server.url, "GET", hold.path).body == hold.body


def test_a_queued_request_gets_the_permit_when_it_frees(make_server: MakeServer) -> None:
    # One permit, one waiting place, and a wait far longer than finishing the uploads takes.
    server = make_server(
        {"service": {"max_concurrency": 1, "concurrency_queue": 1, "concurrency_timeout": "5s"}}
    )
    holds = held_uploads(server.url, 2, usecase="queued")
    answers: list[Reply] = []
    try:
        # One upload holds the permit and the other waits for it; the queue is full.
        refused = saturate(
            holds, lambda: call(server.url, "GET", object_path("queued", "_", "p")), 429
        )
        assert refused.detail == NO_PERMIT
        finishing = [
            threading.Thread(target=lambda hold=hold: answers.append(hold.finish()))
            for hold in holds
        ]
        for thread in finishing:
            thread.start()
        for thread in finishing:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in finishing)
    finally:
        for hold in holds:
            hold.close()
    assert [answer.status for answer in answers] == [200, 200]
    for hold in holds:
        assert call(server.url, "GET", hold.path).body == hold.body


def test_zero_permits_refuse_objects_and_every_batch_operation(make_server: MakeServer) -> None:
    server = make_server({"service": {"max_concurrency": 0}})
    reply = call(server.url, "GET", object_path("starved", "org=1", "k"))
    assert (reply.status, reply.detail) == (429, NO_PERMIT)
    reply = call(server.url, "PUT", object_path("starved", "org=1", "k"), b"x")
    assert (reply.status, reply.detail) == (429, NO_PERMIT)
    answer = batch(server.url, "starved", "org=1", [Op("get", "k"), Op("insert", "j", b"x")])
    assert answer.status == 200
    parts = answer.parts()
    assert [parts[n].status for n in sorted(parts)] == [429, 429]
