"""Reconciliation (domain.md section 5): our statement against the platform's 结算账单,
by 子订单号. Expected = our net over all lines of a sub-order in the period; billed = the
bill's 结算金额 summed per 子订单号; difference = billed - expected (a missing side counts
as 0). Each sub-order is `match`, `amount-mismatch`, `missing-in-bill` or
`unexpected-in-bill`."""

from __future__ import annotations

import datetime as dt

import polars as pl

STATUSES = ("match", "amount-mismatch", "missing-in-bill", "unexpected-in-bill")


def bill_in_cycle(bill: pl.LazyFrame, settle_date: dt.date, next_settle_date: dt.date) -> pl.Expr:
    """A bill row belongs to a period's settlement when its 结算时间 falls in
    [settle date, next settle date) in China time."""
    day = pl.col("settled_at").dt.date()
    return (day >= settle_date) & (day < next_settle_date)


def reconcile(statement: pl.LazyFrame, bill: pl.LazyFrame) -> pl.LazyFrame:
    """One row per sub-order on either side: sub_order_id, status, expected_net,
    billed_net, difference (fen), sorted by sub_order_id."""
    expected = statement.group_by("sub_order_id").agg(pl.col("net").sum().alias("expected_net"))
    billed = bill.group_by("sub_order_id").agg(pl.col("settle_amount").sum().alias("billed_net"))
    both = expected.join(billed, on="sub_order_id", how="full", coalesce=True)
    status = (
        pl.when(pl.col("billed_net").is_null())
        .then(pl.lit("missing-in-bill"))
        .when(pl.col("expected_net").is_null())
        .then(pl.lit("unexpected-in-bill"))
        .when(pl.col("billed_net") == pl.col("expected_net"))
        .then(pl.lit("match"))
        .otherwise(pl.lit("amount-mismatch"))
    )
    return both.select(
        "sub_order_id",
        status.alias("status"),
        "expected_net",
        "billed_net",
        (pl.col("billed_net").fill_null(0) - pl.col("expected_net").fill_null(0)).alias(
            "difference"
        ),
    ).sort("sub_order_id")


def summarize(rows: pl.DataFrame) -> dict[str, int]:
    counts = rows.group_by("status").len()
    found = dict(
        zip(counts.get_column("status").to_list(), counts.get_column("len").to_list(), strict=True)
    )
    summary = {s: int(found.get(s, 0)) for s in STATUSES}
    summary["difference_total"] = int(rows.get_column("difference").sum())
    return summary
