"""The account balance chain (账户流水 with 账户余额).

Rows of one shop and 动账账户 in time order (rows of the same second in the files'
order): each row's balance must be the previous row's balance plus its signed amount.
A break at a row is `row`; at the first row of a day (the previous day's closing
balance is not the day's opening balance) it is `day`."""

from __future__ import annotations

import polars as pl

from schemas.fund_flow import signed_amount

BALANCE_COLUMNS = (
    "shop_id", "account", "kind", "flow_time", "flow_id", "previous_flow_id",
    "previous_balance", "amount", "expected_balance", "balance", "difference",
    "source_file", "source_row",
)  # fmt: skip


def balance_breaks(account_flow: pl.LazyFrame) -> pl.LazyFrame:
    """Account-flow rows (in file order) -> one line per break (BALANCE_COLUMNS)."""
    names = set(account_flow.collect_schema().names())
    part = [c for c in ("shop_id", "account") if c in names]
    needed = ["flow_time", "flow_id", "direction", "amount", "balance", "source_file", "source_row"]
    ordered = (
        account_flow.select(*part, *needed)
        .with_row_index("__order")
        .sort(*part, "flow_time", "__order")
    )
    prev = [
        pl.col(c).shift(1).over(part) if part else pl.col(c).shift(1)
        for c in ("balance", "flow_id", "flow_time")
    ]
    out = ordered.with_columns(
        signed_amount().alias("amount"),
        prev[0].alias("previous_balance"),
        prev[1].alias("previous_flow_id"),
        prev[2].alias("__previous_time"),
    ).with_columns((pl.col("previous_balance") + pl.col("amount")).alias("expected_balance"))
    breaks = out.filter(
        pl.col("previous_balance").is_not_null() & (pl.col("balance") != pl.col("expected_balance"))
    )
    new_day = pl.col("flow_time").dt.date() != pl.col("__previous_time").dt.date()
    missing = [pl.lit(None, pl.String).alias(c) for c in ("shop_id", "account") if c not in names]
    return breaks.with_columns(
        *missing,
        pl.when(new_day).then(pl.lit("day")).otherwise(pl.lit("row")).alias("kind"),
        (pl.col("balance") - pl.col("expected_balance")).alias("difference"),
    ).select(BALANCE_COLUMNS)
