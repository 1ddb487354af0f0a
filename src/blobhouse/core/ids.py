"""Names of things: usecases, scopes, keys, and where an object lives.

A usecase names an application's kind of data (``attachments``); scopes are the ordered
tenant pairs (``org=42;project=7``); the key names one object inside them. The rules for
each are enforced here, identically by the client (before sending) and the server (on
receipt).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

__all__ = [
    "EMPTY_SCOPES",
    "MAX_KEY_BYTES",
    "IdError",
    "ObjectId",
    "Scopes",
    "generate_key",
    "validate_key",
    "validate_usecase",
]

EMPTY_SCOPES = "_"
MAX_KEY_BYTES = 1024

_USECASE = re.compile(r"[A-Za-z0-9_-]{3,64}")
_SCOPE_PART = re.compile(r"[A-Za-z0-9_\-()$!+']+")


class IdError(ValueError):
    """A usecase, scope or key that breaks the naming rules."""


def validate_usecase(name: str) -> str:
    """Return ``name`` if it is 3–64 characters of ``[A-Za-z0-9_-]``, else raise IdError."""
    if not isinstance(name, str) or not 3 <= len(name) <= 64:
        raise IdError(f"usecase name must be 3-64 characters long, got {name!r}")
    if _USECASE.fullmatch(name) is None:
        raise IdError(f"usecase name {name!r} may contain only ASCII letters, digits, '_' and '-'")
    return name


def validate_key(key: str) -> str:
    """Return ``key`` if it can name an object, else raise IdError.

    Keys are free text (``/`` included) but must be non-empty and at most 1 KiB of UTF-8,
    the smallest limit among the engines Blobhouse stores into (GCS object names).
    """
    if not key:
        raise IdError("object key must not be empty")
    encoded_len = len(key.encode("utf-8", errors="surrogatepass"))
    if encoded_len > MAX_KEY_BYTES:
        raise IdError(f"object key is {encoded_len} bytes of UTF-8; the maximum is {MAX_KEY_BYTES}")
    if "\x00" in key:
        raise IdError("object key must not contain NUL characters")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise IdError("object key is not valid UTF-8") from exc
    return key


def generate_key() -> str:
    """A server-assigned key: a random UUID, lowercase and hyphenated."""
    return str(uuid.uuid4())


def _check_scope_part(what: str, value: str) -> None:
    if _SCOPE_PART.fullmatch(value) is None:
        raise IdError(
            f"invalid scope {what} {value!r}: use only ASCII letters, digits and _-()$!+'"
        )


@dataclass(frozen=True, slots=True)
class Scopes:
    """An ordered list of ``name=value`` pairs; the tenant boundary.

    Order matters for storage (``org=1;project=2`` and ``project=2;org=1`` are different
    namespaces), so this is a sequence, not a mapping.
    """

    pairs: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        for name, value in self.pairs:
            _check_scope_part("name", name)
            _check_scope_part("value", value)

    @classmethod
    def of(cls, mapping: Mapping[str, object] | None = None, /, **more: object) -> Scopes:
        """Build scopes from keyword order, stringifying values as the clients do."""
        items: list[tuple[str, str]] = []
        for name, value in list((mapping or {}).items()) + list(more.items()):
            if value is None or value == "":
                raise IdError(f"scope {name!r} needs a non-empty value")
            items.append((name, str(value)))
        return cls(tuple(items))

    @classmethod
    def parse(cls, text: str) -> Scopes:
        """Parse the matrix form of a path segment (already percent-decoded)."""
        if text == EMPTY_SCOPES:
            return cls()
        if not text:
            raise IdError("scopes segment is empty; use '_' for no scopes")
        pairs: list[tuple[str, str]] = []
        for piece in text.split(";"):
            name, sep, value = piece.partition("=")
            if not sep:
                raise IdError(f"invalid scope {piece!r} in {text!r}: expected name=value")
            if not name or not value:
                raise IdError(f"invalid scope {piece!r} in {text!r}: empty name or value")
            pairs.append((name, value))
        return cls(tuple(pairs))

    def __str__(self) -> str:
        if not self.pairs:
            return EMPTY_SCOPES
        return ";".join(f"{name}={value}" for name, value in self.pairs)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def as_dict(self) -> dict[str, str]:
        return dict(self.pairs)

    def storage_prefix(self) -> str:
        """``org.17/project.42`` — dots cannot occur in names or values, so this is unique."""
        return "/".join(f"{name}.{value}" for name, value in self.pairs)


@dataclass(frozen=True, slots=True)
class ObjectId:
    """One object: usecase, scopes and key."""

    usecase: str
    scopes: Scopes
    key: str

    @classmethod
    def create(cls, usecase: str, scopes: Scopes | Iterable[tuple[str, str]], key: str) -> ObjectId:
        scopes = scopes if isinstance(scopes, Scopes) else Scopes(tuple(scopes))
        return cls(validate_usecase(usecase), scopes, validate_key(key))

    @property
    def storage_path(self) -> str:
        """``attachments/org.17/project.42/objects/abc`` (spec §1.6)."""
        prefix = self.scopes.storage_prefix()
        middle = f"{prefix}/" if prefix else ""
        return f"{self.usecase}/{middle}objects/{self.key}"

    def with_key(self, key: str) -> ObjectId:
        return ObjectId(self.usecase, self.scopes, key)

    def __str__(self) -> str:
        return f"{self.usecase}/{self.scopes}/{self.key}"
