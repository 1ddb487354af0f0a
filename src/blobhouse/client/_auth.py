"""Credentials a client presents: for now, a static pre-minted token.

Signing keys that mint a fresh EdDSA token per request come later; until then anything
but a string is refused loudly rather than sent as garbage.
"""

from __future__ import annotations

__all__ = ["AUTH_HEADER", "TokenProvider", "auth_header_value", "check_token"]

AUTH_HEADER = "x-os-auth"

TokenProvider = str


def check_token(token: object) -> TokenProvider | None:
    """Return ``token`` if this client can send it, else raise TypeError.

    An empty string means "no token", as with the official client, so a configuration
    that reads an unset environment variable behaves the same with either client.
    """
    if token is None or isinstance(token, str):
        return token or None
    raise TypeError(
        f"token must be a str (a pre-minted token) or None, got {type(token).__name__}; "
        "signing keys (SecretKey / TokenGenerator) are not supported by this client yet"
    )


def auth_header_value(token: TokenProvider) -> str:
    """The ``x-os-auth`` header value (the server also accepts ``Authorization``)."""
    return f"Bearer {token}"
