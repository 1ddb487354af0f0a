"""The facade's signed URLs against a server that enforces tokens."""

from __future__ import annotations

import uuid
from datetime import timedelta

from blobhouse import SecretKey
from blobhouse.aio import AsyncClient
from blobhouse.facade import StorageScope, StorageServiceBuilder
from tests.auth.conftest import AuthServer
from tests.auth.support import request

UPLOADS = StorageServiceBuilder.for_usecase("testing")


async def test_signed_put_then_signed_get(auth_server: AuthServer) -> None:
    secret = SecretKey("test_kid", auth_server.keys.test_v1.private_pem)
    async with AsyncClient(auth_server.url, token=secret) as client:
        storage = UPLOADS.with_client(client).with_scope(
            StorageScope.for_organization(uuid.uuid4().int % 10**9)
        )
        url, storage_id = await storage.signed_put_url(timedelta(minutes=5), max_size=100)
        # The holder of the URL needs no token: a browser or curl uploads directly.
        assert request("PUT", url, body=b"uploaded by a browser").status == 200
        assert request("PUT", url, body=b"x" * 101).status == 413
        assert (await storage.get_blob(storage_id)).read() == b"uploaded by a browser"

        download = await storage.signed_get_url(storage_id, timedelta(minutes=1))
        answer = request("GET", download)
        assert (answer.status, answer.body) == (200, b"uploaded by a browser")
        assert request("DELETE", download).status == 403  # a GET link deletes nothing
