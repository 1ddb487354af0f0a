"""Fixtures shared by every test package: real Blobhouse servers on loopback.

``blobhouse_server`` is one server per pytest worker for tests that only need the
default open (auth off) tiered setup and use their own keys or scopes, so they never
see each other's objects. ``make_server`` starts servers with a configuration of the
test's own (limits, quotas, expiration rules, a restart after a crash); each is
stopped by its PID when the test ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.servers import ServerProcess, launch_server

MakeServer = Callable[[Mapping[str, Any]], ServerProcess]


@pytest.fixture(scope="session")
def blobhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = launch_server(tmp_path_factory.mktemp("blobhouse-server"), {})
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[MakeServer]:
    """Start servers with a config dict (YAML layout); all are stopped after the test."""
    started: list[ServerProcess] = []

    def make(config: Mapping[str, Any]) -> ServerProcess:
        workdir = tmp_path / f"server-{len(started)}"
        workdir.mkdir()
        server = launch_server(workdir, config)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
