"""Profit per settled line, as one lazy polars plan (integer fen throughout).

In: the statement lines of one period (`pipeline.stages.settle.engine.STATEMENT_COLUMNS`), the
sub-orders that period excluded as `refunded`, the valid order rows (for 商品数量, the
cost keys and the order's own amounts) and the valid cost rows. Out: one row per
statement line, plus one `refunded` line per sub-order refunded in full before it
settled and received in the period's window (net 0), with

- `cost_key`: the cost file column that gave the line its 成本价 (`sku_id`, then
  `merchant_code`, then `item_no`, the first that the order row and a cost row share),
  or `no-cost`; `unit_cost` (fen);
- `line_quantity`: the units this line sells (a sale: 商品数量; a carry-over: less the
  refunded units; a clawback: minus the refunded units; a refunded line: 0). Refunded
  units are round_half_up(商品数量 x refunded goods / goods value of the order row);
- `cost` = unit_cost x units (see `ProfitPolicy` for what returned goods are worth),
  null without a unit cost (never taken as 0);
- `fulfilment`: the policy's fee per parcel, once per 主订单 and period, shared over its
  sale, carry-over and refunded lines (the first lines by 子订单编号 take the fen left over);
- `profit` = net - cost - fulfilment, null when the cost is.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from pipeline.stages.profit.policy import ProfitPolicy
from pipeline.stages.settle.money import share

#: Cost file columns a line may be matched by, in order of preference. Only those that
#: both the order rows and the cost rows have are used.
COST_KEYS = ("sku_id", "merchant_code", "item_no")
NO_COST = "no-cost"
LINE_TYPES = ("sale", "carry-over", "clawback", "refunded")
MONEY = ("income", "fee_basis", "platform_fee", "commission", "net")

#: The order row's columns a line takes (those the orders have).
ORDER_COLUMNS = ("quantity", "product_title", "sku_spec", *COST_KEYS)


def _present(frame: pl.LazyFrame, names: tuple[str, ...]) -> list[str]:
    schema = frame.collect_schema()
    return [n for n in names if n in schema]


def key_columns(orders: pl.LazyFrame, costs: pl.LazyFrame) -> list[str]:
    """The COST_KEYS both frames have, in order of preference."""
    on_costs = set(_present(costs, COST_KEYS))
    return [k for k in _present(orders, COST_KEYS) if k in on_costs]


def _order_rows(orders: pl.LazyFrame) -> pl.LazyFrame:
    """One row per 子订单编号 (the first), with what a profit line takes from it."""
    kept = _present(orders, ORDER_COLUMNS)
    return orders.unique(subset="sub_order_id", keep="first", maintain_order=True).select(
        "sub_order_id",
        *kept,
        (pl.col("payable") - pl.col("freight").fill_null(0)).alias("__order_goods"),
        pl.col("order_id").alias("__order_id"),
        pl.col("product_id").alias("__product_id"),
        pl.col("received_at").alias("__received_at"),
    )


def refunded_lines(
    excluded: pl.LazyFrame, orders: pl.LazyFrame, period: str, settle_date: dt.date,
    window: tuple[dt.datetime, dt.datetime], statement_schema: pl.Schema,
) -> pl.LazyFrame:  # fmt: skip
    """The period's `refunded` exclusions received in its window, as lines of net 0 in the
    statement's columns (the order row gives the order, product and receipt time)."""
    start, end = window
    found = excluded.filter(pl.col("reason") == "refunded").join(
        _order_rows(orders), on="sub_order_id", how="inner", maintain_order="left"
    )
    found = found.filter((pl.col("__received_at") >= start) & (pl.col("__received_at") < end))
    values = {
        "period": pl.lit(period),
        "settle_date": pl.lit(settle_date),
        "line_type": pl.lit("refunded"),
        "order_id": pl.col("__order_id"),
        "product_id": pl.col("__product_id"),
        "received_at": pl.col("__received_at"),
        "platform_fee_rate_bp": pl.lit(None),
    }
    return found.select(
        values.get(name, pl.lit(0) if name not in ("shop_id", "sub_order_id") else pl.col(name))
        .cast(dtype)
        .alias(name)
        for name, dtype in statement_schema.items()
    )


def _with_costs(lines: pl.LazyFrame, costs: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """`cost_key` and `unit_cost`: the first cost row (file order) of the first key that
    matches."""
    for key in keys:
        table = (
            costs.filter(pl.col(key).is_not_null())
            .unique(subset=key, keep="first", maintain_order=True)
            .select(key, pl.col("cost").alias(f"__cost_{key}"))
        )
        lines = lines.join(table, on=key, how="left", maintain_order="left")
    chain = pl.when(pl.lit(False)).then(pl.lit(None, pl.String))
    for key in keys:
        chain = chain.when(pl.col(f"__cost_{key}").is_not_null()).then(pl.lit(key))
    found = [f"__cost_{k}" for k in keys]
    return lines.with_columns(
        chain.otherwise(pl.lit(NO_COST)).alias("cost_key"),
        (pl.coalesce(*found) if found else pl.lit(None, pl.Int64)).alias("unit_cost"),
    ).drop(found)


def _units(policy: ProfitPolicy) -> tuple[pl.Expr, pl.Expr]:
    """The units a line sells and the units whose cost it carries."""
    kind = pl.col("line_type")
    quantity = pl.col("quantity")
    line_goods = pl.col("payable") - pl.col("freight")
    refunded_goods = (
        pl.when(kind == "clawback")
        .then(-line_goods)
        .otherwise(pl.col("__order_goods") - line_goods)
    )
    back = share(quantity, refunded_goods, pl.col("__order_goods")).clip(0, quantity)
    sold = (
        pl.when(kind == "clawback")
        .then(-back)
        .when(kind == "refunded")
        .then(0)
        .when(kind == "carry-over")
        .then(quantity - back)
        .otherwise(quantity)
    )
    if policy.returned_goods_keep_value:
        lost = quantity if policy.refunded_goods_lost else pl.lit(0, pl.Int64)
        costed = pl.when(kind == "refunded").then(lost).otherwise(sold)
    else:  # returned goods are written off: every shipped unit keeps its cost
        costed = pl.when(kind == "clawback").then(0).otherwise(quantity)
    return sold.alias("line_quantity"), costed.alias("__costed_units")


def _fulfilment(policy: ProfitPolicy) -> pl.Expr:
    """The fee per parcel shared over the order's shipping lines of the period; the
    fen left over go one each to its first lines by 子订单编号."""
    fee = policy.fulfilment_fen_per_parcel
    ships = pl.col("line_type") != "clawback"
    group = [pl.col("order_id"), ships]
    n = pl.len().over(group)
    rank = pl.col("sub_order_id").rank("ordinal").over(group)
    part = pl.lit(fee, pl.Int64) // n + (rank <= pl.lit(fee, pl.Int64) % n).cast(pl.Int64)
    return pl.when(ships).then(part).otherwise(0).cast(pl.Int64).alias("fulfilment")


def profit_lines(
    lines: pl.LazyFrame, orders: pl.LazyFrame, costs: pl.LazyFrame, policy: ProfitPolicy
) -> pl.LazyFrame:
    """Every line (statement lines and `refunded` lines, in their order) with its cost
    and profit: PROFIT_COLUMNS (with the COST_KEYS the orders have)."""
    keys = key_columns(orders, costs)
    frame = lines.join(_order_rows(orders), on="sub_order_id", how="left", maintain_order="left")
    frame = _with_costs(frame, costs, keys)
    sold, costed = _units(policy)
    frame = frame.with_columns(sold, costed, _fulfilment(policy))
    cost = pl.col("unit_cost") * pl.col("__costed_units")
    frame = frame.with_columns(cost.alias("cost")).with_columns(
        (pl.col("net") - pl.col("cost") - pl.col("fulfilment")).alias("profit")
    )
    order_keys = _present(orders, COST_KEYS)
    return frame.select(
        "period", "line_type", "shop_id", "order_id", "sub_order_id", "product_id",
        *order_keys, *_present(orders, ("product_title", "sku_spec")), "quantity",
        "line_quantity", *MONEY, "cost_key", "unit_cost", "cost", "fulfilment", "profit",
    )  # fmt: skip
