"""reconciliation.csv of the close: one line per sub-order in any of the three records.

`status` is the statement-vs-bill status (empty for a sub-order only in the fund flow),
`funds_status` the bill-vs-funds status of its ordinary bill row (`fund-not-billed` when
only the fund flow settled it; `not-in-scope` when it has neither). `paid_net` is the
fund money attributed to the sub-order (its settlement row and refund groups; empty when
none), `difference` = billed - expected and `funds_difference` = paid - billed (a missing
side counts as 0). For a statement-vs-bill amount mismatch, `differs` names the
components that differ; they are shown in the bill's signs (expenses negative)."""

from __future__ import annotations

import polars as pl

SUB_ORDER_COLUMNS = (
    "sub_order_id", "shop_id", "status", "funds_status", "expected_net", "billed_net",
    "paid_net", "difference", "funds_difference", "differs", "expected_income",
    "billed_income", "expected_platform_fee", "billed_platform_fee", "expected_commission",
    "billed_commission",
)  # fmt: skip

#: component -> (ours, the bill's column, sign of ours in the bill's terms)
_COMPONENTS = {"income": ("income", "income_total", 1), "platform_fee": ("platform_fee", "platform_fee", -1),
               "commission": ("commission", "commission", -1)}  # fmt: skip


def _components(statement: pl.LazyFrame, bill: pl.LazyFrame) -> pl.LazyFrame:
    ours = statement.group_by("sub_order_id").agg(
        *((pl.col(c).sum() * sign).alias(f"expected_{name}") for name, (c, _, sign) in _COMPONENTS.items()),
        pl.col("shop_id").first().alias("__shop_statement"),
    )  # fmt: skip
    theirs = bill.group_by("sub_order_id").agg(
        *(pl.col(c).sum().alias(f"billed_{name}") for name, (_, c, _) in _COMPONENTS.items()),
        pl.col("shop_id").first().alias("__shop_bill"),
    )
    return ours.join(theirs, on="sub_order_id", how="full", coalesce=True)


def sub_order_rows(
    base: pl.DataFrame,
    statement: pl.LazyFrame,
    bill: pl.LazyFrame,
    funds: pl.LazyFrame,
    not_billed: pl.LazyFrame,
    refunds: pl.LazyFrame,
    fund: pl.LazyFrame,
) -> pl.LazyFrame:
    """The per-sub-order lines (SUB_ORDER_COLUMNS), by sub_order_id."""
    ordinary = funds.sort("bill_row").group_by("sub_order_id").agg(
        pl.col("funds_status").first(), pl.col("paid").sum().alias("__paid_bill"),
        pl.col("paid").is_not_null().any().alias("__has_bill"),
    )  # fmt: skip
    extra = pl.concat([
        not_billed.select("sub_order_id", pl.col("signed").alias("__paid")),
        refunds.filter(pl.col("paid").is_not_null()).select("sub_order_id", pl.col("paid").alias("__paid")),
    ]).group_by("sub_order_id").agg(pl.col("__paid").sum().alias("__paid_more"))  # fmt: skip
    flow = (
        fund.filter(pl.col("sub_order_id").is_not_null())
        .group_by("sub_order_id")
        .agg(pl.col("shop_id").first().alias("__shop_fund"))
    )
    fnb = not_billed.select("sub_order_id").unique().with_columns(pl.lit(True).alias("__fnb"))
    rows = base.lazy()
    for other in (ordinary, extra, flow, fnb, _components(statement, bill)):
        rows = rows.join(other, on="sub_order_id", how="full", coalesce=True)
    paid = pl.when(
        pl.col("__has_bill").fill_null(False) | pl.col("__paid_more").is_not_null()
    ).then(pl.col("__paid_bill").fill_null(0) + pl.col("__paid_more").fill_null(0))
    status = pl.coalesce(
        pl.col("funds_status"), pl.when(pl.col("__fnb")).then(pl.lit("fund-not-billed")), pl.lit("not-in-scope")
    )  # fmt: skip
    mismatch = pl.col("status") == "amount-mismatch"
    differs = pl.concat_str(
        [pl.when(pl.col(f"expected_{n}").fill_null(0) != pl.col(f"billed_{n}").fill_null(0)).then(pl.lit(n))
         for n in _COMPONENTS], separator=";", ignore_nulls=True,
    )  # fmt: skip
    shown = [pl.when(mismatch).then(pl.col(f"{side}_{n}")).alias(f"{side}_{n}")
             for n in _COMPONENTS for side in ("expected", "billed")]  # fmt: skip
    return (
        rows.with_columns(paid.alias("paid_net"))
        .select(
            "sub_order_id",
            pl.coalesce("__shop_statement", "__shop_bill", "__shop_fund").alias("shop_id"),
            "status",
            status.alias("funds_status"),
            "expected_net",
            "billed_net",
            "paid_net",
            "difference",
            (pl.col("paid_net").fill_null(0) - pl.col("billed_net").fill_null(0)).alias(
                "funds_difference"
            ),
            pl.when(mismatch).then(differs).alias("differs"),
            *shown,
        )
        .sort("sub_order_id")
    )
