"""Tokens, object URLs and pre-signed URLs for a session: shared by the sync and async clients.

Nothing here touches the network: a session only needs its usecase, scopes, signing
key and URL prefix to mint a token or sign a URL, so one implementation serves both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol
from urllib.parse import quote

from blobhouse.client._auth import PARAM_AUTH, SecretKey, TokenProvider
from blobhouse.core.ids import Scopes, validate_key
from blobhouse.core.metadata import metadata_request_headers
from blobhouse.core.permissions import Permission
from blobhouse.core.presign import (
    MAX_PRESIGN_DURATION,
    PARAM_CONTENT_TYPE,
    PARAM_DURATION,
    PARAM_KID,
    PARAM_MAX_SIZE,
    PARAM_SIG,
    PARAM_TIMESTAMP,
    canonical_form,
    format_presign_timestamp,
)
from blobhouse.core.urls import encode_query

__all__ = ["PRESIGNED_METHODS", "SessionSigning"]

PRESIGNED_METHODS = ("GET", "HEAD")


class _Transport(Protocol):
    @property
    def base_url(self) -> str: ...

    @property
    def token(self) -> TokenProvider | None: ...


class _Usecase(Protocol):
    @property
    def name(self) -> str: ...


class SessionSigning:
    """Mixed into a session class that provides ``_transport``, ``_usecase``, ``_scopes``
    and ``_path(key)`` (the encoded request path)."""

    _transport: _Transport
    _usecase: _Usecase
    _scopes: Scopes

    def _path(self, key: str | None, resource: str = "objects") -> str:
        raise NotImplementedError

    def _secret_key(self, purpose: str) -> SecretKey:
        token = self._transport.token
        if not isinstance(token, SecretKey):
            raise ValueError(
                f"no secret key configured on this session: {purpose} needs a signing key "
                "(Client(token=SecretKey(...)))"
            )
        return token

    def mint_token(
        self,
        permissions: list[Permission] | None = None,
        expiry_seconds: int | None = None,
    ) -> str:
        """A JWT for this session's usecase and scopes, to hand to another service.

        ``permissions`` and ``expiry_seconds`` default to the SecretKey's. Raises
        ValueError without a SecretKey, or if ``permissions`` exceeds the key's.
        """
        secret = self._secret_key("minting tokens")
        return secret.token_for_scope(self._usecase.name, self._scopes, permissions, expiry_seconds)

    def object_url(self, key: str, token_validity: timedelta | None = None) -> str:
        """The absolute URL of an object, to hand to another service for a GET.

        With ``token_validity`` the URL carries a read-only token (``?os_auth=<jwt>``)
        valid that long (rounded up to whole seconds), so it works without any other
        credential; this needs a SecretKey, else ValueError.

        A request authenticated by header gets a compressed object as stored (with
        ``Content-Encoding: zstd``); one authenticated by the URL's own token gets it
        decompressed unless its ``Accept-Encoding`` admits zstd.
        """
        validate_key(key)
        url = self._transport.base_url + self._path(key)
        if token_validity is None:
            return url
        token = self.mint_token(
            permissions=[Permission.OBJECT_READ],
            expiry_seconds=math.ceil(token_validity.total_seconds()),
        )
        # A compact JWT is base64url and dots: safe in a query string as it is.
        return f"{url}?{PARAM_AUTH}={token}"

    def presigned_object_url(
        self,
        method: Literal["GET", "HEAD"],
        key: str,
        duration: timedelta = timedelta(hours=1),
    ) -> str:
        """A pre-signed URL that lets anyone holding it ``GET`` (or ``HEAD``) one object.

        The URL carries ``os_kid``, ``os_timestamp`` (now), ``os_duration`` (``duration``
        rounded up to whole seconds, at most 7 days) and ``os_sig``, an Ed25519
        signature over the method, the encoded path and the query; HEAD and GET share
        signatures. It must be used verbatim: re-encoding it breaks the signature.
        Downloads through it are decompressed unless the request's ``Accept-Encoding``
        admits zstd.

        Raises ValueError for other methods (see :meth:`presigned_put_url` for
        uploads), without a SecretKey, or for a duration over 7 days.
        """
        requested: str = method  # callers without type checking pass any string
        if requested not in PRESIGNED_METHODS:
            hint = "; use presigned_put_url() for uploads" if requested == "PUT" else ""
            raise ValueError(
                f"unsupported pre-signed method {requested!r}, expected one of "
                f"{PRESIGNED_METHODS}{hint}"
            )
        return self._presign(method, key, duration, ())

    def presigned_put_url(
        self,
        key: str,
        duration: timedelta = timedelta(minutes=10),
        *,
        max_size: int | None = None,
        content_type: str | None = None,
    ) -> str:
        """A pre-signed URL that lets anyone holding it upload one object (extension).

        Blobhouse extension, not understood by objectstore servers: the holder sends
        ``PUT <url>`` with the body (any HTTP client, no token), and the object is
        stored under ``key`` in this session's usecase and scopes, replacing any
        object there. Until the URL expires it can be used repeatedly.

        ``max_size`` caps the body in bytes (larger uploads get 413);
        ``content_type`` makes the upload's ``Content-Type`` header mandatory and
        exact (any other value, or none, gets 403). Both travel as query parameters
        (``os_max_size``, ``os_content_type``) covered by the signature, so the holder
        cannot change them. The body is stored as sent: the uploader may declare
        ``Content-Encoding: zstd`` for a zstd body, and expiration and ``x-snme-``
        metadata headers apply as on any insert.

        The server accepts it only if the key id's ``max_permissions`` include
        ``object.write``; the SecretKey's own permissions must include it too, else
        ValueError. Also ValueError without a SecretKey, for a duration over 7 days, a
        negative ``max_size`` or an invalid ``content_type``.
        """
        extra: list[tuple[str, str]] = []
        if max_size is not None:
            if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 0:
                raise ValueError(f"max_size must be a non-negative int, got {max_size!r}")
            extra.append((PARAM_MAX_SIZE, str(max_size)))
        if content_type is not None:
            metadata_request_headers(content_type=content_type)  # ValueError if invalid
            extra.append((PARAM_CONTENT_TYPE, content_type))
        secret = self._secret_key("a pre-signed URL")
        if Permission.OBJECT_WRITE not in secret.permissions:
            raise ValueError(
                f"SecretKey {secret.kid!r} does not grant {Permission.OBJECT_WRITE}, "
                "which a pre-signed upload URL needs"
            )
        return self._presign("PUT", key, duration, extra)

    def _presign(
        self,
        method: str,
        key: str,
        duration: timedelta,
        extra: Sequence[tuple[str, str]],
    ) -> str:
        """Sign ``method`` on ``key`` (spec §7.4), with ``extra`` query parameters."""
        validate_key(key)
        secret = self._secret_key("a pre-signed URL")
        if duration > MAX_PRESIGN_DURATION:
            raise ValueError(f"duration {duration} exceeds the maximum of {MAX_PRESIGN_DURATION}")
        if duration < timedelta(0):
            raise ValueError(f"duration {duration} is negative")
        seconds = math.ceil(duration.total_seconds())
        path = self._path(key)
        timestamp = format_presign_timestamp(datetime.now(UTC))
        query = encode_query(
            f"{PARAM_KID}={secret.kid}&{PARAM_TIMESTAMP}={timestamp}&{PARAM_DURATION}={seconds}"
        )
        for name, value in extra:
            query += f"&{name}={quote(value, safe='')}"
        signature = secret.signature_for_canonical_form(canonical_form(method, path, query))
        return f"{self._transport.base_url}{path}?{query}&{PARAM_SIG}={signature}"
