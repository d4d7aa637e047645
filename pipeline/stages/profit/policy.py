"""The `[profit]` section of a policy (pipeline/policies/default/profit.toml): the
fulfilment cost per parcel, what refunded goods are worth, and the minimum margin that
loss-making SKUs are priced to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.errors import UsageError
from pipeline.policy import Policy

_INTEGERS = {"packing_fen_per_parcel": 1_000_000, "express_fen_per_parcel": 1_000_000,
             "min_margin_bp": 1_000_000}  # fmt: skip
_FLAGS = ("returned_goods_keep_value", "refunded_goods_lost")


@dataclass(frozen=True)
class ProfitPolicy:
    packing_fen_per_parcel: int = 0
    express_fen_per_parcel: int = 0
    returned_goods_keep_value: bool = True
    refunded_goods_lost: bool = False
    min_margin_bp: int = 1000

    @property
    def fulfilment_fen_per_parcel(self) -> int:
        return self.packing_fen_per_parcel + self.express_fen_per_parcel

    @classmethod
    def from_policy(cls, policy: Policy) -> ProfitPolicy:
        """Checks every key; a bad one raises UsageError naming the policy and key."""
        section: dict[str, Any] = policy.section("profit")
        known = {*_INTEGERS, *_FLAGS}
        unknown = sorted(set(section) - known)
        if unknown:
            raise UsageError(
                f"--policy {policy.name}: [profit] {unknown[0]}: unknown key "
                f"(known: {', '.join(sorted(known))})"
            )
        values: dict[str, Any] = {}
        for key, top in _INTEGERS.items():
            value = section.get(key, getattr(cls, key))
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
                raise UsageError(
                    f"--policy {policy.name}: [profit] {key}: must be a whole number from 0 "
                    f"to {top:,}, not {value!r}"
                )
            values[key] = value
        for key in _FLAGS:
            value = section.get(key, getattr(cls, key))
            if not isinstance(value, bool):
                raise UsageError(
                    f"--policy {policy.name}: [profit] {key}: must be true or false, not {value!r}"
                )
            values[key] = value
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (*_INTEGERS, *_FLAGS)}
