"""Hand-made tokens, hand-signed URLs and plain HTTP for the auth tests.

Requests go through ``urllib.request`` (or ``http.client`` where the exact headers
matter), never through a Blobhouse client, so what is tested is the server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from blobhouse.core.presign import canonical_form, encode_signature, format_presign_timestamp
from blobhouse.core.urls import encode_path

ALL = ["object.read", "object.write", "object.delete"]
USECASE = "testing"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Message
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | Iterable[bytes] | None = None,
    timeout: float = 10,
) -> Answer:
    """One plain urllib request; the URL is sent exactly as given."""
    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return Answer(exc.code, exc.headers, exc.read())


def raw_get(url: str, headers: Mapping[str, str] | None = None) -> Answer:
    """A GET with exactly ``headers`` (http.client adds no Accept-Encoding here)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.putrequest("GET", target, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def raw_status(url: str, target: bytes) -> int:
    """Send ``GET <target>`` byte for byte (http.client would refuse non-ASCII)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while len(data) < 1 << 20 and (chunk := sock.recv(65536)):
            data += chunk
    return int(data.split(b" ", 2)[1])


def object_path(key: str, scopes: str = "_", usecase: str = USECASE) -> str:
    return encode_path(f"/v1/objects/{usecase}/{scopes}/{key}")


def bearer(token: str) -> dict[str, str]:
    return {"x-os-auth": f"Bearer {token}"}


def claims(
    scopes: Mapping[str, str] | None = None,
    permissions: Sequence[str] = ALL,
    *,
    usecase: str = USECASE,
    expires_in: float = 300,
) -> dict[str, Any]:
    return {
        "res": {"os:usecase": usecase, **(scopes or {})},
        "permissions": list(permissions),
        "exp": int(time.time() + expires_in),
    }


def token(
    key: Ed25519PrivateKey,
    scopes: Mapping[str, str] | None = None,
    permissions: Sequence[str] = ALL,
    *,
    kid: str | None = "test_kid",
    usecase: str = USECASE,
    expires_in: float = 300,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """An EdDSA JWT built with PyJWT directly (no Blobhouse code)."""
    payload = claims(scopes, permissions, usecase=usecase, expires_in=expires_in)
    payload.update(extra or {})
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(payload, key, algorithm="EdDSA", headers=headers)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unsigned_token(header: Mapping[str, Any], payload: Mapping[str, Any], secret: bytes) -> str:
    """A JWT assembled by hand; HS256-signed with ``secret`` unless ``alg`` is ``none``."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    if header.get("alg") == "none":
        return f"{signing_input}."
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def flip_middle(text: str) -> str:
    """Change one character in the middle (never only padding bits) of base64url text."""
    middle = len(text) // 2
    replacement = "A" if text[middle] != "A" else "B"
    return text[:middle] + replacement + text[middle + 1 :]


def signed_url(
    base_url: str,
    key: Ed25519PrivateKey,
    path: str,
    *,
    kid: str = "test_kid",
    method: str = "GET",
    signed_at: datetime | None = None,
    duration: timedelta = timedelta(hours=1),
    extra: Sequence[tuple[str, str]] = (),
) -> str:
    """A pre-signed URL signed by hand over the canonical form (spec §7.2)."""
    moment = signed_at or datetime.now(UTC)
    query = "&".join(
        [
            f"os_kid={kid}",
            f"os_timestamp={format_presign_timestamp(moment)}",
            f"os_duration={int(duration.total_seconds())}",
            *(f"{name}={value}" for name, value in extra),
        ]
    )
    signature = encode_signature(key.sign(canonical_form(method, path, query).encode()))
    return f"{base_url}{path}?{query}&os_sig={signature}"


def raw_signed_url(base_url: str, key: Ed25519PrivateKey, path: str, query: str) -> str:
    """Sign an arbitrary GET query as given (for malformed-parameter cases)."""
    signature = encode_signature(key.sign(canonical_form("GET", path, query).encode()))
    return f"{base_url}{path}?{query}&os_sig={signature}"
