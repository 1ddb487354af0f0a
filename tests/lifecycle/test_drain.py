"""Draining: `blobhouse down` turns /ready to 503 (so load balancers stop sending) while
requests in flight and new ones are still served; `blobhouse up` makes it ready again."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import MakeServer
from tests.servers import ServerProcess, clean_env


def status_of(url: str) -> tuple[int, bytes, str | None]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read(), response.headers.get("content-type")
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read(), exc.headers.get("content-type")


def cli(server: ServerProcess, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "blobhouse", command, "--config", str(server.config_file)],
        cwd=server.workdir,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_down_marks_the_server_not_ready_but_it_keeps_serving(
    make_server: MakeServer, tmp_path: Path
) -> None:
    drain_file = tmp_path / "draining"
    server = make_server({"drain_file": str(drain_file)})
    assert status_of(f"{server.url}/ready")[0] == 200

    cli(server, "down")
    assert drain_file.exists()
    status, body, _ = status_of(f"{server.url}/ready")
    assert (status, body) == (503, b"Shutting down")  # as upstream probes expect (spec §14.1)
    assert status_of(f"{server.url}/health")[0] == 200  # alive, just not taking new traffic
    put = urllib.request.Request(
        f"{server.url}/v1/objects/drain/_/still-served", data=b"x", method="PUT"
    )
    with urllib.request.urlopen(put, timeout=10) as response:
        assert response.status == 200

    cli(server, "up")
    assert not drain_file.exists()
    assert status_of(f"{server.url}/ready")[0] == 200
