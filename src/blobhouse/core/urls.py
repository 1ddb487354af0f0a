"""URL paths of the v1 protocol, in both directions.

The client percent-encodes exactly as the official client does (spec §1.5); the server
splits the *raw* path itself (usecase and scopes are single segments, the key is the rest)
and percent-decodes each part as UTF-8.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

from blobhouse.core.ids import IdError, ObjectId, Scopes, validate_key, validate_usecase

__all__ = [
    "RESOURCES",
    "ObjectRoute",
    "RouteError",
    "encode_path",
    "encode_query",
    "object_path",
    "parse_object_route",
]

PATH_SAFE = "/:@!$&'()*+,;="
QUERY_SAFE = PATH_SAFE + "?"
RESOURCES = (
    "objects",
    "objects:batch",
    "objects:compose",
    "objects:multipart",
    "objects:multipart:parts",
    "objects:multipart:complete",
)


class RouteError(ValueError):
    """A path under ``/v1/<resource>/`` whose usecase, scopes or key is invalid (400)."""


def encode_path(path: str) -> str:
    """Percent-encode a path the way the official client does."""
    return quote(path, safe=PATH_SAFE)


def encode_query(query: str) -> str:
    """Percent-encode a whole query string as the official client does (``?`` stays literal).

    Separators (``&``, ``=``) and ``+`` are kept literally, so this suits values without
    them (key ids, timestamps, numbers); quote any other value on its own with
    ``quote(value, safe="")`` and append it afterwards, since encoding twice would turn
    its ``%`` into ``%25``.
    """
    return quote(query, safe=QUERY_SAFE)


def object_path(usecase: str, scopes: Scopes, key: str | None, resource: str = "objects") -> str:
    """The encoded path of an object (or of the collection when ``key`` is None)."""
    base = f"/v1/{resource}/{usecase}/{scopes}/"
    return encode_path(base + (key or ""))


@dataclass(frozen=True, slots=True)
class ObjectRoute:
    """A parsed object-route path: the resource, and the object or collection it names."""

    resource: str
    usecase: str
    scopes: Scopes
    key: str | None  # None for the collection (POST with a server-assigned key)

    def object_id(self, key: str | None = None) -> ObjectId:
        chosen = key if key is not None else self.key
        if chosen is None:
            raise RouteError("this route names a collection, not an object")
        return ObjectId(self.usecase, self.scopes, chosen)


def _decode(raw: bytes, what: str) -> str:
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RouteError(f"{what} is not valid UTF-8 after percent-decoding") from exc


def parse_object_route(raw_path: bytes) -> ObjectRoute | None:
    """Split ``/v1/<resource>/<usecase>/<scopes>[/<key...>]``.

    Returns None when the path is not an object route at all (404), raises RouteError when
    it is one but a part is invalid (400).
    """
    if not raw_path.startswith(b"/v1/"):
        return None
    parts = raw_path[4:].split(b"/", 3)
    if len(parts) < 3:
        return None
    resource = _decode(parts[0], "resource")
    if resource not in RESOURCES:
        return None
    usecase = _decode(parts[1], "usecase")
    scopes_text = _decode(parts[2], "scopes")
    raw_key = parts[3] if len(parts) == 4 else b""
    try:
        validate_usecase(usecase)
        scopes = Scopes.parse(scopes_text)
        key: str | None = None
        if raw_key:
            key = validate_key(_decode(raw_key, "key"))
    except IdError as exc:
        raise RouteError(str(exc)) from exc
    return ObjectRoute(resource, usecase, scopes, key)
