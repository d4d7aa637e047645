"""Ordinary settlement against the fund flow.

Each ordinary bill row (结算单类型 已结算) is compared with the fund rows of its 子订单号 whose
动账场景 is the settlement scene (货款结算入账) and 动账方向 入账. In this order: no candidate:
`missing-fund`; candidates, but none in the bill's 结算账户 (an empty account on either
side does not differ): `account-mismatch`; two or more same-account candidates within
the tolerance: `multiple-candidates`; exactly one: `matched` (a time warning when it moved
more than the settle window from 结算时间); else `amount-mismatch`, the nearest
same-account candidate shown. A fund row is paid to at most one bill row: to the one bill
row that matched it (when two or more did, to none, and they are all
`multiple-candidates`), else to the first bill row whose nearest it is. A settlement row
whose sub-order has no ordinary bill row is `fund-not-billed`.

Inputs carry `bill_row` / `fund_row` (row numbers) and the fund rows a signed `signed`."""

from __future__ import annotations

import polars as pl

from pipeline.stages.close.policy import CloseRules

MATCHED = "matched"


def _claims(candidates: pl.LazyFrame) -> pl.LazyFrame:
    """One line per bill row with candidates: their counts, the one within the
    tolerance (when exactly one) and the nearest same-account one."""
    same = pl.col("same_account")
    distance = [pl.col(c).filter(same) for c in ("distance", "flow_time", "fund_row")]
    return candidates.group_by("bill_row").agg(
        pl.len().alias("candidates"),
        same.sum().alias("same_account"),
        pl.col("within").sum().alias("within"),
        pl.col("fund_row").filter(pl.col("within")).first().alias("within_row"),
        pl.col("fund_row").filter(same).sort_by(distance).first().alias("nearest_row"),
    )


def _attribution(claims: pl.LazyFrame) -> pl.LazyFrame:
    """(bill_row, fund_row, collided): the fund row paid to each bill row, a row never
    paid twice; `collided` marks bill rows whose single match another bill row shares."""
    matched = claims.filter(pl.col("within") == 1).select(
        "bill_row", pl.col("within_row").alias("fund_row")
    )
    shared = matched.group_by("fund_row").agg(pl.len().alias("n")).filter(pl.col("n") > 1)
    collided = matched.join(shared, on="fund_row", how="semi").select(
        "bill_row", pl.lit(True).alias("collided")
    )
    single = matched.join(shared, on="fund_row", how="anti")
    nearest = (
        claims.filter((pl.col("within") == 0) & pl.col("nearest_row").is_not_null())
        .select("bill_row", pl.col("nearest_row").alias("fund_row"))
        .join(single, on="fund_row", how="anti")
        .sort("bill_row")
        .unique(subset="fund_row", keep="first")
    )
    paid = pl.concat([single, nearest])
    return (
        claims.select("bill_row")
        .join(paid, on="bill_row", how="left")
        .join(collided, on="bill_row", how="left")
    )


def settle_against_funds(
    ordinary: pl.LazyFrame, settlement_rows: pl.LazyFrame, rules: CloseRules
) -> pl.LazyFrame:
    """Ordinary bill rows (bill_row, sub_order_id, settle_account, settle_amount,
    settled_at) and settlement fund rows (fund_row, flow_id, flow_time, account, signed,
    sub_order_id) -> per bill row: bill_row, funds_status, fund_row (paid), paid,
    paid_flow_id, candidates, time_warning."""
    fund = settlement_rows.select(
        "fund_row", "flow_id", "flow_time", "account", "signed", "sub_order_id"
    )
    bill = ordinary.select(
        "bill_row", "sub_order_id", "settle_account", "settle_amount", "settled_at"
    )
    candidates = bill.join(fund, on="sub_order_id", how="inner").with_columns(
        (pl.col("account").is_null() | pl.col("settle_account").is_null()
         | (pl.col("account") == pl.col("settle_account"))).alias("same_account"),
        (pl.col("signed") - pl.col("settle_amount")).abs().alias("distance"),
    ).with_columns(
        (pl.col("same_account") & (pl.col("distance") <= rules.tolerance_fen)).alias("within")
    )  # fmt: skip
    claims = _claims(candidates)
    out = (
        bill.join(claims, on="bill_row", how="left")
        .join(_attribution(claims), on="bill_row", how="left")
        .join(fund.select("fund_row", "flow_id", "flow_time", "signed"), on="fund_row", how="left")
    )
    n, same, within = pl.col("candidates").fill_null(0), pl.col("same_account"), pl.col("within")
    status = (
        pl.when(n == 0).then(pl.lit("missing-fund"))
        .when(same == 0).then(pl.lit("account-mismatch"))
        .when((within >= 2) | pl.col("collided").fill_null(False)).then(pl.lit("multiple-candidates"))
        .when(within == 1).then(pl.lit(MATCHED))
        .otherwise(pl.lit("amount-mismatch"))
    )  # fmt: skip
    out = out.with_columns(status.alias("funds_status"))
    used = pl.col("funds_status").is_in([MATCHED, "amount-mismatch"])
    late = (pl.col("flow_time") - pl.col("settled_at")).dt.total_seconds().abs()
    return out.select(
        "bill_row",
        "funds_status",
        pl.when(used).then(pl.col("fund_row")).alias("fund_row"),
        pl.when(used).then(pl.col("signed")).alias("paid"),
        pl.when(used).then(pl.col("flow_id")).alias("paid_flow_id"),
        n.alias("candidates"),
        ((pl.col("funds_status") == MATCHED) & (late > rules.settle_window_seconds)).alias(
            "time_warning"
        ),
    )
