"""Uploads and downloads stream: moving a large object does not grow server memory by its size.

This is a property check, not a performance target (those live in ``bench/``): a server
that buffered the object would gain at least its size in peak RSS, so the bound below
is a quarter of the object, far above what streaming needs and far below buffering.
"""

from __future__ import annotations

import hashlib
import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import MakeServer
from tests.servers import ServerProcess

CHUNK = 1 << 20
OBJECT_SIZE = 160 * CHUNK
ALLOWED_GROWTH = OBJECT_SIZE // 4


def chunks() -> Iterator[bytes]:
    """Distinct, incompressible-enough chunks generated on the fly (never all in memory)."""
    for index in range(OBJECT_SIZE // CHUNK):
        seed = hashlib.sha256(index.to_bytes(4, "big")).digest()
        yield seed * (CHUNK // len(seed))


def connect(server: ServerProcess) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)


def round_trip(server: ServerProcess, key: str, *, chunked: bool) -> None:
    path = f"/v1/objects/streaming/_/{key}"
    expected = hashlib.sha256()
    connection = connect(server)
    try:

        def body() -> Iterator[bytes]:
            for chunk in chunks():
                expected.update(chunk)
                yield chunk

        headers = {} if chunked else {"content-length": str(OBJECT_SIZE)}
        connection.request("PUT", path, body=body(), headers=headers, encode_chunked=chunked)
        response = connection.getresponse()
        assert response.status == 200, response.read()
        response.read()
        connection.request("GET", path)
        response = connection.getresponse()
        assert response.status == 200
        received = hashlib.sha256()
        size = 0
        while block := response.read(CHUNK):
            received.update(block)
            size += len(block)
        assert size == OBJECT_SIZE
        assert received.hexdigest() == expected.hexdigest()
    finally:
        connection.close()


@pytest.mark.parametrize("storage", ["tiered", "filesystem"])
def test_large_upload_and_download_do_not_grow_server_memory_with_object_size(
    make_server: MakeServer, tmp_path: Path, storage: str
) -> None:
    server = make_server({"storage": {"type": storage, "path": str(tmp_path / "objects")}})
    connection = connect(server)
    try:  # warm up: the first request imports and allocates what every request needs
        connection.request("PUT", "/v1/objects/streaming/_/warm", body=b"x" * CHUNK)
        connection.getresponse().read()
        connection.request("GET", "/v1/objects/streaming/_/warm")
        connection.getresponse().read()
    finally:
        connection.close()
    baseline = server.peak_rss()
    assert baseline > 0, "could not find the server's processes"

    round_trip(server, "with-length", chunked=False)
    round_trip(server, "chunked", chunked=True)

    growth = server.peak_rss() - baseline
    assert growth < ALLOWED_GROWTH, (
        f"peak RSS grew {growth >> 20} MiB moving {OBJECT_SIZE >> 20} MiB"
    )
