"""Who may do what: EdDSA tokens, pre-signed URLs and the key directory (spec §6, §7).

A request is authenticated once, before its path is looked at, into an :class:`Access`;
each handler then asks the access for the one permission it needs, after the request has
been validated (spec §3.3 ordering: a bad header is a 400 even without permission).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from blobhouse.core.ids import Scopes
from blobhouse.core.permissions import Grant, GrantError, Permission
from blobhouse.core.presign import (
    CLOCK_SKEW,
    MAX_PRESIGN_DURATION,
    PARAM_CONTENT_TYPE,
    PARAM_DURATION,
    PARAM_KID,
    PARAM_MAX_SIZE,
    PARAM_SIG,
    PARAM_TIMESTAMP,
    PresignError,
    canonical_form,
    decode_signature,
    parse_presign_timestamp,
)
from blobhouse.server.http import HttpError, Request

__all__ = ["Access", "Authenticator", "KeyDirectory", "KeyError_"]

log = logging.getLogger(__name__)

PARAM_AUTH = "os_auth"
_LEEWAY = 60


class KeyError_(Exception):
    """A configured key that cannot be loaded; the message names the file."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    versions: tuple[Ed25519PublicKey, ...]
    max_permissions: frozenset[Permission]


class KeyDirectory:
    """kid -> public key versions (rotation) and the permissions tokens may carry."""

    def __init__(self, keys: Mapping[str, SigningKey]) -> None:
        self.keys = dict(keys)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> KeyDirectory:
        keys: dict[str, SigningKey] = {}
        for kid, entry in config.items():
            versions = []
            for file in entry.key_files:
                try:
                    key = load_pem_public_key(Path(file).read_bytes())
                except (OSError, ValueError) as exc:
                    raise KeyError_(f"auth key {kid!r}: cannot load {file}: {exc}") from exc
                if not isinstance(key, Ed25519PublicKey):
                    raise KeyError_(f"auth key {kid!r}: {file} is not an Ed25519 public key")
                versions.append(key)
            keys[kid] = SigningKey(tuple(versions), frozenset(entry.max_permissions))
        return cls(keys)

    def get(self, kid: str) -> SigningKey | None:
        return self.keys.get(kid)


@dataclass(frozen=True, slots=True)
class Access:
    """The outcome of authentication for one request."""

    grant: Grant | None = None  # a token's grant
    presigned: frozenset[str] = frozenset()  # methods a verified signed URL allows
    unrestricted: bool = False  # auth inactive, or not enforced
    via_url: bool = False  # the credential came in the URL (browser or curl download)
    max_size: int | None = None  # signed PUT: largest body allowed
    content_type: str | None = None  # signed PUT: required content type
    failure: HttpError | None = field(default=None)  # not enforced: what would have failed

    def require(self, permission: Permission, usecase: str, scopes: Scopes, method: str) -> None:
        """Raise 403 unless this access allows ``permission`` on the path."""
        if self.unrestricted:
            return
        if self.presigned:
            if method in self.presigned:
                return
            raise HttpError(403, f"this signed URL does not allow {method}")
        if self.grant is not None and self.grant.allows(permission, usecase, scopes):
            return
        raise HttpError(
            403,
            f"the token does not grant {permission} on usecase '{usecase}' and scopes '{scopes}'",
        )


class Authenticator:
    def __init__(self, keys: KeyDirectory, *, enforce: bool) -> None:
        self.keys = keys
        self.enforce = enforce
        self.active = enforce or bool(keys.keys)

    def authenticate(self, request: Request) -> Access:
        if not self.active:
            return Access(unrestricted=True)
        try:
            return self._authenticate(request)
        except HttpError as exc:
            if self.enforce:
                raise
            log.warning("auth failure ignored (auth.enforce is false): %s", exc.detail)
            return Access(unrestricted=True, failure=exc)

    def _authenticate(self, request: Request) -> Access:
        # The signature covers the bytes as transmitted; surrogateescape keeps them intact
        # through str (latin-1 would re-encode a raw UTF-8 byte sequence differently).
        raw_query = request.scope.get("query_string", b"").decode("utf-8", "surrogateescape")
        if any(piece.split("=", 1)[0] == PARAM_SIG for piece in raw_query.split("&")):
            return self._presigned(request, raw_query)
        token, via_url = self._token(request)
        return Access(grant=self._verify_token(token), via_url=via_url)

    # --- tokens ---------------------------------------------------------------------

    @staticmethod
    def _token(request: Request) -> tuple[str, bool]:
        header = request.header("x-os-auth")
        if header is None:
            header = request.header("authorization")
        if header is not None and header[:7].lower() == "bearer ":
            return header[7:].strip(), False
        query_token = request.query_param(PARAM_AUTH)
        if query_token:
            return query_token, True
        raise HttpError(
            400, "no authorization token provided (x-os-auth, Authorization or ?os_auth=)"
        )

    def _verify_token(self, token: str) -> Grant:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise HttpError(401, f"token is not a valid JWT: {exc}") from exc
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise HttpError(400, "token header has no 'kid'")
        if header.get("alg") != "EdDSA":
            raise HttpError(
                401, f"token algorithm {header.get('alg')!r} is not accepted; use EdDSA"
            )
        key = self.keys.get(kid)
        if key is None:
            raise HttpError(401, f"unknown key id {kid!r}")
        claims: dict[str, Any] | None = None
        last_error: Exception | None = None
        for version in key.versions:
            try:
                claims = jwt.decode(
                    token,
                    version,
                    algorithms=["EdDSA"],
                    leeway=_LEEWAY,
                    # Only exp is checked here (aud and iss below), as upstream: PyJWT
                    # would also refuse an iat in the future or a non-string sub/jti,
                    # claims the spec leaves unchecked (§6.3).
                    options={
                        "require": ["exp"],
                        "verify_aud": False,
                        "verify_iss": False,
                        "verify_nbf": False,
                        "verify_iat": False,
                        "verify_sub": False,
                        "verify_jti": False,
                    },
                )
                break
            except jwt.InvalidSignatureError as exc:
                last_error = exc
            except jwt.PyJWTError as exc:
                raise HttpError(401, f"token rejected: {exc}") from exc
        if claims is None:
            raise HttpError(
                401, f"token signature does not verify with key {kid!r}"
            ) from last_error
        self._check_audience(claims)
        try:
            grant = Grant.from_claims(claims.get("res"), claims.get("permissions"))
        except GrantError as exc:
            raise HttpError(401, f"token claims rejected: {exc}") from exc
        return grant.limited_to(key.max_permissions)

    @staticmethod
    def _check_audience(claims: Mapping[str, Any]) -> None:
        aud = claims.get("aud")
        if aud is not None:
            audiences = aud if isinstance(aud, list) else [aud]
            if "objectstore" not in audiences:
                raise HttpError(401, "token audience does not include 'objectstore'")
        iss = claims.get("iss")
        if iss is not None and iss not in ("sentry", "relay"):
            raise HttpError(401, f"token issuer {iss!r} is not accepted")

    # --- signed URLs ----------------------------------------------------------------

    def _presigned(self, request: Request, raw_query: str) -> Access:
        method = request.method
        if method not in ("GET", "HEAD", "PUT"):
            raise HttpError(403, f"signed URLs cannot be used for {method}")
        # Names are read lowercased because the canonical form lowercases them: otherwise
        # renaming a signed ``os_max_size`` to ``OS_MAX_SIZE`` would keep the signature
        # valid while the limit went unread.
        params: dict[str, str] = {}
        for piece in raw_query.split("&"):
            name, _, value = piece.partition("=")
            params.setdefault(name.lower(), unquote(value.replace("+", " ")))
        try:
            kid = params[PARAM_KID]
            signed_at = parse_presign_timestamp(params[PARAM_TIMESTAMP])
            duration_text = params[PARAM_DURATION]
            signature = decode_signature(params[PARAM_SIG])
        except KeyError as exc:
            raise HttpError(400, f"signed URL lacks the {exc.args[0]} parameter") from None
        except PresignError as exc:
            raise HttpError(400, str(exc)) from exc
        seconds = _whole_number(duration_text)
        if seconds is None:
            raise HttpError(400, f"os_duration must be whole seconds, got {duration_text!r}")
        key = self.keys.get(kid)
        if key is None:
            raise HttpError(401, f"unknown key id {kid!r}")
        if seconds > MAX_PRESIGN_DURATION.total_seconds():
            raise HttpError(400, "signed URL validity exceeds the maximum of 7 days")
        now = datetime.now(UTC)
        # Compared as offsets from now: a timestamp at either end of the calendar must
        # be a 401, not an OverflowError.
        age = now - signed_at
        if not -CLOCK_SKEW <= age <= timedelta(seconds=seconds):
            raise HttpError(401, "signed URL is expired or not yet valid")
        raw_path = request.raw_path.decode("utf-8", "surrogateescape")
        message = canonical_form(method, raw_path, raw_query).encode("utf-8", "surrogateescape")
        if not any(_verifies(version, signature, message) for version in key.versions):
            raise HttpError(401, "signed URL signature does not verify")
        if method == "PUT":
            if Permission.OBJECT_WRITE not in key.max_permissions:
                raise HttpError(403, f"key {kid!r} may not sign uploads")
            max_size_text = params.get(PARAM_MAX_SIZE)
            max_size = None if max_size_text is None else _whole_number(max_size_text)
            if max_size_text is not None and max_size is None:
                raise HttpError(400, "os_max_size must be a whole number of bytes")
            return Access(
                presigned=frozenset({"PUT"}),
                via_url=True,
                max_size=max_size,
                content_type=params.get(PARAM_CONTENT_TYPE),
            )
        if Permission.OBJECT_READ not in key.max_permissions:
            raise HttpError(403, f"key {kid!r} may not sign downloads")
        return Access(presigned=frozenset({"GET", "HEAD"}), via_url=True)


def _whole_number(text: str) -> int | None:
    """A non-negative integer written in at most 20 ASCII digits, or None.

    ``str.isdigit`` alone admits ``²`` (which ``int`` then refuses: a 500) and
    Arabic-Indic digits (silently read as a number); and a huge duration overflowed
    ``timedelta`` (another 500).
    """
    if not text or len(text) > 20 or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def _verifies(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True
