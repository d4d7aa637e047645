"""Totals of the profit lines: per SKU, per shop and overall, and the loss makers.

Sums of cost and profit are over the lines that have a cost; `no_cost_lines` and
`no_cost_net` say how much was left out, and a group none of whose lines has a cost has
no cost and no profit (null). `margin_bp` = round_half_up(profit x 10000 / revenue of the
lines with a cost), null when that revenue is not positive. Revenue is `income` (what
the buyer paid plus the platform's, creator's and payment subsidies).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from pipeline.stages.profit.engine import COST_KEYS, LINE_TYPES, NO_COST
from pipeline.stages.settle.money import cost_floor, round_half_up_div

#: Totals in fen, per group and overall.
TOTALS = ("revenue", "platform_fee", "commission", "net", "cost", "fulfilment", "profit")


def _aggregates() -> list[pl.Expr]:
    has_cost = pl.col("cost_key") != NO_COST
    return [
        pl.len().alias("lines"),
        pl.col("line_quantity").sum().alias("quantity"),
        pl.col("income").sum().alias("revenue"),
        pl.col("platform_fee").sum(),
        pl.col("commission").sum(),
        pl.col("net").sum(),
        pl.col("cost").sum().alias("cost"),
        pl.col("fulfilment").sum(),
        pl.col("profit").sum().alias("profit"),
        (~has_cost).sum().cast(pl.Int64).alias("no_cost_lines"),
        pl.col("net").filter(~has_cost).sum().alias("no_cost_net"),
        pl.col("income").filter(has_cost).sum().alias("__costed_revenue"),
    ]


def _finish(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Null cost and profit for groups without any costed line; the margin."""
    none = pl.col("no_cost_lines") == pl.col("lines")
    margin = pl.when(pl.col("__costed_revenue") > 0).then(
        round_half_up_div(pl.col("profit") * 10_000, pl.col("__costed_revenue"))
    )
    return (
        frame.with_columns(
            pl.when(~none).then(pl.col("cost")).alias("cost"),
            pl.when(~none).then(pl.col("profit")).alias("profit"),
        )
        .with_columns(pl.when(~none).then(margin).alias("margin_bp"))
        .drop("__costed_revenue")
    )


def sku_of(lines: pl.LazyFrame) -> pl.Expr:
    """The SKU a line is counted under: its SKU ID, else 商家编码, else 货号 (those of the
    order row; null when it has none)."""
    keys = [k for k in COST_KEYS if k in lines.collect_schema()]
    return (pl.coalesce(*keys) if keys else pl.lit(None, pl.String)).alias("sku")


def by_sku(lines: pl.LazyFrame) -> pl.LazyFrame:
    """One row per shop, 商品ID and SKU, sorted so; with the unit cost and goods income."""
    title = [pl.col("product_title").drop_nulls().first()] if "product_title" in (
        lines.collect_schema()
    ) else []  # fmt: skip
    grouped = lines.with_columns(sku_of(lines)).group_by("shop_id", "product_id", "sku")
    frame = grouped.agg(
        *title,
        pl.col("unit_cost").max().alias("unit_cost"),
        pl.col("fee_basis").sum().alias("__goods_income"),
        *_aggregates(),
    )
    return _finish(frame).sort("shop_id", "product_id", "sku", nulls_last=True)


def by_shop(lines: pl.LazyFrame) -> pl.LazyFrame:
    return _finish(lines.group_by("shop_id").agg(*_aggregates())).sort("shop_id")


def loss_makers(skus: pl.LazyFrame, min_margin_bp: int) -> pl.LazyFrame:
    """SKUs with a negative profit, worst first: their average goods price per unit sold
    and the lowest price that reaches the minimum margin over cost (`min_price`, the
    price guard's cost floor)."""
    sold = pl.col("quantity")
    return (
        skus.filter(pl.col("profit") < 0)
        .with_columns(
            pl.when(sold > 0)
            .then(round_half_up_div(pl.col("__goods_income"), sold))
            .alias("avg_price"),
            pl.lit(min_margin_bp, pl.Int64).alias("min_margin_bp"),
            cost_floor(pl.col("unit_cost"), min_margin_bp).alias("min_price"),
        )
        .sort("profit", "shop_id", "product_id", "sku", nulls_last=True)
        .drop("__goods_income")
    )


def totals_dict(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in (*TOTALS, "lines", "quantity", "no_cost_lines", "no_cost_net",
                               "margin_bp")}  # fmt: skip


def summary(lines: pl.DataFrame, shops: pl.DataFrame, losers: int) -> dict[str, Any]:
    """summary.json's counts and fen totals, overall and per shop."""
    overall = _finish(lines.lazy().select(_aggregates())).collect().row(0, named=True)
    kinds = lines.get_column("line_type").value_counts()
    count = dict(zip(kinds["line_type"].to_list(), kinds["count"].to_list(), strict=True))
    keys = lines.get_column("cost_key").value_counts()
    by_key = dict(zip(keys["cost_key"].to_list(), keys["count"].to_list(), strict=True))
    return {
        "line_types": {t: int(count.get(t, 0)) for t in LINE_TYPES},
        "cost_keys": {k: int(by_key.get(k, 0)) for k in (*COST_KEYS, NO_COST)},
        "no_order_lines": int(lines.get_column("quantity").null_count()),
        "loss_makers": losers,
        "totals": totals_dict(overall),
        "per_shop": [
            {"shop_id": r["shop_id"], **totals_dict(r)} for r in shops.iter_rows(named=True)
        ],
    }
