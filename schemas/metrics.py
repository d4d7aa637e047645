"""店铺指标 (shop metrics) for the 精选联盟 entry check: one row per shop.

店铺评分 (DSR) and 近60天好评率 stay text in the canonical table (the `text` value type)
and are read exactly by the two expressions below, which the stage uses too, so the
file's validity and its meaning are decided in one place:

- `score_hundredths`: 店铺评分 `4.5` / `4.50` / `4.83` -> 450 / 450 / 483 (integer
  hundredths, 0 to 500). More than two non-zero decimals is an error, not a rounding.
- `rate_bp`: 近60天好评率 as a percent (`85.00%`, `85%`, `85.5 %`) or as a fraction
  (`0.85`, `0.8523`, `1`) -> integer basis points of a whole (8500, 8500, 8550, 8500,
  8523, 10000; 80% = 8000). At most 2 decimals in a percent, 4 in a fraction; a bare
  number above 1 (`85`: 85% or 8500%?) is refused, never guessed.

Thresholds compare these integers with the policy's integers: exact at 4.5 and 80%.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from schemas import checks
from schemas.base import KindSpec, RowChecks, col, model_of

#: One integer digit, at most two non-zero decimals (trailing zeros are fine: 4.500);
#: at most SCORE_MAX.
SCORE = r"^[0-9](\.[0-9]{1,2}0*)?$"
SCORE_MAX = 500  # 5.00
#: A percent: up to 3 integer digits, at most two non-zero decimals, then % (or ％).
PERCENT = r"^[0-9]{1,3}(\.[0-9]{1,2}0*)?\s*[%％]$"
#: A fraction of one: 0, 1, 0.xxxx (at most four non-zero decimals), 1.0000.
FRACTION = r"^[01](\.[0-9]{1,4}0*)?$"
RATE_MAX = 10_000  # 100%


def score_hundredths(text: pl.Expr) -> pl.Expr:
    """店铺评分 text -> integer hundredths (4.5 -> 450); null when not a score."""
    value = (text.cast(pl.Decimal(12, 2), strict=False) * 100).cast(pl.Int64, strict=False)
    return pl.when(text.str.contains(SCORE) & (value <= SCORE_MAX)).then(value).otherwise(None)


def rate_bp(text: pl.Expr) -> pl.Expr:
    """好评率 text -> integer basis points (85.00% or 0.85 -> 8500); null when not a rate."""
    number = text.str.replace(r"\s*[%％]$", "")
    percent = (number.cast(pl.Decimal(12, 2), strict=False) * 100).cast(pl.Int64, strict=False)
    fraction = (text.cast(pl.Decimal(12, 4), strict=False) * 10_000).cast(pl.Int64, strict=False)
    value = (
        pl.when(text.str.contains(PERCENT))
        .then(percent)
        .when(text.str.contains(FRACTION))
        .then(fraction)
        .otherwise(None)
    )
    return pl.when(value <= RATE_MAX).then(value).otherwise(None)


SPEC = KindSpec(
    name="metrics",
    title="店铺指标",
    columns=(
        col("shop_id", "text", "店铺ID", "店铺id", required=True, nullable=False),
        col("dsr", "text", "店铺评分", "DSR", "店铺DSR", required=True),
        col("good_rate", "text", "近60天好评率", "好评率", "店铺好评率", required=True),
        col("valid_reviews", "int", "有效评价数", required=True),
        col("shop_status", "text", "店铺状态", required=True),
        col("account_status", "text", "账户状态", "店铺账户状态", required=True),
        col("violations_365d", "int", "近365天违规次数", required=True),
        # Optional: computed from the orders instead when they are given.
        col("gmv_30d", "money", "近30天成交金额", "近30天成交金额(元)"),
    ),
    unique="shop_id",
    unique_code="duplicate-shop",
)


class _Checks(RowChecks):
    @pa.check("shop_id", name="bad-shop-id")
    def _shop(cls, data):
        return checks.is_shop_id(data)

    @pa.check("dsr", name="bad-score")
    def _score(cls, data):
        text = pl.col(data.key)
        return data.lazyframe.select(text.is_null() | score_hundredths(text).is_not_null())

    @pa.check("good_rate", name="bad-rate")
    def _rate(cls, data):
        text = pl.col(data.key)
        return data.lazyframe.select(text.is_null() | rate_bp(text).is_not_null())

    @pa.check("valid_reviews", "violations_365d", name="negative-count")
    def _counts(cls, data):
        return checks.non_negative(data)

    @pa.check("gmv_30d", name="money-out-of-range")
    def _money(cls, data):
        return checks.money_unsigned(data)


Metrics = model_of(
    SPEC,
    _Checks,
    """A valid metrics row. 店铺评分 and 近60天好评率 as text that `score_hundredths` and
    `rate_bp` read; counts as integers; 近30天成交金额 in fen. An empty or `-` cell means
    "none" (see docs/checks.md for what none means for each condition).""",
)
