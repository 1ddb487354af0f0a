"""Resumable uploads (spec §22) on a real server, by hand and with objectstore-client 0.2.10."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import time
import uuid
from pathlib import Path

import objectstore_client as official
import pytest

from tests.conftest import MakeServer
from tests.resumable.proxy import CuttingProxy
from tests.servers import ServerProcess, relaunch

USECASE = "resumable"


def new_scope() -> str:
    return f"org={uuid.uuid4().int % 10**9}"


def call(
    server_port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server_port, timeout=60)
    try:
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def create(server: ServerProcess, scope: str, key: str, total: int, **headers: str) -> str:
    status, _, body = call(
        server.port,
        "PUT",
        f"/v1/objects/{USECASE}/{scope}/{key}?upload_type=resumable",
        b"",
        {"upload-length": str(total), **headers},
    )
    assert status == 200, body
    answer = json.loads(body)
    assert answer["key"] == key
    token: str = answer["session"]
    return token


def send(
    server: ServerProcess, scope: str, key: str, token: str, offset: int | str, data: bytes
) -> tuple[int, dict[str, str], bytes]:
    return call(
        server.port,
        "PUT",
        f"/v1/objects/{USECASE}/{scope}/{key}?session={token}",
        data,
        {"upload-offset": str(offset)},
    )


def get(server: ServerProcess, scope: str, key: str) -> tuple[int, bytes]:
    status, _, body = call(server.port, "GET", f"/v1/objects/{USECASE}/{scope}/{key}")
    return status, body


def send_partially(
    server: ServerProcess, path: str, offset: int, declared: int, data: bytes
) -> None:
    """Start a data request of ``declared`` bytes, send only ``data``, and hang up."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            f"PUT {path} HTTP/1.1\r\nHost: x\r\nUpload-Offset: {offset}\r\n"
            f"Content-Length: {declared}\r\n\r\n".encode()
            + data
        )
        time.sleep(0.3)  # let the server read and store what arrived


def wait_for_offset(server: ServerProcess, scope: str, key: str, token: str) -> int:
    """Probe until the cut-off request has been wound up (bounded)."""
    deadline = time.monotonic() + 10
    while True:
        status, headers, _ = send(server, scope, key, token, "*", b"")
        if status == 204 or time.monotonic() > deadline:
            assert status == 204, status
            return int(headers["upload-offset"])
        time.sleep(0.1)  # 503 while the old request still holds the session


def test_data_in_pieces_commits_on_the_last_byte(blobhouse_server: ServerProcess) -> None:
    scope = new_scope()
    data = os.urandom(300_000)
    token = create(blobhouse_server, scope, "pieces", len(data), **{"content-type": "image/png"})
    status, headers, _ = send(blobhouse_server, scope, "pieces", token, 0, data[:100_000])
    assert (status, headers["upload-offset"]) == (204, "100000")
    assert get(blobhouse_server, scope, "pieces")[0] == 404  # invisible until complete
    status, headers, _ = send(blobhouse_server, scope, "pieces", token, "*", b"")
    assert (status, headers["upload-offset"]) == (204, "100000")
    status, _, body = send(blobhouse_server, scope, "pieces", token, 100_000, data[100_000:])
    assert (status, json.loads(body)) == (201, {"key": "pieces"})
    assert get(blobhouse_server, scope, "pieces") == (200, data)
    _, headers, _ = call(blobhouse_server.port, "HEAD", f"/v1/objects/{USECASE}/{scope}/pieces")
    assert headers["content-type"] == "image/png"
    # The final answer may be lost: probing and resending still say "complete".
    assert send(blobhouse_server, scope, "pieces", token, "*", b"")[0] == 201
    assert send(blobhouse_server, scope, "pieces", token, 300_000, b"")[0] == 201


def test_wrong_offset_is_409_with_the_persisted_offset(blobhouse_server: ServerProcess) -> None:
    scope = new_scope()
    token = create(blobhouse_server, scope, "k", 10)
    assert send(blobhouse_server, scope, "k", token, 0, b"12345")[0] == 204
    status, headers, body = send(blobhouse_server, scope, "k", token, 2, b"345")
    assert (status, headers["upload-offset"]) == (409, "5")
    assert json.loads(body)["detail"]
    status, _, body = send(blobhouse_server, scope, "k", token, 5, b"678901")
    assert status == 400 and "Upload-Length" in json.loads(body)["detail"]
    assert send(blobhouse_server, scope, "k", token, 5, b"67890")[0] == 201
    assert get(blobhouse_server, scope, "k") == (200, b"1234567890")


def test_an_interrupted_request_keeps_what_arrived(blobhouse_server: ServerProcess) -> None:
    scope = new_scope()
    data = os.urandom(2_000_000)
    token = create(blobhouse_server, scope, "cut", len(data))
    path = f"/v1/objects/{USECASE}/{scope}/cut?session={token}"
    send_partially(blobhouse_server, path, 0, len(data), data[:1_200_000])
    offset = wait_for_offset(blobhouse_server, scope, "cut", token)
    assert 0 < offset <= 1_200_000
    assert get(blobhouse_server, scope, "cut")[0] == 404
    status, _, _ = send(blobhouse_server, scope, "cut", token, offset, data[offset:])
    assert status == 201
    assert get(blobhouse_server, scope, "cut") == (200, data)


def test_cancel_drops_the_session(blobhouse_server: ServerProcess) -> None:
    scope = new_scope()
    token = create(blobhouse_server, scope, "gone", 10)
    assert send(blobhouse_server, scope, "gone", token, 0, b"123")[0] == 204
    path = f"/v1/objects/{USECASE}/{scope}/gone?session={token}"
    assert call(blobhouse_server.port, "DELETE", path)[0] == 204
    status, _, body = send(blobhouse_server, scope, "gone", token, 3, b"4567890")
    assert status == 404 and json.loads(body)["detail"]
    assert call(blobhouse_server.port, "DELETE", path)[0] == 404
    assert get(blobhouse_server, scope, "gone")[0] == 404


def test_a_session_token_only_works_on_its_own_object(blobhouse_server: ServerProcess) -> None:
    scope = new_scope()
    token = create(blobhouse_server, scope, "mine", 3)
    assert send(blobhouse_server, scope, "other", token, 0, b"abc")[0] == 404
    assert send(blobhouse_server, new_scope(), "mine", token, 0, b"abc")[0] == 404
    assert send(blobhouse_server, scope, "mine", token, 0, b"abc")[0] == 201


@pytest.mark.parametrize(
    ("method", "query", "headers", "body", "status"),
    [
        ("PUT", "upload_type=resumable", {}, b"", 400),  # no Upload-Length
        ("PUT", "upload_type=resumable", {"upload-length": "-1"}, b"", 400),
        ("PUT", "upload_type=resumable", {"upload-length": "3"}, b"abc", 400),  # has a body
        ("PUT", "upload_type=resumable", {"upload-length": "99999999999999"}, b"", 413),
        ("PUT", "upload_type=multipart", {"upload-length": "3"}, b"", 400),
        ("PUT", "upload_type=resumable&session=x", {"upload-length": "3"}, b"", 400),
        ("DELETE", "upload_type=resumable", {}, None, 405),
        ("PUT", "session=not-a-token", {"upload-offset": "0"}, b"x", 404),
        ("PUT", "session=" + "a" * 43, {"upload-offset": "0"}, b"x", 404),
        ("POST", "session=" + "a" * 43, {}, b"", 405),
    ],
    ids=[
        "no-length",
        "negative-length",
        "body-on-create",
        "over-size-limit",
        "unknown-upload-type",
        "both-parameters",
        "delete-create",
        "malformed-token",
        "unknown-token",
        "post-data",
    ],
)
def test_malformed_resumable_requests_get_json_errors(
    blobhouse_server: ServerProcess,
    method: str,
    query: str,
    headers: dict[str, str],
    body: bytes | None,
    status: int,
) -> None:
    path = f"/v1/objects/{USECASE}/{new_scope()}/k?{query}"
    answer = call(blobhouse_server.port, method, path, body, headers)
    assert answer[0] == status
    assert json.loads(answer[2])["detail"]


def test_data_request_needs_offset_and_length(blobhouse_server: ServerProcess) -> None:
    scope = new_scope()
    token = create(blobhouse_server, scope, "k", 3)
    path = f"/v1/objects/{USECASE}/{scope}/k?session={token}"
    assert call(blobhouse_server.port, "PUT", path, b"abc")[0] == 400  # no Upload-Offset
    assert call(blobhouse_server.port, "PUT", path, b"abc", {"upload-offset": "x"})[0] == 400
    assert call(blobhouse_server.port, "PUT", path, b"a", {"upload-offset": "*"})[0] == 400


def test_expiration_rules_apply_when_the_session_is_created(make_server: MakeServer) -> None:
    server = make_server({"usecases": {USECASE: {"expiration": {"manual": {"allowed": False}}}}})
    status, _, body = call(
        server.port,
        "PUT",
        f"/v1/objects/{USECASE}/_/k?upload_type=resumable",
        b"",
        {"upload-length": "3"},
    )
    assert status == 400 and json.loads(body)["detail"]


def test_abandoned_sessions_expire_and_are_swept(make_server: MakeServer, tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    server = make_server(
        {
            "resumable": {"staging_dir": str(staging), "abandon_after": "1s"},
            "reaper": {"interval": "500ms"},
        }
    )
    token = create(server, "_", "idle", 10)
    assert send(server, "_", "idle", token, 0, b"123")[0] == 204
    time.sleep(1.2)
    status, _, _ = send(server, "_", "idle", token, 3, b"4567890")
    assert status in (404, 410)  # 410 until the sweeper has removed it, 404 after
    deadline = time.monotonic() + 10
    while any(staging.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(staging.iterdir())


def test_a_crash_mid_upload_resumes_after_restart(make_server: MakeServer) -> None:
    server = make_server({})
    data = os.urandom(1_500_000)
    token = create(server, "_", "crash", len(data))
    assert send(server, "_", "crash", token, 0, data[:500_000])[0] == 204
    server.kill()
    restarted = relaunch(server)
    try:
        status, headers, _ = send(restarted, "_", "crash", token, "*", b"")
        assert (status, headers["upload-offset"]) == (204, "500000")
        assert get(restarted, "_", "crash")[0] == 404
        assert send(restarted, "_", "crash", token, 500_000, data[500_000:])[0] == 201
        assert get(restarted, "_", "crash") == (200, data)
    finally:
        restarted.stop()


# --- with objectstore-client 0.2.10 ------------------------------------------------------


def official_session(url: str, threshold: int = 1000, **scopes: str | int) -> official.Session:
    client = official.Client(url)
    usecase = official.Usecase(USECASE, resumable_threshold_bytes=threshold)
    return client.session(usecase, **(scopes or {"org": uuid.uuid4().int % 10**9}))


@pytest.mark.parametrize("compress", ["zstd", "none"])
def test_official_client_uploads_resumably(blobhouse_server: ServerProcess, compress: str) -> None:
    session = official_session(blobhouse_server.url)
    data = os.urandom(600_000)
    key = session.put(data, key="official", compress=compress, filename="a b.bin")
    assert key == "official"
    result = session.get(key)
    assert result is not None and result.payload.read() == data
    assert result.metadata.filename == "a b.bin"
    generated = session.put(data[:5000], compress=compress)
    result = session.get(generated)
    assert result is not None and result.payload.read() == data[:5000]


def test_official_client_uploads_an_empty_payload_at_threshold_zero(
    blobhouse_server: ServerProcess,
) -> None:
    session = official_session(blobhouse_server.url, threshold=0)
    for compress in ("none", "zstd"):
        key = session.put(b"", key=f"empty-{compress}", compress=compress)
        result = session.get(key)
        assert result is not None and result.payload.read() == b""


def test_official_client_resumes_after_the_connection_is_cut(
    blobhouse_server: ServerProcess,
) -> None:
    data = os.urandom(3_000_000)
    proxy = CuttingProxy(
        blobhouse_server.port,
        marker=b"?session=",
        cut_after=1_000_000,
    )
    org = uuid.uuid4().int % 10**9
    try:
        session = official_session(proxy.url, org=org)
        key = session.put(data, key="resumed", compress="none")
        assert proxy.cuts == 1, "the data request was never cut"
    finally:
        proxy.close()
    result = official_session(blobhouse_server.url, org=org).get(key)
    assert result is not None
    assert hashlib.sha256(result.payload.read()).digest() == hashlib.sha256(data).digest()


def test_official_client_cancels_when_the_commit_is_refused(
    make_server: MakeServer, tmp_path: Path
) -> None:
    staging = tmp_path / "staging"
    server = make_server(
        {
            "usecases": {USECASE: {"quota": {"max_bytes": 100_000}}},
            "resumable": {"staging_dir": str(staging)},
        }
    )
    session = official_session(server.url, org=1)
    with pytest.raises(official.RequestError) as raised:
        session.put(os.urandom(200_000), key="too-big", compress="none")
    assert raised.value.status == 413
    assert list(staging.iterdir()) == []  # the client's cancel dropped the session
    assert session.get("too-big") is None


def test_one_gibibyte_through_resumable_upload_keeps_server_memory_flat(
    make_server: MakeServer, tmp_path: Path
) -> None:
    """1 GiB up (resumable, official client) and down; the server's peak RSS stays < 200 MB."""
    server = make_server({"storage": {"type": "tiered", "path": str(tmp_path / "objects")}})
    source = tmp_path / "one-gib.bin"
    block = os.urandom(1 << 20)
    expected = hashlib.sha256()
    with source.open("wb") as handle:
        for index in range(1024):
            chunk = index.to_bytes(4, "big") + block[4:]
            expected.update(chunk)
            handle.write(chunk)
    session = official_session(server.url, threshold=1 << 20, org=1)
    with source.open("rb") as handle:
        assert session.put(handle, key="gib", compress="none") == "gib"
    source.unlink()
    result = session.get("gib")
    assert result is not None
    received = hashlib.sha256()
    size = 0
    while block := result.payload.read(1 << 20):
        received.update(block)
        size += len(block)
    assert size == 1 << 30
    assert received.hexdigest() == expected.hexdigest()
    assert server.peak_rss() < 200 * 1024 * 1024
