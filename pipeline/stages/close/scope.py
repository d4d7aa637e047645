"""Which fund rows are the closed cycle's business.

A fund flow may cover more than the settlement cycle being closed (a month of 资金账单 for
a semi-monthly cycle). A fund row that a bill row of the cycle takes (paid to an ordinary
row, in a refund group) is always the cycle's. Of the others, a row is `not-in-scope`
when its sub-order has no bill row of its kind in the cycle (ordinary for 货款结算入账 /
入账 rows, refund after settlement for 退款- rows; other money has no bill row) and

- `billed-in-another-cycle`: the bill given settles the sub-order's row of that kind in
  another cycle, or
- `outside-cycle`: it moved outside the cycle's window (动账时间's day before the settle
  date or on or after the next settle date, China time).

The rest stay in the close (`fund-not-billed`, other_funds.csv)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from pipeline.stages.close.other import refund_candidate, settlement_candidate
from pipeline.stages.close.policy import CloseRules

NOT_IN_SCOPE = "not-in-scope"
OTHER_CYCLE_BILL = "billed-in-another-cycle"
OUTSIDE_CYCLE = "outside-cycle"
REASONS = (OTHER_CYCLE_BILL, OUTSIDE_CYCLE)
SCOPE_COLUMNS = (
    "reason", "shop_id", "flow_time", "flow_id", "direction", "amount", "scene", "remark",
    "sub_order_id", "after_sale_id", "source_file", "source_row",
)  # fmt: skip


@dataclass(frozen=True)
class FundScope:
    """The closed cycle: fund rows are in scope from `start` (the settle date) up to
    `end` (the next settle date, excluded); `elsewhere` holds the bill rows given for
    other cycles (bill_type, sub_order_id)."""

    start: dt.date
    end: dt.date
    elsewhere: pl.LazyFrame


def bill_kind(rules: CloseRules) -> pl.Expr:
    """A bill row's kind of money: `settlement` (ordinary), `refund` (after settlement)
    or null (another 结算单类型)."""
    bill_type = pl.col("bill_type")
    return (
        pl.when(bill_type.is_null() | bill_type.is_in(rules.ordinary_bill_types))
        .then(pl.lit("settlement"))
        .when(bill_type.is_in(rules.refund_bill_types))
        .then(pl.lit("refund"))
    )


def fund_kind(rules: CloseRules) -> pl.Expr:
    """A fund row's kind of money, as bill_kind names it; null for other money."""
    return (
        pl.when(settlement_candidate(rules))
        .then(pl.lit("settlement"))
        .when(refund_candidate(rules) & pl.col("sub_order_id").is_not_null())
        .then(pl.lit("refund"))
    )


def _kinds(bill: pl.LazyFrame, rules: CloseRules) -> pl.LazyFrame:
    return bill.select("sub_order_id", bill_kind(rules).alias("__kind")).drop_nulls().unique()


def not_in_scope(
    untaken: pl.LazyFrame, bill: pl.LazyFrame, scope: FundScope | None, rules: CloseRules
) -> pl.LazyFrame:
    """Fund rows no bill row of the cycle took (with fund_row, signed) and the cycle's
    bill rows -> the rows of other cycles: SCOPE_COLUMNS plus fund_row, by fund_row.
    Without a scope, none."""
    rows = untaken.with_columns(fund_kind(rules).alias("__kind"))
    keys = ["sub_order_id", "__kind"]
    rows = rows.join(_kinds(bill, rules), on=keys, how="anti")
    if scope is None:
        elsewhere, outside = bill.head(0), pl.lit(False)
    else:
        day = pl.col("flow_time").dt.date()
        elsewhere, outside = scope.elsewhere, (day < scope.start) | (day >= scope.end)
    other = _kinds(elsewhere, rules).with_columns(pl.lit(True).alias("__elsewhere"))
    reason = (
        pl.when(pl.col("__elsewhere").fill_null(False))
        .then(pl.lit(OTHER_CYCLE_BILL))
        .when(outside)
        .then(pl.lit(OUTSIDE_CYCLE))
    )
    return (
        rows.join(other, on=keys, how="left")
        .with_columns(reason.alias("reason"), pl.col("signed").alias("amount"))
        .filter(pl.col("reason").is_not_null())
        .sort("fund_row")
        .select(*SCOPE_COLUMNS, "fund_row")
    )
