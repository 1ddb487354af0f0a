"""Our clients' resumable uploads (sync and async) against a real server."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from blobhouse import Client, RequestError, Usecase
from blobhouse.aio import AsyncClient
from tests.conftest import MakeServer
from tests.resumable.proxy import CuttingProxy
from tests.servers import ServerProcess

Put = Callable[..., str]


def sessions_in(staging: Path) -> int:
    return sum(1 for _ in staging.iterdir()) if staging.exists() else 0


@pytest.fixture
def staged(make_server: MakeServer, tmp_path: Path) -> tuple[ServerProcess, Path]:
    staging = tmp_path / "staging"
    return make_server({"resumable": {"staging_dir": str(staging)}}), staging


def sync_put(url: str, usecase: Usecase, contents: Any, **kwargs: Any) -> tuple[str, bytes]:
    with Client(url) as client:
        session = client.session(usecase, org=1)
        key = session.put(contents, **kwargs)
        result = session.get(key)
        assert result is not None
        return key, result.payload.read()


def async_put(url: str, usecase: Usecase, contents: Any, **kwargs: Any) -> tuple[str, bytes]:
    import asyncio

    async def run() -> tuple[str, bytes]:
        async with AsyncClient(url) as client:
            session = client.session(usecase, org=1)
            key = await session.put(contents, **kwargs)
            result = await session.get(key)
            assert result is not None
            return key, await result.payload.read()

    return asyncio.run(run())


CLIENTS = pytest.mark.parametrize("put", [sync_put, async_put], ids=["sync", "async"])


@CLIENTS
@pytest.mark.parametrize("compress", ["zstd", "none"])
def test_large_puts_go_through_a_session(
    staged: tuple[ServerProcess, Path], put: Put, compress: str
) -> None:
    server, staging = staged
    usecase = Usecase("resumable", resumable_threshold_bytes=100_000)
    data = os.urandom(400_000)
    key, back = put(server.url, usecase, data, key="big", compress=compress)
    assert (key, back) == ("big", data)
    assert sessions_in(staging) == 1  # the upload went through a (committed) session
    key, back = put(server.url, usecase, io.BytesIO(data), compress=compress)
    assert back == data
    assert sessions_in(staging) == 2
    key, back = put(server.url, usecase, data[:99_999], key="small", compress=compress)
    assert back == data[:99_999]
    assert sessions_in(staging) == 2  # below the threshold: an ordinary put


@CLIENTS
def test_a_server_without_resumable_uploads_gets_an_ordinary_put(
    make_server: MakeServer, put: Put
) -> None:
    server = make_server({"resumable": {"enabled": False}})
    usecase = Usecase("resumable", resumable_threshold_bytes=0)
    data = os.urandom(50_000)
    assert put(server.url, usecase, io.BytesIO(data), key="k")[1] == data
    assert put(server.url, usecase, data, key="z", compress="zstd")[1] == data


@CLIENTS
def test_an_upload_cut_midway_resumes(blobhouse_server: ServerProcess, put: Put) -> None:
    data = os.urandom(2_500_000)
    proxy = CuttingProxy(blobhouse_server.port, marker=b"?session=", cut_after=800_000)
    try:
        usecase = Usecase("resumable", resumable_threshold_bytes=1_000)
        key, _ = put(proxy.url, usecase, data, key=f"cut-{put.__name__}", compress="none")
        assert proxy.cuts == 1
    finally:
        proxy.close()
    with Client(blobhouse_server.url) as client:
        result = client.session(Usecase("resumable"), org=1).get(key)
        assert result is not None and result.payload.read() == data


@CLIENTS
def test_a_refused_commit_cancels_and_raises(
    make_server: MakeServer, tmp_path: Path, put: Put
) -> None:
    staging = tmp_path / "staging"
    server = make_server(
        {
            "usecases": {"resumable": {"quota": {"max_bytes": 10_000}}},
            "resumable": {"staging_dir": str(staging)},
        }
    )
    usecase = Usecase("resumable", resumable_threshold_bytes=1_000)
    with pytest.raises(RequestError) as raised:
        put(server.url, usecase, os.urandom(20_000), key="over", compress="none")
    assert raised.value.status == 413
    assert sessions_in(staging) == 0


@pytest.mark.parametrize("threshold", [-1, True, 1.5, "all"])
def test_invalid_thresholds_are_rejected(threshold: object) -> None:
    with pytest.raises(ValueError, match="resumable_threshold_bytes"):
        Usecase("resumable", resumable_threshold_bytes=threshold)  # type: ignore[arg-type]


def test_threshold_none_disables_sessions(staged: tuple[ServerProcess, Path]) -> None:
    server, staging = staged
    usecase = Usecase("resumable", resumable_threshold_bytes="none")
    assert sync_put(server.url, usecase, os.urandom(10_000), key="k")[0] == "k"
    assert sessions_in(staging) == 0
