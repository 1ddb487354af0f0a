"""Permissions and the scope rule that decides what a token may touch (spec §6.3, §6.5).

Shared by the client (which mints tokens) and the server (which checks them), so both
agree on the claim names and on what "this token covers that path" means.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from blobhouse.core.ids import Scopes

__all__ = [
    "USECASE_CLAIM",
    "Grant",
    "GrantError",
    "Permission",
    "claims_for",
    "parse_permissions",
]

USECASE_CLAIM = "os:usecase"
WILDCARD = "*"


class Permission(enum.StrEnum):
    OBJECT_READ = "object.read"
    OBJECT_WRITE = "object.write"
    OBJECT_DELETE = "object.delete"

    @classmethod
    def max(cls) -> list[Permission]:
        """Every permission, as the official client's ``Permission.max()``."""
        return list(cls)


class GrantError(ValueError):
    """Token claims that do not describe a valid grant (answered as 401)."""


def parse_permissions(values: Iterable[object]) -> frozenset[Permission]:
    """Read a permission list; any unknown entry invalidates the whole list."""
    out: set[Permission] = set()
    for value in values:
        try:
            out.add(Permission(str(value)) if isinstance(value, str) else Permission(""))
        except ValueError:
            raise GrantError(f"unknown permission {value!r}") from None
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class Grant:
    """What a verified token allows: one usecase, scope values (or ``*``), permissions."""

    usecase: str
    scopes: Mapping[str, str]
    permissions: frozenset[Permission]

    @classmethod
    def from_claims(cls, res: object, permissions: object) -> Grant:
        if not isinstance(res, Mapping):
            raise GrantError("claim 'res' must be an object")
        usecase = res.get(USECASE_CLAIM)
        if not isinstance(usecase, str):
            raise GrantError(f"claim 'res' must name the usecase in {USECASE_CLAIM!r}")
        scopes: dict[str, str] = {}
        for name, value in res.items():
            if name == USECASE_CLAIM:
                continue
            if not isinstance(name, str) or not isinstance(value, str):
                raise GrantError(f"scope {name!r} in claim 'res' must be a string")
            scopes[name] = value
        if not isinstance(permissions, list):
            raise GrantError("claim 'permissions' must be a list")
        return cls(usecase, scopes, parse_permissions(permissions))

    def limited_to(self, allowed: frozenset[Permission]) -> Grant:
        """The grant cut down to what the signing key may hand out (``max_permissions``)."""
        return Grant(self.usecase, self.scopes, self.permissions & allowed)

    def allows(self, permission: Permission, usecase: str, scopes: Scopes) -> bool:
        """True iff this grant covers ``permission`` on every scope of the request path.

        Token scopes absent from the path are ignored, so a token for ``org=1;project=2``
        may read ``org=1`` alone, and any token of the usecase may use the empty scope.
        """
        if permission not in self.permissions or usecase != self.usecase:
            return False
        for name, value in scopes:
            granted = self.scopes.get(name)
            if granted is None or (granted != WILDCARD and granted != value):
                return False
        return True


def claims_for(
    usecase: str, scopes: Scopes | Mapping[str, object], permissions: Iterable[Permission]
) -> dict[str, object]:
    """The ``res`` and ``permissions`` claims a client puts in a token."""
    pairs = scopes.pairs if isinstance(scopes, Scopes) else tuple(scopes.items())
    res: dict[str, str] = {USECASE_CLAIM: usecase}
    res.update({name: str(value) for name, value in pairs})
    return {"res": res, "permissions": [str(p) for p in permissions]}
