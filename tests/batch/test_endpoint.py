"""``POST /v1/objects:batch/...`` against a real server: per-operation results and errors."""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest
import zstandard

from tests.batch.support import BOUNDARY, Op, batch, build, encode_key, post
from tests.conftest import MakeServer
from tests.servers import ServerProcess

USECASE = "batching"
AWKWARD_KEYS = ["plain", "nested/path/key", "with space", "ünïcödé", "emoji-🦀", "100%", "a;b=c"]


@pytest.fixture
def scopes() -> str:
    """A scope of the test's own on the shared server."""
    return f"org={uuid.uuid4().int % 10**9}"


def object_url(server: ServerProcess, scopes: str, key: str) -> str:
    return f"{server.url}/v1/objects/{USECASE}/{scopes}/{urllib.request.quote(key, safe='/')}"


def test_insert_get_head_delete_round_trip_with_metadata(
    blobhouse_server: ServerProcess, scopes: str
) -> None:
    meta = {"content-type": "text/plain; charset=utf-8", "x-snme-colour": "blue"}
    inserts = [Op("insert", key, key.encode() * 3, meta) for key in AWKWARD_KEYS]
    answer = batch(blobhouse_server.url, USECASE, scopes, inserts)
    assert answer.status == 200
    parts = answer.parts()
    assert sorted(parts) == list(range(len(AWKWARD_KEYS)))
    for index, key in enumerate(AWKWARD_KEYS):
        assert parts[index].status == 201
        assert parts[index].headers["x-sn-batch-operation-kind"] == "insert"
        assert parts[index].headers["x-sn-batch-operation-key"] == encode_key(key)

    # Objects written by a batch are ordinary objects.
    with urllib.request.urlopen(object_url(blobhouse_server, scopes, "nested/path/key")) as got:
        assert got.read() == b"nested/path/key" * 3

    reads = [Op("get", key) for key in AWKWARD_KEYS] + [Op("head", key) for key in AWKWARD_KEYS]
    parts = batch(blobhouse_server.url, USECASE, scopes, reads).parts()
    for index, key in enumerate(AWKWARD_KEYS):
        got, head = parts[index], parts[index + len(AWKWARD_KEYS)]
        assert (got.status, got.body) == (200, key.encode() * 3)
        assert got.headers["content-type"] == "text/plain; charset=utf-8"
        assert got.headers["x-snme-colour"] == "blue"
        assert (head.status, head.body) == (204, b"")
        assert head.headers["x-snme-colour"] == "blue"
        assert head.headers["x-sn-batch-operation-kind"] == "head"

    deletes = [Op("delete", key) for key in AWKWARD_KEYS] + [Op("get", AWKWARD_KEYS[0])]
    parts = batch(blobhouse_server.url, USECASE, scopes, deletes).parts()
    assert {parts[i].status for i in range(len(AWKWARD_KEYS))} == {204}
    # Operations run concurrently: a get in the same batch may see the object or not.
    assert parts[len(AWKWARD_KEYS)].status in (200, 404)
    after = batch(blobhouse_server.url, USECASE, scopes, [Op("get", k) for k in AWKWARD_KEYS])
    assert {part.status for part in after.parts().values()} == {404}


def test_insert_without_key_gets_a_generated_one(
    blobhouse_server: ServerProcess, scopes: str
) -> None:
    part = batch(blobhouse_server.url, USECASE, scopes, [Op("insert", body=b"anon")]).parts()[0]
    assert part.status == 201
    key = part.headers["x-sn-batch-operation-key"].replace("%2D", "-")
    assert str(uuid.UUID(key)) == key
    with urllib.request.urlopen(object_url(blobhouse_server, scopes, key)) as got:
        assert got.read() == b"anon"


def test_zstd_inserts_are_stored_and_returned_as_sent(
    blobhouse_server: ServerProcess, scopes: str
) -> None:
    frame = zstandard.ZstdCompressor().compress(b"squeeze me " * 100)
    insert = Op("insert", "packed", frame, {"content-encoding": "zstd"})
    assert batch(blobhouse_server.url, USECASE, scopes, [insert]).parts()[0].status == 201
    got = batch(blobhouse_server.url, USECASE, scopes, [Op("get", "packed")]).parts()[0]
    assert got.headers["content-encoding"] == "zstd"
    assert got.body == frame


OP_ERRORS = [
    pytest.param(Op("fetch", "k"), 400, id="unknown-kind"),
    pytest.param(Op("get"), 400, id="get-without-key"),
    pytest.param(Op("delete"), 400, id="delete-without-key"),
    pytest.param(Op("get", raw_key="bad%zzescape"), 400, id="invalid-percent-escape"),
    pytest.param(Op("get", raw_key="%FF%FE"), 400, id="key-not-utf8"),
    pytest.param(Op("get", raw_key=""), 400, id="empty-key"),
    pytest.param(Op("get", "k" * 1025), 400, id="key-too-long"),
    pytest.param(Op("insert", "big", b"x" * ((1 << 20) + 1)), 413, id="insert-over-1MiB"),
    pytest.param(Op("insert", "e", b"x", {"x-sn-expiration": "ttl:soon"}), 400, id="bad-expiry"),
    pytest.param(Op("insert", "g", b"x", {"content-encoding": "gzip"}), 400, id="gzip"),
]


@pytest.mark.parametrize(("op", "status"), OP_ERRORS)
def test_a_bad_operation_fails_alone_with_a_json_error(
    blobhouse_server: ServerProcess, scopes: str, op: Op, status: int
) -> None:
    ops = [Op("insert", "fine", b"ok"), op, Op("get", "fine")]
    answer = batch(blobhouse_server.url, USECASE, scopes, ops)
    assert answer.status == 200
    parts = answer.parts()
    assert parts[0].status == 201
    failed = parts[1]
    assert failed.status == status
    # Error parts carry only the index and the status, and a JSON body saying why.
    assert "x-sn-batch-operation-key" not in failed.headers
    assert "x-sn-batch-operation-kind" not in failed.headers
    assert failed.headers["content-type"] == "application/json"
    assert failed.json()["detail"]
    assert parts[2].status in (200, 404)  # concurrent with the insert


def test_an_oversize_insert_stores_nothing(blobhouse_server: ServerProcess, scopes: str) -> None:
    op = Op("insert", "too-big", b"x" * ((1 << 20) + 1))
    assert batch(blobhouse_server.url, USECASE, scopes, [op]).parts()[0].status == 413
    assert batch(blobhouse_server.url, USECASE, scopes, [Op("head", "too-big")]).parts()[
        0
    ].status == (404)


def test_operations_past_one_thousand_fail_with_413(
    blobhouse_server: ServerProcess, scopes: str
) -> None:
    ops = [Op("head", f"k{n}") for n in range(1002)]
    parts = batch(blobhouse_server.url, USECASE, scopes, ops).parts()
    assert sorted(parts) == list(range(1002))
    assert {parts[n].status for n in range(1000)} == {404}
    assert parts[1000].status == parts[1001].status == 413


def test_status_headers_use_standard_reason_phrases(
    blobhouse_server: ServerProcess, scopes: str
) -> None:
    ops = [Op("insert", "r", b"1"), Op("get", "nope"), Op("insert", "x", b"x" * ((1 << 20) + 1))]
    parts = batch(blobhouse_server.url, USECASE, scopes, ops).parts()
    assert parts[0].headers["x-sn-batch-operation-status"] == "201 Created"
    assert parts[1].headers["x-sn-batch-operation-status"] == "404 Not Found"
    assert parts[2].headers["x-sn-batch-operation-status"] == "413 Payload Too Large"


def test_an_empty_batch_answers_an_empty_multipart_body(
    blobhouse_server: ServerProcess, scopes: str
) -> None:
    answer = post(
        blobhouse_server.url,
        f"/v1/objects:batch/{USECASE}/{scopes}/",
        b"--x--\r\n",
        content_type="multipart/form-data; boundary=x",
    )
    assert answer.status == 200
    assert answer.parts() == {}


REQUEST_ERRORS = [
    pytest.param(None, build([Op("get", "k")]), "POST", "", 400, id="no-content-type"),
    pytest.param("application/json", b"{}", "POST", "", 400, id="json-content-type"),
    pytest.param("multipart/form-data", build([Op("get", "k")]), "POST", "", 400, id="no-boundary"),
    pytest.param(
        f"multipart/form-data; boundary={BOUNDARY}",
        build([Op("get", "k")])[:-20],
        "POST",
        "",
        400,
        id="truncated-body",
    ),
    pytest.param(
        f"multipart/form-data; boundary={BOUNDARY}", b"garbage", "POST", "", 400, id="garbage"
    ),
    pytest.param(None, b"", "GET", "", 405, id="get-method"),
    pytest.param(
        f"multipart/form-data; boundary={BOUNDARY}", build([]), "POST", "key", 404, id="key-in-path"
    ),
]


@pytest.mark.parametrize(("content_type", "body", "method", "tail", "status"), REQUEST_ERRORS)
def test_a_malformed_batch_request_fails_whole_with_a_json_error(
    blobhouse_server: ServerProcess,
    scopes: str,
    content_type: str | None,
    body: bytes,
    method: str,
    tail: str,
    status: int,
) -> None:
    path = f"/v1/objects:batch/{USECASE}/{scopes}/{tail}"
    answer = post(blobhouse_server.url, path, body, content_type=content_type, method=method)
    assert answer.status == status
    assert answer.headers["content-type"] == "application/json"
    assert json.loads(answer.body)["detail"]


def test_invalid_usecase_or_scopes_fail_the_whole_request(blobhouse_server: ServerProcess) -> None:
    body = build([Op("get", "k")])
    for path in ("/v1/objects:batch/x/_/", "/v1/objects:batch/batching/org/"):
        answer = post(blobhouse_server.url, path, body)
        assert answer.status == 400, path
        assert json.loads(answer.body)["detail"]


def test_usecase_expiration_rules_apply_per_insert(make_server: MakeServer) -> None:
    server = make_server({"usecases": {USECASE: {"expiration": {"manual": {"allowed": False}}}}})
    ops = [
        Op("insert", "forever", b"x"),
        Op("insert", "for-a-day", b"x", {"x-sn-expiration": "ttl:1d"}),
    ]
    parts = batch(server.url, USECASE, "_", ops).parts()
    assert parts[0].status == 400
    assert parts[0].json()["detail"]
    assert parts[1].status == 201


def test_quota_rejects_the_insert_that_would_exceed_it(make_server: MakeServer) -> None:
    server = make_server({"usecases": {USECASE: {"quota": {"max_objects": 2}}}})
    ops = [Op("insert", f"k{n}", b"x") for n in range(3)]
    parts = batch(server.url, USECASE, "_", ops).parts()
    assert sorted(part.status for part in parts.values()) == [201, 201, 413]
    rejected = next(part for part in parts.values() if part.status == 413)
    assert "quota" in rejected.json()["detail"]
