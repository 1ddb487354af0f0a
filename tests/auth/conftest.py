"""Real Blobhouse server processes with token auth enforced, for the tests in this package.

Each pytest worker starts one server for the whole session (:func:`auth_server`) with
Ed25519 keys generated into a temporary directory:

* ``test_kid``: two public key files (rotation: versions ``v1`` and ``v2``), may read,
  write and delete;
* ``readonly_kid``: one public key, may only read.

A ``stranger`` key pair is generated too but configured nowhere. Tests that need their
own configuration start extra servers with :func:`start_server`; :func:`run_serve`
runs ``blobhouse serve`` for configurations that must fail to start.

Servers are started and stopped by :mod:`tests.servers`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests import servers
from tests.servers import ServerProcess

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


@dataclass(frozen=True)
class AuthServer:
    """The session's server: its URL and the keys it trusts."""

    url: str
    keys: Keys
    process: ServerProcess

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


def launch_server(workdir: Path, auth: Mapping[str, Any]) -> ServerProcess:
    """Start a server with these ``auth`` settings (tiered storage under ``workdir``)."""
    return servers.launch_server(workdir, {"auth": dict(auth)})


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
        return servers.run_serve(tmp_path, {"auth": dict(auth)})

    return run
