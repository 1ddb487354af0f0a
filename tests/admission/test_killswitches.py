"""Killswitches over HTTP (spec §11.2, §17.6): matching requests get 403, others pass.

One server carries every switch; each test talks to its own usecases and scopes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.admission.support import call, object_path
from tests.batch.support import Op, batch
from tests.servers import ServerProcess, launch_server

pytestmark = pytest.mark.server

KILLSWITCHES: list[dict[str, Any]] = [
    # The spec's worked example: every condition must hold.
    {"usecase": "blocked", "scopes": {"org": "42"}, "service": "test-*"},
    {"usecase": "switched-off"},
    {"scopes": {"org": "666"}},
    {"usecase": "svc-exact", "service": "ingest"},
    {"usecase": "svc-glob", "service": "relay*"},
]
SWITCHED = "object access is disabled for this scope through killswitches"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    started = launch_server(tmp_path_factory.mktemp("killswitches"), {"killswitches": KILLSWITCHES})
    try:
        yield started
    finally:
        started.stop()


def assert_switched_off(reply: Any) -> None:
    assert reply.status == 403, (reply.status, reply.body)
    assert reply.detail == SWITCHED


def test_spec_example_refuses_reads_and_writes_only_when_every_condition_holds(
    server: ServerProcess,
) -> None:
    service = {"x-downstream-service": "test-service"}
    target = object_path("blocked", "org=42;project=4711", "thing")
    assert_switched_off(call(server.url, "GET", target, headers=service))
    collection = object_path("blocked", "org=42;project=4711")
    assert_switched_off(call(server.url, "POST", collection, b"data", headers=service))
    assert_switched_off(call(server.url, "PUT", target, b"data", headers=service))
    assert_switched_off(call(server.url, "DELETE", target, headers=service))
    head = call(server.url, "HEAD", target, headers=service)
    assert (head.status, head.body) == (403, b"")

    # Any condition that does not hold lets the request through to storage.
    other_usecase = object_path("other", "org=42;project=4711", "thing")
    assert call(server.url, "GET", other_usecase, headers=service).status == 404
    other_org = object_path("blocked", "org=43;project=4711", "thing")
    assert call(server.url, "GET", other_org, headers=service).status == 404
    assert call(server.url, "GET", target).status == 404  # no service header: no match
    other_service = {"x-downstream-service": "prod-service"}
    assert call(server.url, "GET", target, headers=other_service).status == 404


def test_switched_off_usecase_refuses_every_operation_and_stores_nothing(
    server: ServerProcess,
) -> None:
    target = object_path("switched-off", "org=1", "thing")
    assert_switched_off(call(server.url, "PUT", target, b"data"))
    assert_switched_off(call(server.url, "POST", object_path("switched-off", "_"), b"data"))
    assert_switched_off(call(server.url, "GET", target))
    assert_switched_off(call(server.url, "DELETE", target))
    answer = batch(server.url, "switched-off", "org=1", [Op("insert", "k", b"data")])
    assert answer.status == 403
    assert SWITCHED in answer.body.decode()
    # A neighbouring usecase is untouched.
    neighbour = object_path("switched-on", "org=1", "thing")
    assert call(server.url, "PUT", neighbour, b"data").status == 200
    assert call(server.url, "GET", neighbour).body == b"data"


@pytest.mark.parametrize(
    "scopes", ["org=666", "org=666;project=1", "project=1;org=666", "org=666;project=1;x=y"]
)
def test_scope_switch_matches_any_request_carrying_those_scopes(
    server: ServerProcess, scopes: str
) -> None:
    for usecase in ("first-usecase", "second-usecase"):
        assert_switched_off(call(server.url, "PUT", object_path(usecase, scopes, "k"), b"x"))


@pytest.mark.parametrize("scopes", ["org=6666", "org=66", "project=666", "org=1;project=666"])
def test_scope_switch_ignores_other_values_and_names(server: ServerProcess, scopes: str) -> None:
    assert call(server.url, "PUT", object_path("first-usecase", scopes, "k"), b"x").status == 200


@pytest.mark.parametrize(
    ("service", "switched"),
    [
        ("ingest", True),
        ("ingest-7d9f8b6c5d-x2k4p", True),  # Deployment pod: hash suffixes stripped
        ("ingest-3", True),  # StatefulSet pod: ordinal stripped
        ("ingest-worker", False),  # a different service, not a pod of "ingest"
        ("ingest-worker-7d9f8b6c5d-x2k4p", False),
        ("my-ingest", False),
        (None, False),
    ],
)
def test_service_switch_names_the_deployment_whatever_the_pod(
    server: ServerProcess, service: str | None, switched: bool
) -> None:
    headers = {"x-downstream-service": service} if service is not None else {}
    reply = call(server.url, "GET", object_path("svc-exact", "org=1", "k"), headers=headers)
    if switched:
        assert_switched_off(reply)
    else:
        assert reply.status == 404


@pytest.mark.parametrize(
    ("service", "switched"),
    [("relay", True), ("relay-eu", True), ("relay-pop-12", True), ("symbolicator", False)],
)
def test_service_switch_accepts_globs(server: ServerProcess, service: str, switched: bool) -> None:
    headers = {"x-downstream-service": service}
    reply = call(server.url, "GET", object_path("svc-glob", "org=1", "k"), headers=headers)
    assert reply.status == (403 if switched else 404)
