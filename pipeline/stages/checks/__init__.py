"""Shop checks from the seed: 精选联盟 entry (`alliance`), the 保证金 amount
(`deposit`), the reopening date and the deposit refund deadline (`reopen`).

Each module is a pure stage: typed rules read from the policy, frames in, frames out.
The same function judges one shop (a one-row frame built from the options) and many
(a `--shops` file), so both paths give the same answers. This module holds what they
share: reading policy numbers strictly, and the refusal error.
"""

from __future__ import annotations

from typing import Any

from pipeline.errors import EXIT_INELIGIBLE, DoudianError, UsageError
from pipeline.policy import Policy

#: EXIT_INELIGIBLE (from pipeline.errors) is the exit code of a check whose verdict is
#: "no" (a refused deposit category).
__all__ = ["EXIT_INELIGIBLE", "Refused"]


class Refused(DoudianError):
    """The shop may not do what was asked (open a category the policy has no deposit
    for, for that entity type). A verdict, not a usage error."""

    exit_code = EXIT_INELIGIBLE


class PolicyError(UsageError):
    """A policy value that is missing or of the wrong kind."""


def policy_section(policy: Policy, name: str) -> dict[str, Any]:
    return policy.section(name)


def policy_int(policy: Policy, section: str, key: str, *, minimum: int = 0) -> int:
    """An integer policy number (never a float: thresholds must compare exactly)."""
    value = policy_section(policy, section).get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise PolicyError(
            f"{{opt:policy}} {policy.name}: [{section}] {key} must be a whole number >= {minimum} "
            f"(got {value!r})"
        )
    return value


def policy_str(policy: Policy, section: str, key: str) -> str:
    value = policy_section(policy, section).get(key)
    if not isinstance(value, str) or not value.strip():
        raise PolicyError(
            f"{{opt:policy}} {policy.name}: [{section}] {key} must be a text (got {value!r})"
        )
    return value.strip()
