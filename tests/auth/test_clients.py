"""Both clients' token features and the ``blobhouse`` CLI against a real server with auth
enforced (spec §15.1, §17.8)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import jwt
import objectstore_client
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key

import blobhouse
from tests.auth.conftest import AuthServer, StartServer
from tests.auth.support import USECASE, bearer, request

pytestmark = pytest.mark.server

CLI_TIMEOUT = 60


def new_key() -> str:
    return f"obj-{uuid.uuid4().hex}"


def cli(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "blobhouse", *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        cwd=cwd,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def cli_token(key_file: Path, kid: str, *args: str) -> str:
    return cli("token", "--key", str(key_file), "--kid", kid, "--usecase", USECASE, *args).strip()


# --- the official client 0.2.10 ---------------------------------------------------------------


def official_session(
    url: str, token: objectstore_client.TokenProvider | None, **scopes: str | int
) -> objectstore_client.Session:
    client = objectstore_client.Client(url, token=token, timeout_ms=10_000)
    return client.session(objectstore_client.Usecase(USECASE), **scopes)


def test_official_client_with_secret_key_puts_gets_and_deletes(auth_server: AuthServer) -> None:
    secret = objectstore_client.SecretKey("test_kid", auth_server.keys.test_v1.private_pem)
    session = official_session(auth_server.url, secret, org=42, project=1337)
    key = session.put(b"official and signed", key=new_key())
    response = session.get(key)
    assert response is not None
    assert response.payload.read() == b"official and signed"
    metadata = session.head(key)
    assert metadata is not None
    session.delete(key)
    assert session.get(key) is None


def test_official_client_with_second_key_version(auth_server: AuthServer) -> None:
    secret = objectstore_client.SecretKey("test_kid", auth_server.keys.test_v2.private_pem)
    session = official_session(auth_server.url, secret, org=1)
    key = session.put(b"v2")  # server-generated key (POST)
    response = session.get(key)
    assert response is not None
    assert response.payload.read() == b"v2"


def test_official_client_with_a_cli_minted_static_token(auth_server: AuthServer) -> None:
    static = cli_token(
        auth_server.keys.test_v1.private_file,
        "test_kid",
        "--scope",
        "org=42",
        "--permissions",
        "read,write,delete",
        "--ttl",
        "10m",
    )
    assert static.count(".") == 2
    session = official_session(auth_server.url, static, org=42)
    key = session.put(b"static token", key=new_key())
    response = session.get(key)
    assert response is not None
    assert response.payload.read() == b"static token"
    session.delete(key)
    assert session.get(key) is None
    other_org = official_session(auth_server.url, static, org=43)
    with pytest.raises(objectstore_client.RequestError) as info:
        other_org.put(b"x", key=new_key())
    assert info.value.status == 403


def test_official_secret_key_without_permissions_is_403(auth_server: AuthServer) -> None:
    secret = objectstore_client.SecretKey(
        "test_kid", auth_server.keys.test_v1.private_pem, permissions=[]
    )
    session = official_session(auth_server.url, secret, org=42)
    with pytest.raises(objectstore_client.RequestError) as info:
        session.put(b"x", key=new_key())
    assert info.value.status == 403


def test_official_object_url_with_token_validity_works_with_plain_get(
    auth_server: AuthServer,
) -> None:
    secret = objectstore_client.SecretKey("test_kid", auth_server.keys.test_v1.private_pem)
    session = official_session(auth_server.url, secret, org=42)
    key = session.put(b"shared via url", key=new_key())
    url = session.object_url(key, token_validity=timedelta(minutes=5))
    params = parse_qsl(urlsplit(url).query)
    assert [name for name, _ in params] == ["os_auth"]
    assert params[0][1].count(".") == 2
    answer = request("GET", url)
    assert (answer.status, answer.body) == (200, b"shared via url")


def test_official_object_url_without_token_is_400(auth_server: AuthServer) -> None:
    secret = objectstore_client.SecretKey("test_kid", auth_server.keys.test_v1.private_pem)
    session = official_session(auth_server.url, secret, org=42)
    key = session.put(b"needs a token", key=new_key())
    assert request("GET", session.object_url(key)).status == 400


def test_official_client_reads_what_ours_wrote(auth_server: AuthServer) -> None:
    ours = blobhouse.Client(
        auth_server.url, token=blobhouse.SecretKey("test_kid", auth_server.keys.test_v1.private_pem)
    ).session(blobhouse.Usecase(USECASE), org=7)
    key = ours.put(b"interop", key=new_key())
    secret = objectstore_client.SecretKey("test_kid", auth_server.keys.test_v2.private_pem)
    response = official_session(auth_server.url, secret, org=7).get(key)
    assert response is not None
    assert response.payload.read() == b"interop"


# --- our client --------------------------------------------------------------------------------


def our_session(
    url: str, token: blobhouse.TokenProvider | None, **scopes: str | int
) -> blobhouse.Session:
    client = blobhouse.Client(url, token=token, timeout_ms=10_000)
    return client.session(blobhouse.Usecase(USECASE), **scopes)


def test_our_client_with_secret_key_puts_gets_heads_and_deletes(auth_server: AuthServer) -> None:
    secret = blobhouse.SecretKey("test_kid", auth_server.keys.test_v1.private_pem)
    session = our_session(auth_server.url, secret, org=42, project=1337)
    key = session.put(b"ours and signed", key=new_key(), content_type="text/plain")
    response = session.get(key)
    assert response is not None
    assert response.payload.read() == b"ours and signed"
    metadata = session.head(key)
    assert metadata is not None
    assert metadata.content_type == "text/plain"
    session.delete(key)
    assert session.get(key) is None
    generated = session.put(b"server key")
    assert session.get(generated) is not None


def test_our_client_mints_a_fresh_scoped_token_per_request(auth_server: AuthServer) -> None:
    secret = blobhouse.SecretKey("test_kid", auth_server.keys.test_v1.private_pem)
    session = our_session(auth_server.url, secret, org=42, project=7)
    token = session.mint_token()
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "EdDSA", "kid": "test_kid", "typ": "JWT"}
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["res"] == {"os:usecase": USECASE, "org": "42", "project": "7"}
    assert claims["permissions"] == ["object.read", "object.write", "object.delete"]
    assert abs(claims["exp"] - (time.time() + 60)) <= 2
    assert set(claims) == {"res", "permissions", "exp"}
    # The session token is what a request sends: it works on the server.
    key = session.put(b"minted", key=new_key())
    answer = request("GET", session.object_url(key), headers=bearer(token))
    assert answer.status == 200


def test_our_minted_token_honours_permissions_and_expiry(auth_server: AuthServer) -> None:
    secret = blobhouse.SecretKey("test_kid", auth_server.keys.test_v1.private_pem)
    session = our_session(auth_server.url, secret, org=42)
    key = session.put(b"minted read", key=new_key())
    reader = session.mint_token([blobhouse.Permission.OBJECT_READ], expiry_seconds=600)
    claims = jwt.decode(reader, options={"verify_signature": False})
    assert claims["permissions"] == ["object.read"]
    assert abs(claims["exp"] - (time.time() + 600)) <= 2
    url = session.object_url(key)
    assert request("GET", url, headers=bearer(reader)).status == 200
    assert request("DELETE", url, headers=bearer(reader)).status == 403
    expired = session.mint_token(expiry_seconds=-120)
    assert request("GET", url, headers=bearer(expired)).status == 401


def test_our_secret_key_refuses_escalation(auth_server: AuthServer) -> None:
    secret = blobhouse.SecretKey(
        "test_kid",
        auth_server.keys.test_v1.private_pem,
        permissions=[blobhouse.Permission.OBJECT_READ],
    )
    with pytest.raises(ValueError, match="not granted"):
        secret.token_for_scope(USECASE, {"org": "1"}, [blobhouse.Permission.OBJECT_WRITE])
    with pytest.raises(ValueError, match="unknown permission"):
        secret.token_for_scope(USECASE, {}, ["object.admin"])  # type: ignore[list-item]
    session = our_session(auth_server.url, secret, org=1)
    with pytest.raises(ValueError, match="not granted"):
        session.mint_token([blobhouse.Permission.OBJECT_DELETE])


def test_our_secret_key_without_permissions_is_403(auth_server: AuthServer) -> None:
    secret = blobhouse.SecretKey("test_kid", auth_server.keys.test_v1.private_pem, permissions=[])
    session = our_session(auth_server.url, secret, org=42)
    with pytest.raises(blobhouse.RequestError) as info:
        session.put(b"x", key=new_key())
    assert info.value.status == 403


def test_our_readonly_secret_key_reads_but_cannot_write(auth_server: AuthServer) -> None:
    writer = our_session(
        auth_server.url, blobhouse.SecretKey("test_kid", auth_server.keys.test_v1.private_pem)
    )
    key = writer.put(b"for the reader", key=new_key())
    reader = our_session(
        auth_server.url,
        blobhouse.SecretKey("readonly_kid", auth_server.keys.readonly.private_pem),
    )
    response = reader.get(key)
    assert response is not None
    assert response.payload.read() == b"for the reader"
    with pytest.raises(blobhouse.RequestError) as info:
        reader.put(b"nope", key=key)
    assert info.value.status == 403


def test_our_token_generator_alias_and_sign_for_scope(auth_server: AuthServer) -> None:
    assert blobhouse.TokenGenerator is blobhouse.SecretKey
    generator = blobhouse.TokenGenerator("test_kid", auth_server.keys.test_v1.private_pem)
    token = generator.sign_for_scope(USECASE, {"org": 5})
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["res"] == {"os:usecase": USECASE, "org": "5"}
    writer = our_session(auth_server.url, generator, org=5)
    key = writer.put(b"alias", key=new_key())
    assert request("GET", writer.object_url(key), headers=bearer(token)).status == 200


def test_our_object_url_with_token_validity_works_with_plain_get(auth_server: AuthServer) -> None:
    secret = blobhouse.SecretKey("test_kid", auth_server.keys.test_v1.private_pem)
    session = our_session(auth_server.url, secret, org=42)
    key = session.put(b"our url", key=new_key())
    url = session.object_url(key, token_validity=timedelta(seconds=299.5))
    params = parse_qsl(urlsplit(url).query)
    assert [name for name, _ in params] == ["os_auth"]
    claims = jwt.decode(params[0][1], options={"verify_signature": False})
    assert claims["permissions"] == ["object.read"]
    assert abs(claims["exp"] - (time.time() + 300)) <= 2
    answer = request("GET", url)
    assert (answer.status, answer.body) == (200, b"our url")
    assert request("DELETE", url).status == 403


def test_our_object_url_without_token_is_400(auth_server: AuthServer) -> None:
    secret = blobhouse.SecretKey("test_kid", auth_server.keys.test_v1.private_pem)
    session = our_session(auth_server.url, secret, org=42)
    key = session.put(b"x", key=new_key())
    assert request("GET", session.object_url(key)).status == 400


def test_token_features_need_a_secret_key(auth_server: AuthServer) -> None:
    for token in ("a.b.c", None):
        session = our_session(auth_server.url, token)
        with pytest.raises(ValueError, match="no secret key"):
            session.mint_token()
        with pytest.raises(ValueError, match="needs a signing key"):
            session.object_url("k", token_validity=timedelta(minutes=5))


def test_our_client_with_a_cli_minted_static_token(auth_server: AuthServer) -> None:
    static = cli_token(
        auth_server.keys.test_v1.private_file,
        "test_kid",
        "--scope",
        "org=*",
        "--permissions",
        "read,write",
    )
    session = our_session(auth_server.url, static, org=99)
    key = session.put(b"cli token", key=new_key())
    response = session.get(key)
    assert response is not None
    assert response.payload.read() == b"cli token"
    with pytest.raises(blobhouse.RequestError) as info:
        session.delete(key)
    assert info.value.status == 403


def test_signature_for_canonical_form_needs_ed25519() -> None:
    rsa_pem = (
        generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    secret = blobhouse.SecretKey("rsa", rsa_pem)  # accepted until used, as upstream
    with pytest.raises(ValueError, match="Ed25519"):
        secret.signature_for_canonical_form("GET\n/v1/objects/testing/_/k\n")
    with pytest.raises(ValueError, match="Ed25519"):
        secret.token_for_scope(USECASE, {})
    with pytest.raises(ValueError, match="PEM"):
        blobhouse.SecretKey("junk", "not a pem").token_for_scope(USECASE, {})


def test_signature_matches_the_official_client() -> None:
    pem = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    canonical = "GET\n/v1/objects/testing/org=17;project=42/foo/bar\nos_duration=3600&os_kid=k"
    ours = blobhouse.SecretKey("k", pem).signature_for_canonical_form(canonical)
    theirs = objectstore_client.SecretKey("k", pem).signature_for_canonical_form(canonical)
    assert ours == theirs  # Ed25519 is deterministic
    assert "=" not in ours


def test_secret_key_repr_hides_the_key() -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n"
    text = repr(blobhouse.SecretKey("kid-1", pem))
    assert "kid-1" in text
    assert "secret" not in text.replace("SecretKey", "")


# --- the CLI: keys generate + token -----------------------------------------------------------


def test_cli_generated_keys_and_tokens_are_accepted(
    tmp_path: Path, start_server: StartServer
) -> None:
    key_dir = tmp_path / "cli-keys"
    output = cli("keys", "generate", "--kid", "cli_kid", "--out", str(key_dir))
    private_file = key_dir / "cli_kid.private.pem"
    public_file = key_dir / "cli_kid.public.pem"
    assert str(public_file) in output
    assert private_file.stat().st_mode & 0o777 == 0o600
    server = start_server(
        {
            "enforce": True,
            "keys": {
                "cli_kid": {
                    "key_files": [str(public_file)],
                    "max_permissions": ["object.read", "object.write"],
                }
            },
        }
    )
    writer = cli_token(private_file, "cli_kid", "--scope", "org=5", "--permissions", "write,read")
    url = f"{server.url}/v1/objects/{USECASE}/org=5/{new_key()}"
    headers = {**bearer(writer), "content-type": "text/plain"}
    assert request("PUT", url, headers=headers, body=b"cli").status == 200
    answer = request("GET", url, headers=bearer(writer))
    assert (answer.status, answer.body) == (200, b"cli")
    # The CLI token claims delete, but cli_kid's max_permissions do not include it.
    greedy = cli_token(private_file, "cli_kid", "--scope", "org=5", "--permissions", "delete")
    assert request("DELETE", url, headers=bearer(greedy)).status == 403
    # Our client and the official one both sign with the CLI's private key.
    pem = private_file.read_text()
    ours = our_session(server.url, blobhouse.SecretKey("cli_kid", pem), org=5)
    assert ours.put(b"ours via cli key", key="k1") == "k1"
    official = official_session(server.url, objectstore_client.SecretKey("cli_kid", pem), org=5)
    response = official.get("k1")
    assert response is not None
    assert response.payload.read() == b"ours via cli key"
    assert request("GET", ours.presigned_object_url("GET", "k1")).status == 200


def test_cli_token_is_refused_by_a_server_that_does_not_know_the_key(
    tmp_path: Path, auth_server: AuthServer
) -> None:
    cli("keys", "generate", "--kid", "unknown_kid", "--out", str(tmp_path))
    stranger = cli_token(tmp_path / "unknown_kid.private.pem", "unknown_kid")
    url = f"{auth_server.url}/v1/objects/{USECASE}/_/{new_key()}"
    assert request("GET", url, headers=bearer(stranger)).status == 401
    impostor = cli_token(tmp_path / "unknown_kid.private.pem", "test_kid")
    assert request("GET", url, headers=bearer(impostor)).status == 401
