"""精选联盟 (alliance) entry: metrics rows in, one verdict per shop out.

In:  the valid rows of a metrics file (`schemas.metrics.Metrics`), and optionally the
     30-day GMV per shop computed from the orders (`gmv_from_orders`).
Out: one row per shop, in the input order: shop_id, result (`formal` | `trial` |
     `not-eligible`), failed (the failed condition codes, in the order of CONDITIONS),
     warnings (daily warning codes), and the values judged (DSR in hundredths, good
     rate in basis points, GMV in fen and where it came from).

Everything is polars expressions over the whole table; thresholds are the policy's
integers, so 4.5 and 80% compare exactly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import polars as pl

from pipeline.policy import Policy
from pipeline.stages.checks import policy_int, policy_str
from schemas.base import CHINA_TZ
from schemas.metrics import rate_bp, score_hundredths

#: The entry conditions' codes, in the order they are listed.
CONDITIONS = (
    "dsr-below-4.5",
    "good-rate-below-80",
    "no-gmv-30d",
    "shop-not-normal",
    "account-not-normal",
    "violation-365d",
)
WARNINGS = ("dsr-low", "good-rate-low")
RESULTS = ("formal", "trial", "not-eligible")

RESULT_SCHEMA = {
    "shop_id": pl.String,
    "result": pl.String,
    "failed": pl.List(pl.String),
    "warnings": pl.List(pl.String),
    "dsr": pl.Int64,  # hundredths
    "good_rate": pl.Int64,  # basis points
    "valid_reviews": pl.Int64,
    "violations_365d": pl.Int64,
    "shop_status": pl.String,
    "account_status": pl.String,
    "gmv_30d": pl.Int64,  # fen
    "gmv_source": pl.String,  # "orders" or "metrics"
}


@dataclass(frozen=True)
class AllianceRules:
    """The [alliance] policy section (see pipeline/policies/default/alliance.toml)."""

    min_dsr_hundredths: int
    min_good_rate_bp: int
    gmv_above_fen: int
    gmv_window_days: int
    violations_365d_max: int
    normal_status: str
    formal_reviews_above: int
    warn_dsr_below_hundredths: int
    warn_good_rate_below_bp: int

    @classmethod
    def from_policy(cls, policy: Policy) -> AllianceRules:
        ints = {
            name: policy_int(
                policy, "alliance", name, minimum=1 if name == "gmv_window_days" else 0
            )
            for name in cls.__dataclass_fields__
            if name != "normal_status"
        }
        return cls(normal_status=policy_str(policy, "alliance", "normal_status"), **ints)


def gmv_window(as_of: dt.date, days: int) -> tuple[dt.datetime, dt.datetime]:
    """`[as_of - days, as_of)` at midnight China time."""
    end = dt.datetime(as_of.year, as_of.month, as_of.day, tzinfo=ZoneInfo(CHINA_TZ))
    return end - dt.timedelta(days=days), end


def gmv_from_orders(orders: pl.LazyFrame, as_of: dt.date, days: int) -> pl.LazyFrame:
    """Valid order rows -> (shop_id, gmv_30d): the 订单应付金额 (fen) of the sub-orders
    paid (支付完成时间) in `gmv_window(as_of, days)`, per 店铺ID. Shops with no such
    sub-order are absent (their GMV is 0)."""
    start, end = gmv_window(as_of, days)
    paid = pl.col("paid_at")
    return (
        orders.filter((paid >= start) & (paid < end))
        .group_by("shop_id")
        .agg(pl.col("payable").sum().alias("gmv_30d"))
    )


def judge(
    metrics: pl.LazyFrame, rules: AllianceRules, gmv: pl.LazyFrame | None = None
) -> pl.LazyFrame:
    """Metrics rows -> verdicts (RESULT_SCHEMA). With `gmv` (from `gmv_from_orders`) the
    30-day GMV comes from it (0 for a shop it lacks), else from the metrics column.

    "None" (`-` or empty) in a cell: no 店铺评分 or 好评率 fails its condition (it is not
    >= the threshold) but raises no warning (nothing is below); no 有效评价数, 违规次数 or
    成交金额 is 0; no 店铺状态 / 账户状态 is not 正常."""
    frame = metrics.with_columns(
        score_hundredths(pl.col("dsr")).alias("dsr"),
        rate_bp(pl.col("good_rate")).alias("good_rate"),
        pl.col("valid_reviews").fill_null(0),
        pl.col("violations_365d").fill_null(0),
    )
    if gmv is None:
        frame = frame.with_columns(
            pl.col("gmv_30d").fill_null(0), pl.lit("metrics").alias("gmv_source")
        )
    else:
        frame = frame.drop("gmv_30d").join(gmv, on="shop_id", how="left", maintain_order="left")
        frame = frame.with_columns(
            pl.col("gmv_30d").fill_null(0), pl.lit("orders").alias("gmv_source")
        )

    dsr, rate = pl.col("dsr"), pl.col("good_rate")
    normal = rules.normal_status
    failed_when = (
        dsr.is_null() | (dsr < rules.min_dsr_hundredths),
        rate.is_null() | (rate < rules.min_good_rate_bp),
        pl.col("gmv_30d") <= rules.gmv_above_fen,
        pl.col("shop_status").fill_null("") != normal,
        pl.col("account_status").fill_null("") != normal,
        pl.col("violations_365d") > rules.violations_365d_max,
    )
    warn_when = (  # a null value is not below anything: no warning
        (dsr < rules.warn_dsr_below_hundredths).fill_null(False),
        (rate < rules.warn_good_rate_below_bp).fill_null(False),
    )
    failed = _codes(CONDITIONS, failed_when)
    warnings = _codes(WARNINGS, warn_when)
    result = (
        pl.when(failed.list.len() > 0)
        .then(pl.lit("not-eligible"))
        .when(pl.col("valid_reviews") > rules.formal_reviews_above)
        .then(pl.lit("formal"))
        .otherwise(pl.lit("trial"))
    )
    return frame.select(
        "shop_id",
        result.alias("result"),
        failed.alias("failed"),
        warnings.alias("warnings"),
        *[
            pl.col(n).cast(t)
            for n, t in RESULT_SCHEMA.items()
            if n not in ("shop_id", "result", "failed", "warnings")
        ],
    )


def _codes(codes: tuple[str, ...], conditions: tuple[pl.Expr, ...]) -> pl.Expr:
    """The list of `codes` whose condition holds, in order."""
    hits = [
        pl.when(cond).then(pl.lit(code)).otherwise(pl.lit(None, pl.String))
        for code, cond in zip(codes, conditions, strict=True)
    ]
    return pl.concat_list(hits).list.drop_nulls()
