"""Per-usecase expiration constraints (spec §13.4).

Operators can forbid a policy kind for a usecase or cap its duration; every insert path
checks here before any byte is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from blobhouse.core.durations import format_duration
from blobhouse.core.expiration import ExpirationPolicy, TimeToIdle, TimeToLive, format_expiration

__all__ = ["KindRule", "PolicyViolation", "UsecasePolicy"]


class PolicyViolation(ValueError):
    """An insert whose expiration policy the usecase does not allow (400)."""


@dataclass(frozen=True, slots=True)
class KindRule:
    allowed: bool = True
    max: timedelta | None = None


@dataclass(frozen=True, slots=True)
class UsecasePolicy:
    manual: KindRule = field(default_factory=KindRule)
    ttl: KindRule = field(default_factory=KindRule)
    tti: KindRule = field(default_factory=KindRule)

    def check_deadline(self, usecase: str, policy: ExpirationPolicy, remaining: timedelta) -> None:
        """An extension may not push a deadline further out than the policy's maximum."""
        rule = self.ttl if isinstance(policy, TimeToLive) else self.tti
        if rule.max is not None and remaining > rule.max:
            raise PolicyViolation(
                f"extending to {format_duration(remaining)} from now exceeds the maximum of "
                f"{format_duration(rule.max)} for use case '{usecase}'"
            )

    def check(self, usecase: str, policy: ExpirationPolicy | None) -> None:
        wire = format_expiration(policy)
        if policy is None:
            rule = self.manual
        elif isinstance(policy, TimeToLive):
            rule = self.ttl
        else:
            assert isinstance(policy, TimeToIdle)
            rule = self.tti
        if not rule.allowed:
            raise PolicyViolation(
                f"expiration policy '{wire}' is not allowed for use case '{usecase}'"
            )
        if policy is not None and rule.max is not None and policy.delta > rule.max:
            raise PolicyViolation(
                f"expiration duration {format_duration(policy.delta)} exceeds maximum of "
                f"{format_duration(rule.max)} for use case '{usecase}'"
            )
