"""Batch requests under token auth: the request needs a token; each operation its permission."""

from __future__ import annotations

import uuid

from tests.auth.conftest import AuthServer
from tests.auth.support import USECASE, bearer, token
from tests.batch.support import Op, batch


def test_batch_without_a_token_is_refused_whole(auth_server: AuthServer) -> None:
    answer = batch(auth_server.url, USECASE, "org=1", [Op("get", "k")])
    assert answer.status == 400


def test_each_operation_needs_its_own_permission(auth_server: AuthServer) -> None:
    org = str(uuid.uuid4().int % 10**9)
    writer = token(auth_server.keys.test_v1.private_key, {"org": org})
    reader = token(auth_server.keys.test_v1.private_key, {"org": org}, permissions=["object.read"])
    seeded = batch(
        auth_server.url, USECASE, f"org={org}", [Op("insert", "k", b"v")], headers=bearer(writer)
    )
    assert seeded.parts()[0].status == 201

    ops = [Op("get", "k"), Op("head", "k"), Op("insert", "k2", b"v"), Op("delete", "k")]
    parts = batch(auth_server.url, USECASE, f"org={org}", ops, headers=bearer(reader)).parts()
    assert (parts[0].status, parts[0].body) == (200, b"v")
    assert parts[1].status == 204
    assert parts[2].status == 403
    assert parts[3].status == 403
    assert parts[2].json()["detail"]


def test_a_token_for_one_tenant_cannot_batch_another(auth_server: AuthServer) -> None:
    mine = token(auth_server.keys.test_v1.private_key, {"org": "1"})
    ops = [Op("get", "k"), Op("insert", "k", b"v"), Op("delete", "k")]
    parts = batch(auth_server.url, USECASE, "org=2", ops, headers=bearer(mine)).parts()
    assert {part.status for part in parts.values()} == {403}
