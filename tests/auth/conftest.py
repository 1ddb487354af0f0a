"""Real Blobhouse server processes with token auth enforced, for the tests in this package.

Each pytest worker starts one server for the whole session (:func:`auth_server`) with
Ed25519 keys generated into a temporary directory:

* ``test_kid``: two public key files (rotation: versions ``v1`` and ``v2``), may read,
  write and delete;
* ``readonly_kid``: one public key, may only read.

A ``stranger`` key pair is generated too but configured nowhere. Tests that need their
own configuration start extra servers with :func:`start_server`; :func:`run_serve`
runs ``blobhouse serve`` for configurations that must fail to start.

Every server runs as ``python -m blobhouse serve`` on 127.0.0.1 and a free port, in its
own working directory, and writes its PID to ``<data dir>/server.pid``. It is stopped
by that PID (SIGTERM, then SIGKILL for its own process group).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
SERVE_TIMEOUT = 60.0
ALL_PERMISSIONS = ["object.read", "object.write", "object.delete"]


@dataclass(frozen=True)
class KeyPair:
    """An Ed25519 key pair with both halves written as PEM files."""

    private_key: Ed25519PrivateKey
    private_file: Path
    public_file: Path

    @property
    def private_pem(self) -> str:
        return self.private_file.read_text()

    @property
    def public_pem(self) -> bytes:
        return self.public_file.read_bytes()

    @classmethod
    def generate(cls, directory: Path, name: str) -> KeyPair:
        key = Ed25519PrivateKey.generate()
        private_file = directory / f"{name}.private.pem"
        public_file = directory / f"{name}.public.pem"
        private_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        public_file.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return cls(key, private_file, public_file)


@dataclass(frozen=True)
class Keys:
    test_v1: KeyPair  # test_kid, first key file
    test_v2: KeyPair  # test_kid, second key file (rotation)
    readonly: KeyPair  # readonly_kid: object.read only
    stranger: KeyPair  # configured nowhere


@dataclass
class ServerProcess:
    """One running ``blobhouse serve``; :meth:`stop` ends it by its own PID."""

    process: subprocess.Popen[bytes]
    url: str
    workdir: Path
    data_dir: Path
    log_file: Path
    pid_file: Path
    stopped: bool = field(default=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                # The server runs in a process group of its own (start_new_session), whose
                # id is its PID, and it is still alive, so the group is certainly ours:
                # this ends it and any worker it spawned, nothing else.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT)
        self.pid_file.unlink(missing_ok=True)


@dataclass(frozen=True)
class AuthServer:
    """The session's server: its URL and the keys it trusts."""

    url: str
    keys: Keys
    process: ServerProcess

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _clean_env() -> dict[str, str]:
    """The test environment minus anything that would reconfigure the server."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OS__", "BLOBHOUSE__")) and name != "BLOBHOUSE_CONFIG_FILE"
    }


def write_config(workdir: Path, auth: Mapping[str, Any]) -> tuple[Path, Path]:
    """A YAML config with ``auth`` and tiered storage under ``workdir/data``."""
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "auth": dict(auth),
        "storage": {"type": "tiered", "path": str(data_dir)},
        "logging": {"level": "WARN"},
    }
    config_file = workdir / "blobhouse.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    return config_file, data_dir


def _serve_command(config_file: Path, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "blobhouse",
        "serve",
        "--config",
        str(config_file),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def launch_server(workdir: Path, auth: Mapping[str, Any]) -> ServerProcess:
    """Start a server with ``auth`` settings and wait until ``/health`` answers."""
    config_file, data_dir = write_config(workdir, auth)
    last_log = ""
    for _attempt in range(3):  # another process may grab the free port first
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log_file = workdir / f"server-{port}.log"
        with log_file.open("wb") as log:
            process = subprocess.Popen(
                _serve_command(config_file, port),
                cwd=workdir,
                env=_clean_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        pid_file = data_dir / "server.pid"
        pid_file.write_text(f"{process.pid}\n")
        server = ServerProcess(process, url, workdir, data_dir, log_file, pid_file)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            if _healthy(url):
                return server
            time.sleep(0.1)
        last_log = server.log()
        server.stop()
        if "address already in use" not in last_log.lower():
            break
    raise RuntimeError(f"blobhouse serve did not become healthy; its output:\n{last_log}")


@pytest.fixture(scope="session")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    workdir = tmp_path_factory.mktemp("auth-server")
    key_dir = workdir / "keys"
    key_dir.mkdir()
    keys = Keys(
        test_v1=KeyPair.generate(key_dir, "test_kid.v1"),
        test_v2=KeyPair.generate(key_dir, "test_kid.v2"),
        readonly=KeyPair.generate(key_dir, "readonly_kid"),
        stranger=KeyPair.generate(key_dir, "stranger"),
    )
    auth = {
        "enforce": True,
        "keys": {
            "test_kid": {
                "key_files": [str(keys.test_v1.public_file), str(keys.test_v2.public_file)],
                "max_permissions": ALL_PERMISSIONS,
            },
            "readonly_kid": {
                "key_files": [str(keys.readonly.public_file)],
                "max_permissions": ["object.read"],
            },
        },
    }
    server = launch_server(workdir, auth)
    try:
        yield AuthServer(server.url, keys, server)
    finally:
        server.stop()


StartServer = Callable[[Mapping[str, Any]], ServerProcess]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """Start extra servers with a given ``auth`` section; all stopped after the test."""
    started: list[ServerProcess] = []

    def start(auth: Mapping[str, Any]) -> ServerProcess:
        workdir = tmp_path / f"server-{len(started)}"
        workdir.mkdir()
        server = launch_server(workdir, auth)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


RunServe = Callable[[Mapping[str, Any]], subprocess.CompletedProcess[str]]


@pytest.fixture
def run_serve(tmp_path: Path) -> RunServe:
    """Run ``blobhouse serve`` to completion (for configurations it must refuse)."""

    def run(auth: Mapping[str, Any]) -> subprocess.CompletedProcess[str]:
        config_file, _ = write_config(tmp_path, auth)
        port = _free_port()
        try:
            return subprocess.run(
                _serve_command(config_file, port),
                cwd=tmp_path,
                env=_clean_env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=SERVE_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            # It started after all: subprocess.run has already killed it.
            raise AssertionError(f"blobhouse serve started with auth {auth!r}") from exc

    return run
