"""Refunds after settlement against the fund flow.

Each refund bill row (结算后退款-...) is compared with the fund rows of its 子订单号 whose
动账场景 starts with the refund prefix (退款-) and that moved within the refund window of
its 结算时间, grouped by 售后编号 (a group's amount is the sum of its signed rows; a row
without 售后编号 cannot be compared). In this order: two or more groups within the
tolerance: `multiple-candidates`; exactly one: `matched` when its rows lie within the
group window of each other (inclusive), else `outside-window`; none within the
tolerance: `missing-fund` when there is no candidate row, `not-comparable` when no
candidate row has a 售后编号, else `amount-mismatch` (the nearest group shown). A group
that two refund bill rows would both match makes both `multiple-candidates`; a group is
attributed to at most one bill row."""

from __future__ import annotations

import polars as pl

from pipeline.stages.close.policy import CloseRules
from pipeline.stages.settle.money import share

#: a matched refund whose after-sale (in the after-sales export) does not say refunded
NOT_REFUNDED = "after-sale-not-refunded"
REFUND_COLUMNS = (
    "shop_id", "sub_order_id", "bill_type", "settled_at", "billed", "status", "after_sale_id",
    "fund_rows", "flow_ids", "paid", "difference", "first_flow_at", "last_flow_at",
    "span_seconds", "user_refund", "subsidy_clawback_expected", "subsidy_clawback_found",
    "after_sale_status", "statement_clawback_net", "source_file", "source_row",
)  # fmt: skip


def _groups(candidates: pl.LazyFrame, rules: CloseRules) -> pl.LazyFrame:
    """Candidate rows with a 售后编号 -> one line per (bill row, 售后编号)."""
    user = pl.col("scene").str.ends_with(rules.user_refund_scene_suffix).fill_null(False)
    refund = (
        pl.when(pl.col("order_refund").is_not_null().any())
        .then(pl.col("order_refund").abs().sum())
        .otherwise(pl.col("signed").abs().filter(user).sum())
    )
    return (
        candidates.filter(pl.col("after_sale_id").is_not_null())
        .group_by("bill_row", "after_sale_id")
        .agg(
            pl.len().alias("fund_rows"),
            pl.col("signed").sum().alias("paid"),
            pl.col("flow_id").sort().str.join(";").alias("flow_ids"),
            pl.col("flow_time").min().alias("first_flow_at"),
            pl.col("flow_time").max().alias("last_flow_at"),
            refund.alias("user_refund"),
            pl.col("platform_subsidy").abs().sum().alias("subsidy_clawback_found"),
        )
    )


def _choice(groups: pl.LazyFrame, billed: pl.LazyFrame, tolerance: int) -> pl.LazyFrame:
    """Per bill row with groups: how many are within the tolerance, and the group it
    would take (the one within, or the nearest)."""
    g = groups.join(billed, on="bill_row").with_columns(
        (pl.col("paid") - pl.col("billed")).abs().alias("distance")
    )
    within = pl.col("distance") <= tolerance
    order = [pl.col("distance"), pl.col("after_sale_id")]
    return g.group_by("bill_row").agg(
        within.sum().alias("within"),
        pl.col("after_sale_id").sort_by(order).first().alias("chosen"),
        pl.col("sub_order_id").first(),
    )


def _collided(choice: pl.LazyFrame) -> pl.LazyFrame:
    """Bill rows whose single group within the tolerance another bill row takes too, and
    bill rows whose nearest group a matching (or earlier) bill row has taken."""
    key = ["sub_order_id", "chosen"]
    matched = choice.filter(pl.col("within") == 1)
    shared = matched.group_by(key).agg(pl.len().alias("n")).filter(pl.col("n") > 1)
    both = matched.join(shared, on=key, how="semi").select("bill_row", pl.lit("both").alias("lost"))
    taken = matched.join(shared, on=key, how="anti")
    nearest = choice.filter(pl.col("within") == 0).join(taken, on=key, how="anti")
    kept = nearest.sort("bill_row").unique(subset=key, keep="first").select("bill_row")
    dropped = (
        choice.filter(pl.col("within") == 0)
        .join(kept, on="bill_row", how="anti")
        .select("bill_row", pl.lit("nearest").alias("lost"))
    )
    return pl.concat([both, dropped])


def refunds_against_funds(
    refund_bill: pl.LazyFrame, refund_rows: pl.LazyFrame, original: pl.LazyFrame, rules: CloseRules
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Refund bill rows (bill_row, shop_id, sub_order_id, bill_type, settled_at,
    settle_amount, source_file, source_row), refund fund rows (fund_row, flow_id,
    flow_time, signed, sub_order_id, after_sale_id, scene, order_refund,
    platform_subsidy) and the ordinary bill rows (sub_order_id, buyer_paid,
    platform_subsidy) -> (one line per refund bill row with its status and group,
    the fund rows attributed: bill_row, fund_row)."""
    billed = refund_bill.select("bill_row", "sub_order_id", pl.col("settle_amount").alias("billed"))
    times = refund_bill.select("bill_row", "sub_order_id", "settled_at")
    gap = (pl.col("flow_time") - pl.col("settled_at")).dt.total_seconds().abs()
    candidates = times.join(refund_rows, on="sub_order_id").filter(
        gap <= rules.refund_window_seconds
    )
    counts = candidates.group_by("bill_row").agg(
        pl.len().alias("candidates"), pl.col("after_sale_id").is_not_null().sum().alias("with_id")
    )
    groups = _groups(candidates, rules)
    choice = _choice(groups, billed, rules.tolerance_fen)
    lost = _collided(choice)
    rows = (
        refund_bill.with_columns(pl.col("settle_amount").alias("billed"))
        .join(counts, on="bill_row", how="left")
        .join(choice.drop("sub_order_id"), on="bill_row", how="left")
        .join(lost, on="bill_row", how="left")
        .join(
            groups,
            left_on=["bill_row", "chosen"],
            right_on=["bill_row", "after_sale_id"],
            how="left",
        )
    )
    span = (pl.col("last_flow_at") - pl.col("first_flow_at")).dt.total_seconds()
    n, within = pl.col("candidates").fill_null(0), pl.col("within").fill_null(0)
    status = (
        pl.when((within >= 2) | (pl.col("lost") == "both")).then(pl.lit("multiple-candidates"))
        .when((within == 1) & (span <= rules.refund_group_seconds)).then(pl.lit("matched"))
        .when(within == 1).then(pl.lit("outside-window"))
        .when(n == 0).then(pl.lit("missing-fund"))
        .when(pl.col("with_id").fill_null(0) == 0).then(pl.lit("not-comparable"))
        .otherwise(pl.lit("amount-mismatch"))
    )  # fmt: skip
    rows = rows.with_columns(status.alias("status"), span.alias("span_seconds"))
    kept = ~pl.col("status").is_in(["multiple-candidates", "missing-fund", "not-comparable"]) & (
        pl.col("lost").is_null()
    )
    rows = rows.with_columns(
        *(pl.when(kept).then(pl.col(c)).alias(c) for c in _GROUP_COLUMNS),
        pl.when(kept).then(pl.col("chosen")).alias("after_sale_id"),
    )
    before = original.group_by("sub_order_id").agg(
        pl.col("buyer_paid").abs().sum().alias("__paid"),
        pl.col("platform_subsidy").abs().sum().alias("__subsidy"),
    )
    expected = share(pl.col("__subsidy"), pl.col("user_refund"), pl.col("__paid"))
    rows = rows.join(before, on="sub_order_id", how="left").with_columns(
        pl.when(pl.col("user_refund").is_not_null())
        .then(expected)
        .alias("subsidy_clawback_expected"),
        (pl.col("paid").fill_null(0) - pl.col("billed")).alias("difference"),
    )
    used = (
        rows.filter(pl.col("after_sale_id").is_not_null())
        .select("bill_row", "sub_order_id", "after_sale_id")
        .join(
            candidates.select("bill_row", "fund_row", "after_sale_id"),
            on=["bill_row", "after_sale_id"],
        )
        .select("bill_row", "fund_row")
    )
    return rows, used


_GROUP_COLUMNS = (
    "fund_rows", "paid", "flow_ids", "first_flow_at", "last_flow_at", "span_seconds",
    "user_refund", "subsidy_clawback_found",
)  # fmt: skip
