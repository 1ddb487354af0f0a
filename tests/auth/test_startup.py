"""``blobhouse serve`` refuses auth configurations it cannot serve safely (spec §6.1, §6.4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key

from tests.auth.conftest import ALL_PERMISSIONS, KeyPair, RunServe

pytestmark = pytest.mark.server


def test_enforce_without_keys_refuses_to_start(run_serve: RunServe) -> None:
    result = run_serve({"enforce": True, "keys": {}})
    assert result.returncode != 0
    assert "auth.enforce" in result.stderr


def test_default_auth_without_keys_refuses_to_start(run_serve: RunServe) -> None:
    # enforce defaults to true (spec §6.1).
    result = run_serve({})
    assert result.returncode != 0
    assert "auth.enforce" in result.stderr


def test_private_key_as_key_file_refuses_to_start(run_serve: RunServe, tmp_path: Path) -> None:
    pair = KeyPair.generate(tmp_path, "oops")
    auth = {
        "enforce": True,
        "keys": {
            "oops": {"key_files": [str(pair.private_file)], "max_permissions": ["object.read"]}
        },
    }
    result = run_serve(auth)
    assert result.returncode != 0
    assert "oops" in result.stderr
    assert str(pair.private_file) in result.stderr


def test_garbage_key_file_refuses_to_start(run_serve: RunServe, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("this is not a key\n")
    result = run_serve(
        {"enforce": True, "keys": {"junk": {"key_files": [str(garbage)]}}},
    )
    assert result.returncode != 0
    assert str(garbage) in result.stderr


def test_rsa_public_key_refuses_to_start(run_serve: RunServe, tmp_path: Path) -> None:
    rsa_public = tmp_path / "rsa.public.pem"
    rsa_public.write_bytes(
        generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    result = run_serve(
        {"enforce": True, "keys": {"rsa": {"key_files": [str(rsa_public)], "max_permissions": []}}}
    )
    assert result.returncode != 0
    assert "Ed25519" in result.stderr


def test_missing_key_file_refuses_to_start(run_serve: RunServe, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pem"
    result = run_serve(
        {
            "enforce": True,
            "keys": {"gone": {"key_files": [str(missing)], "max_permissions": ALL_PERMISSIONS}},
        }
    )
    assert result.returncode != 0
    assert str(missing) in result.stderr


def test_unknown_max_permission_refuses_to_start(run_serve: RunServe, tmp_path: Path) -> None:
    pair = KeyPair.generate(tmp_path, "typo")
    result = run_serve(
        {
            "enforce": True,
            "keys": {"typo": {"key_files": [str(pair.public_file)], "max_permissions": ["read"]}},
        }
    )
    assert result.returncode != 0
    assert "max_permissions" in result.stderr
