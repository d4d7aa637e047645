"""Internal consistency: the bill's four formulas per row, and the order export's payable
recheck. Each failing formula of a row is one output line with both sides and the
difference (left - right, fen); a formula with an empty cell is not checked."""

from __future__ import annotations

import polars as pl

#: formula -> (left side, the columns summed on the right), as the bill writes them
#: (expenses are negative numbers)
BILL_FORMULAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "order-total": ("order_total", ("goods_total", "freight")),
    "income-total": (
        "income_total",
        ("buyer_paid", "platform_subsidy", "creator_subsidy", "payment_subsidy", "monthly_pay_subsidy"),
    ),
    "expense-total": (
        "expense_total",
        ("platform_fee", "commission", "channel_share", "recruiter_fee", "offsite_promotion_fee", "other_share"),
    ),
    "settle-amount": ("settle_amount", ("income_total", "expense_total")),
}  # fmt: skip

BILL_CHECK_COLUMNS = (
    "shop_id", "sub_order_id", "bill_type", "formula", "left", "right", "difference",
    "source_file", "source_row",
)  # fmt: skip
ORDER_CHECK_COLUMNS = (
    "shop_id", "sub_order_id", "payable", "computed", "difference", "source_file", "source_row",
)  # fmt: skip


def _failures(frame: pl.LazyFrame, left: pl.Expr, right: pl.Expr, tolerance: int) -> pl.LazyFrame:
    diff = left - right
    return frame.with_columns(left.alias("left"), right.alias("right"), diff.alias("difference")).filter(
        pl.col("difference").is_not_null() & (pl.col("difference").abs() > tolerance)
    )  # fmt: skip


def bill_checks(bill: pl.LazyFrame, tolerance: int) -> pl.LazyFrame:
    """Bill rows (with `bill_row`) -> one line per failing formula, in bill then formula
    order (BILL_CHECK_COLUMNS)."""
    frames = []
    for number, (name, (left, terms)) in enumerate(BILL_FORMULAS.items()):
        right = pl.sum_horizontal(terms).alias("right")
        given = pl.all_horizontal(pl.col(c).is_not_null() for c in (left, *terms))
        failing = _failures(bill.filter(given), pl.col(left), right, tolerance)
        frames.append(
            failing.with_columns(
                pl.lit(name).alias("formula"), pl.lit(number, pl.Int32).alias("__formula")
            )
        )
    return (
        pl.concat(frames)
        .sort("bill_row", "__formula")
        .select(*BILL_CHECK_COLUMNS, "bill_row", "__formula")
    )


def order_checks(orders: pl.LazyFrame, discounts: tuple[str, ...], tolerance: int) -> pl.LazyFrame:
    """Order rows -> those whose 订单应付金额 is not 商品单价 x 商品数量 + 运费 less the
    policy's discounts (an empty freight or discount, or a column the export does not
    have, counts as 0; a row without 商品单价 is not checked), in input order."""
    names = set(orders.collect_schema().names())
    minus = [pl.col(c).fill_null(0) for c in discounts if c in names]
    freight = pl.col("freight").fill_null(0) if "freight" in names else pl.lit(0)
    computed = (
        pl.col("unit_price") * pl.col("quantity")
        + freight
        - pl.sum_horizontal(minus or [pl.lit(0)])
    )
    shop = pl.col("shop_id") if "shop_id" in names else pl.lit(None, pl.String).alias("shop_id")
    return _failures(orders.with_columns(shop), pl.col("payable"), computed, tolerance).select(
        *ORDER_CHECK_COLUMNS[:2],
        pl.col("left").alias("payable"),
        pl.col("right").alias("computed"),
        *ORDER_CHECK_COLUMNS[4:],
    )  # fmt: skip
