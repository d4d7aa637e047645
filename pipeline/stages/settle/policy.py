"""The settlement section of a policy (S6): fee rates by first-level category, the
default rate, and 精选联盟 commission rates by 商品ID; with the policy's status words
(`[statuses]`: which 订单状态 means received, what each 售后状态 means)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.errors import UsageError
from pipeline.policy import Policy, StatusWords, default_words


@dataclass(frozen=True)
class SettlementPolicy:
    default_fee_bp: int
    fee_bp: dict[str, int] = field(default_factory=dict)
    commission_bp: dict[str, int] = field(default_factory=dict)
    words: StatusWords = field(default_factory=default_words)

    @classmethod
    def from_policy(cls, policy: Policy) -> SettlementPolicy:
        section = policy.section("settlement")
        known = {"default_fee_bp", "fee_bp", "commission_bp"}
        unknown = sorted(set(section) - known)
        if unknown:
            raise UsageError(
                f"{{opt:policy}} {policy.name}: [settlement] has unknown key {unknown[0]!r}"
            )

        def bp(where: str, value: Any) -> int:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
                raise UsageError(
                    f"{{opt:policy}} {policy.name}: [settlement] {where} must be a whole number of basis "
                    f"points from 0 to 10000, not {value!r}"
                )
            return value

        if "default_fee_bp" not in section:
            raise UsageError(f"{{opt:policy}} {policy.name}: [settlement] needs default_fee_bp")
        return cls(
            default_fee_bp=bp("default_fee_bp", section["default_fee_bp"]),
            fee_bp={str(k): bp(f"fee_bp.{k}", v) for k, v in section.get("fee_bp", {}).items()},
            commission_bp={
                str(k): bp(f"commission_bp.{k}", v)
                for k, v in section.get("commission_bp", {}).items()
            },
            words=StatusWords.from_policy(policy),
        )
