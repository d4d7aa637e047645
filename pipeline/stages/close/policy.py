"""The close's numbers and words, from the policy's `[close]` section (`close.toml`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from pipeline.errors import UsageError
from pipeline.policy import Policy, StatusWords, default_words
from schemas.fund_flow import DIRECTIONS

_RULE_KEYS = {"scene", "scene_pattern", "remark_pattern", "category", "direction"}
_INTS = ("tolerance_fen", "settle_window_seconds", "refund_window_seconds", "refund_group_seconds")
_WORDS = ("settlement_scene", "refund_scene_prefix", "user_refund_scene_suffix")
_LISTS = ("ordinary_bill_types", "refund_bill_types", "payable_discounts")
_PAYABLE_COLUMNS = {
    "platform_discount",
    "creator_discount",
    "payment_discount",
    "merchant_discount",
}


@dataclass(frozen=True)
class SceneRule:
    """One row of the scene table: what it matches, the category, the direction expected."""

    category: str
    scene: str | None = None
    scene_pattern: str | None = None
    remark_pattern: str | None = None
    direction: str | None = None

    def matches(self) -> pl.Expr:
        """True for the fund rows this rule matches (columns scene, remark)."""
        parts = [pl.lit(True)]
        if self.scene == "":
            parts.append(pl.col("scene").is_null())
        elif self.scene is not None:
            parts.append(pl.col("scene") == self.scene)
        if self.scene_pattern is not None:
            parts.append(pl.col("scene").str.contains(self.scene_pattern))
        if self.remark_pattern is not None:
            parts.append(pl.col("remark").str.contains(self.remark_pattern))
        return pl.all_horizontal(parts).fill_null(False)


@dataclass(frozen=True)
class CloseRules:
    tolerance_fen: int
    settle_window_seconds: int
    refund_window_seconds: int
    refund_group_seconds: int
    ordinary_bill_types: tuple[str, ...]
    refund_bill_types: tuple[str, ...]
    settlement_scene: str
    refund_scene_prefix: str
    user_refund_scene_suffix: str
    payable_discounts: tuple[str, ...]
    scenes: tuple[SceneRule, ...]
    #: the policy's 售后状态 table: which after-sale says refunded
    words: StatusWords = field(default_factory=default_words, compare=False)

    @classmethod
    def from_policy(cls, policy: Policy) -> CloseRules:
        data = dict(policy.section("close"))
        where = f"--policy {policy.name}: [close]"
        known = {*_INTS, *_WORDS, *_LISTS, "scenes"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"{where} unknown key {unknown[0]!r}")
        missing = sorted(known - set(data))
        if missing:
            raise UsageError(f"{where} has no {missing[0]!r}")
        for key in _INTS:
            if not isinstance(data[key], int) or isinstance(data[key], bool) or data[key] < 0:
                raise UsageError(f"{where} {key} must be a whole number >= 0")
        for key in _WORDS:
            if not isinstance(data[key], str) or not data[key]:
                raise UsageError(f"{where} {key} must be a non-empty text")
        for key in _LISTS:
            if not isinstance(data[key], list) or not all(isinstance(v, str) for v in data[key]):
                raise UsageError(f"{where} {key} must be a list of texts")
        bad = sorted(set(data["payable_discounts"]) - _PAYABLE_COLUMNS)
        if bad:
            raise UsageError(
                f"{where} payable_discounts: unknown column {bad[0]!r} "
                f"(known: {', '.join(sorted(_PAYABLE_COLUMNS))})"
            )
        rules = tuple(_rule(where, i, r) for i, r in enumerate(data.pop("scenes"), start=1))
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        words = StatusWords.from_policy(policy) if "statuses" in policy.data else default_words()
        return cls(**values, scenes=rules, words=words)


def _rule(where: str, number: int, raw: Any) -> SceneRule:
    """One [[scenes]] table, checked: its keys, its patterns, its direction."""
    at = f"{where} scenes rule {number}"
    if not isinstance(raw, dict):
        raise UsageError(f"{at}: must be a table")
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        raise UsageError(f"{at}: unknown key {unknown[0]!r}")
    if not isinstance(raw.get("category"), str) or not raw["category"]:
        raise UsageError(f"{at}: needs a category")
    if not {"scene", "scene_pattern", "remark_pattern"} & set(raw):
        raise UsageError(f"{at}: needs a scene, scene_pattern or remark_pattern")
    for key in ("scene_pattern", "remark_pattern"):
        if key in raw:
            try:
                re.compile(raw[key])
            except (re.error, TypeError) as exc:
                raise UsageError(f"{at}: {key} is not a regular expression ({exc})") from None
    if "direction" in raw and raw["direction"] not in DIRECTIONS:
        raise UsageError(f"{at}: direction must be one of {', '.join(DIRECTIONS)}")
    return SceneRule(**raw)
