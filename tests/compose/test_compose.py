"""``/v1/objects:compose/...``: new objects concatenated server-side from existing ones."""

from __future__ import annotations

import http.client
import json
import uuid
from typing import Any
from urllib.parse import quote

import pytest
import zstandard

from tests.conftest import MakeServer
from tests.servers import ServerProcess

USECASE = "composing"


@pytest.fixture
def scopes() -> str:
    return f"org={uuid.uuid4().int % 10**9}"


def call(
    server: ServerProcess,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def put(server: ServerProcess, scopes: str, key: str, data: bytes, **headers: str) -> None:
    path = f"/v1/objects/{USECASE}/{scopes}/{quote(key)}"
    status, _, body = call(server, "PUT", path, data, headers)
    assert status == 200, body


def get(server: ServerProcess, scopes: str, key: str) -> tuple[int, dict[str, str], bytes]:
    return call(server, "GET", f"/v1/objects/{USECASE}/{scopes}/{quote(key)}")


def compose(
    server: ServerProcess,
    scopes: str,
    sources: Any,
    key: str | None = None,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> tuple[int, dict[str, Any]]:
    path = f"/v1/objects:compose/{USECASE}/{scopes}/" + (quote(key) if key else "")
    status, _, body = call(
        server,
        "PUT" if key else "POST",
        path,
        json.dumps({"sources": sources, **fields}).encode(),
        {"content-type": "application/json", **(headers or {})},
    )
    return status, json.loads(body)


def test_sources_across_tiers_concatenate_into_a_new_object(
    blobhouse_server: ServerProcess, scopes: str
) -> None:
    small = b"small inline part|"
    large = bytes(range(256)) * (6 * 1024)  # 1.5 MiB: stored as a blob file, not inline
    put(blobhouse_server, scopes, "a", small)
    put(blobhouse_server, scopes, "nested/b", large)
    put(blobhouse_server, scopes, "c", b"|end")
    status, answer = compose(
        blobhouse_server,
        scopes,
        ["a", "nested/b", "c", "a"],
        headers={"x-snme-made-by": "compose"},
        content_type="text/plain",
    )
    assert status == 201
    new_key = answer["key"]
    assert str(uuid.UUID(new_key)) == new_key
    status, headers, body = get(blobhouse_server, scopes, new_key)
    assert status == 200
    assert body == small + large + b"|end" + small
    assert headers["content-type"] == "text/plain"
    assert headers["x-snme-made-by"] == "compose"
    # The sources are untouched.
    assert get(blobhouse_server, scopes, "nested/b")[2] == large


def test_the_first_source_gives_the_content_type_by_default(
    blobhouse_server: ServerProcess, scopes: str
) -> None:
    put(blobhouse_server, scopes, "p1", b"<a>", **{"content-type": "text/html"})
    put(blobhouse_server, scopes, "p2", b"</a>")
    assert compose(blobhouse_server, scopes, ["p1", "p2"], key="page")[0] == 200
    assert get(blobhouse_server, scopes, "page")[1]["content-type"] == "text/html"


def test_zstd_sources_make_a_multi_frame_zstd_object(
    blobhouse_server: ServerProcess, scopes: str
) -> None:
    compressor = zstandard.ZstdCompressor()
    put(
        blobhouse_server,
        scopes,
        "z1",
        compressor.compress(b"first "),
        **{"content-encoding": "zstd"},
    )
    put(
        blobhouse_server,
        scopes,
        "z2",
        compressor.compress(b"second"),
        **{"content-encoding": "zstd"},
    )
    status, answer = compose(blobhouse_server, scopes, ["z1", "z2"], key="joined")
    assert (status, answer) == (200, {"key": "joined"})
    status, headers, body = get(blobhouse_server, scopes, "joined")
    assert headers["content-encoding"] == "zstd"
    reader = zstandard.ZstdDecompressor().stream_reader(body, read_across_frames=True)
    assert reader.read() == b"first second"


def test_mixed_encodings_are_refused(blobhouse_server: ServerProcess, scopes: str) -> None:
    put(blobhouse_server, scopes, "plain", b"x")
    put(
        blobhouse_server,
        scopes,
        "packed",
        zstandard.ZstdCompressor().compress(b"y"),
        **{"content-encoding": "zstd"},
    )
    status, answer = compose(blobhouse_server, scopes, ["plain", "packed"], key="mixed")
    assert status == 409 and "zstd" in answer["detail"]
    assert get(blobhouse_server, scopes, "mixed")[0] == 404


def test_a_missing_source_names_itself_and_writes_nothing(
    blobhouse_server: ServerProcess, scopes: str
) -> None:
    put(blobhouse_server, scopes, "here", b"x")
    status, answer = compose(blobhouse_server, scopes, ["here", "gone"], key="target")
    assert status == 404 and "gone" in answer["detail"]
    assert get(blobhouse_server, scopes, "target")[0] == 404


def test_if_none_match_makes_compose_create_only(
    blobhouse_server: ServerProcess, scopes: str
) -> None:
    put(blobhouse_server, scopes, "src", b"x")
    put(blobhouse_server, scopes, "taken", b"old")
    status, _ = compose(
        blobhouse_server, scopes, ["src"], key="taken", headers={"if-none-match": "*"}
    )
    assert status == 412
    assert get(blobhouse_server, scopes, "taken")[2] == b"old"


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"sources": []}', "application/json", 422),
        (b'{"sources": "a"}', "application/json", 422),
        (b'{"sources": [1]}', "application/json", 422),
        (b'{"sources": [""]}', "application/json", 422),
        (b'{"parts": ["a"]}', "application/json", 422),
        (b'{"sources": ["a"], "content_type": 5}', "application/json", 422),
        (b'{"sources": ["a"], "content_type": "no"}', "application/json", 400),
        (b"{not json", "application/json", 400),
        (b'{"sources": ["a"]}', "text/plain", 415),
        (json.dumps({"sources": ["a"] * 1001}).encode(), "application/json", 422),
    ],
    ids=[
        "empty",
        "string",
        "number",
        "empty-key",
        "wrong-field",
        "type-not-string",
        "invalid-type",
        "not-json",
        "not-json-type",
        "too-many",
    ],
)
def test_malformed_compose_requests_get_json_errors(
    blobhouse_server: ServerProcess, scopes: str, body: bytes, content_type: str, status: int
) -> None:
    answer = call(
        blobhouse_server,
        "PUT",
        f"/v1/objects:compose/{USECASE}/{scopes}/t",
        body,
        {"content-type": content_type},
    )
    assert answer[0] == status
    assert json.loads(answer[2])["detail"]


def test_content_encoding_header_is_refused(blobhouse_server: ServerProcess, scopes: str) -> None:
    put(blobhouse_server, scopes, "s", b"x")
    status, answer = compose(
        blobhouse_server, scopes, ["s"], key="t", headers={"content-encoding": "zstd"}
    )
    assert status == 400 and answer["detail"]


def test_wrong_method_is_405(blobhouse_server: ServerProcess, scopes: str) -> None:
    status, headers, body = call(
        blobhouse_server, "GET", f"/v1/objects:compose/{USECASE}/{scopes}/k"
    )
    assert status == 405 and headers["allow"] == "PUT"
    assert json.loads(body)["detail"]


def test_the_size_limit_applies_to_the_composed_object(make_server: MakeServer) -> None:
    server = make_server({"limits": {"max_object_size": 1000}})
    put(server, "_", "half", b"x" * 600)
    status, answer = compose(server, "_", ["half", "half"], key="whole")
    assert status == 413 and "1200" in answer["detail"]
    assert get(server, "_", "whole")[0] == 404
