"""Credentials a client presents: a pre-minted token, or a signing key that mints its own.

A :class:`SecretKey` holds an Ed25519 private key and the key id the server knows its
public half by. It mints one short-lived EdDSA JWT per request, scoped to the session's
usecase and scopes, and signs pre-signed URLs. Claim names and the canonical form come
from :mod:`blobhouse.core`, the code the server verifies with.

PyJWT and cryptography are imported only when a key is first used, so ``import
blobhouse`` stays light for applications that only send static tokens.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from blobhouse.core.ids import Scopes
from blobhouse.core.permissions import Permission, claims_for
from blobhouse.core.presign import encode_signature

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = [
    "AUTH_HEADER",
    "PARAM_AUTH",
    "SecretKey",
    "TokenGenerator",
    "TokenProvider",
    "auth_header_value",
    "check_token",
]

AUTH_HEADER = "x-os-auth"
PARAM_AUTH = "os_auth"


def _permissions(values: Iterable[Permission | str]) -> list[Permission]:
    """Permissions from enum members or their strings; ValueError for anything else."""
    if isinstance(values, str):
        raise TypeError("permissions must be a list of Permission, not a single string")
    out: list[Permission] = []
    for value in values:
        try:
            permission = Permission(value)
        except ValueError:
            known = ", ".join(str(p) for p in Permission)
            raise ValueError(f"unknown permission {value!r}; use one of {known}") from None
        if permission not in out:
            out.append(permission)
    return out


class SecretKey:
    """An Ed25519 private key that mints tokens and signs URLs, as ``objectstore_client``'s.

    Args:
        kid: the key id under which the server lists the public key (``auth.keys``).
        secret_key: the private key, PEM text (``blobhouse keys generate`` writes one).
        expiry_seconds: lifetime of minted tokens unless a call asks for another.
        permissions: what minted tokens carry by default, and the most any single call
            may ask for; None means all of them. The server further cuts this down to
            the key's ``max_permissions``.

    The PEM is parsed on first use; a key that is not Ed25519 raises ValueError then.
    """

    def __init__(
        self,
        kid: str,
        secret_key: str,
        expiry_seconds: int = 60,
        permissions: list[Permission] | None = None,
    ) -> None:
        if not isinstance(kid, str) or not kid:
            raise ValueError("kid must be a non-empty string")
        if not isinstance(secret_key, str):
            raise TypeError(
                f"secret_key must be the PEM text (str), got {type(secret_key).__name__}"
            )
        self.kid = kid
        self.secret_key = secret_key
        self.expiry_seconds = expiry_seconds
        self.permissions: list[Permission] = (
            Permission.max() if permissions is None else _permissions(permissions)
        )
        self._loaded: Ed25519PrivateKey | None = None

    def __repr__(self) -> str:
        # Never the key material: reprs end up in logs and tracebacks.
        granted = [str(p) for p in self.permissions]
        return (
            f"SecretKey(kid={self.kid!r}, expiry_seconds={self.expiry_seconds}, "
            f"permissions={granted})"
        )

    def _private_key(self) -> Ed25519PrivateKey:
        if self._loaded is None:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
            from cryptography.hazmat.primitives.serialization import load_pem_private_key

            try:
                key = load_pem_private_key(self.secret_key.encode(), password=None)
            except (ValueError, TypeError) as exc:
                raise ValueError(
                    f"SecretKey {self.kid!r}: secret_key is not an unencrypted PEM private "
                    f"key: {exc}"
                ) from exc
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(
                    f"SecretKey {self.kid!r}: tokens and pre-signed URLs need an Ed25519 "
                    f"private key, got {type(key).__name__}"
                )
            self._loaded = key
        return self._loaded

    def token_for_scope(
        self,
        usecase: str,
        scope: Scopes | Mapping[str, object],
        permissions: list[Permission] | None = None,
        expiry_seconds: int | None = None,
    ) -> str:
        """An EdDSA JWT for ``usecase`` and ``scope`` (a scope value ``"*"`` matches any).

        ``permissions`` and ``expiry_seconds`` override the key's defaults for this token
        only. Raises ValueError if ``permissions`` asks for more than the key grants.
        """
        import jwt

        if permissions is None:
            granted = self.permissions
        else:
            granted = _permissions(permissions)
            escalated = set(granted) - set(self.permissions)
            if escalated:
                raise ValueError(
                    "requested permissions not granted to this secret key: "
                    f"{sorted(str(p) for p in escalated)}"
                )
        expiry = self.expiry_seconds if expiry_seconds is None else expiry_seconds
        claims = claims_for(usecase, scope, granted)
        claims["exp"] = int(time.time() + expiry)
        return jwt.encode(claims, self._private_key(), algorithm="EdDSA", headers={"kid": self.kid})

    # The official client's older name for the same method.
    sign_for_scope = token_for_scope

    def signature_for_canonical_form(self, canonical_form: str) -> str:
        """Sign a pre-signed URL's canonical form: the ``os_sig`` value (base64url, no
        padding). Raises ValueError if the key is not Ed25519."""
        return encode_signature(self._private_key().sign(canonical_form.encode("utf-8")))


# The official client keeps this older name as a deprecated alias; here it is plain.
TokenGenerator = SecretKey

TokenProvider = SecretKey | str
"""A :class:`SecretKey` (a fresh JWT per request) or a static pre-minted JWT."""


def check_token(token: object) -> TokenProvider | None:
    """Return ``token`` if this client can send it, else raise TypeError.

    An empty string means "no token", as with the official client, so a configuration
    that reads an unset environment variable behaves the same with either client.
    """
    if token is None or isinstance(token, str):
        return token or None
    if isinstance(token, SecretKey):
        return token
    raise TypeError(
        "token must be a SecretKey (signing key), a str (a pre-minted token) or None, "
        f"got {type(token).__name__}"
    )


def auth_header_value(token: str) -> str:
    """The ``x-os-auth`` header value (the server also accepts ``Authorization``)."""
    return f"Bearer {token}"
