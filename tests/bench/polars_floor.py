"""The floor: the same settlement as `duckdb_settle.py` in polars, reading only the
columns settlement needs and doing the same arithmetic, without any validation.

    python -m tests.bench.polars_floor --orders orders.csv ... --period 2026-10-H1 \
        --policy pipeline/policies/default/settlement.toml --out OUT

One lazy plan, run by the streaming engine; its two sinks (OUT/statement.parquet and
OUT/excluded.parquet) share the scan (`pl.collect_all`). OUT/summary.json then holds
doudian's totals for the check. Rows are not sorted.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tests.bench.common import (
    ALLIANCE,
    CLOSED_STATUSES,
    LINE_TYPES,
    REASONS,
    REFUNDED,
    STATEMENT_COLUMNS,
    TOTALS,
    H,
    load_policy,
    peer_arguments,
    summary,
    window,
    write_summary,
)


def scan(path: str, columns: dict[str, str]) -> pl.LazyFrame:
    """The raw text cells of `columns` (header -> name); nothing else is read."""
    if path.endswith(".parquet"):
        frame = pl.scan_parquet(path)
    else:
        frame = pl.scan_csv(path, infer_schema=False, encoding="utf8")
    return frame.select(pl.col(h).alias(n) for h, n in columns.items())


def ident(e: pl.Expr) -> pl.Expr:
    return e.str.strip_chars_start("\t")


def none(e: pl.Expr) -> pl.Expr:
    return pl.when(e.is_in(["", "-"])).then(None).otherwise(e)


def fen(e: pl.Expr) -> pl.Expr:
    """Yuan text to fen exactly (decimal, never a float)."""
    text = none(e).str.replace_all(",", "", literal=True)
    return (text.cast(pl.Decimal(18, 2)) * 100).cast(pl.Int64)


def timestamp(e: pl.Expr) -> pl.Expr:
    return none(e).str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S")


def state(status: pl.Expr, method: pl.Expr | None) -> pl.Expr:
    closed = status.is_in(CLOSED_STATUSES)
    if method is not None:
        closed = closed | (method == "无需退款").fill_null(False)
    return (
        pl.when(status.str.contains(REFUNDED))
        .then(pl.lit("refunded"))
        .when(closed)
        .then(pl.lit("closed"))
        .otherwise(pl.lit("open"))
    )


def half_up(num: pl.Expr, den: int) -> pl.Expr:
    magnitude = (num.abs() * 2 + den) // (den * 2)
    return pl.when(num < 0).then(-magnitude).otherwise(magnitude)


def plan(args, policy: dict) -> pl.LazyFrame:
    start, end = window(args.period)
    money = ["payable", "freight", "platform_discount", "creator_discount", "payment_discount"]
    ids = ["order_id", "sub_order_id", "product_id"]
    texts = ["shop_id", "order_status", "after_sale_status", "traffic_source"]
    orders = scan(args.orders, {H[n]: n for n in [*ids, *money, *texts, "received_at"]}).select(
        *(ident(pl.col(n)).alias(n) for n in ids),
        *(none(pl.col(n)).alias(n) for n in texts),
        fen(pl.col("payable")).alias("payable"),
        *(fen(pl.col(n)).fill_null(0).alias(n) for n in money[1:]),
        timestamp(pl.col("received_at")).alias("received_at"),
    )
    raw_as = scan(
        args.after_sales,
        {
            H["as_sub_order_id"]: "sub_order_id",
            H["as_status"]: "status",
            H["as_refund_goods"]: "refund_goods",
            H["as_refund_freight"]: "refund_freight",
            H["as_refund_method"]: "method",
        },
    )
    refunded = pl.col("state") == "refunded"
    after_sales = (
        raw_as.select(
            ident(pl.col("sub_order_id")).alias("sub_order_id"),
            state(none(pl.col("status")), none(pl.col("method"))).alias("state"),
            fen(pl.col("refund_goods")).fill_null(0).alias("refund_goods"),
            fen(pl.col("refund_freight")).fill_null(0).alias("refund_freight"),
        )
        .group_by("sub_order_id")
        .agg(
            pl.len().cast(pl.Int64).alias("as_count"),
            refunded.any().alias("has_refund"),
            pl.col("refund_goods").filter(refunded).sum(),
            pl.col("refund_freight").filter(refunded).sum(),
            (pl.col("state") == "open").any().alias("any_open"),
        )
    )
    categories = (
        scan(args.products, {H["p_product_id"]: "product_id", H["p_category"]: "category"})
        .select(
            ident(pl.col("product_id")).alias("product_id"),
            none(pl.col("category")).alias("category"),
        )
        .group_by("product_id")
        .agg(pl.col("category").min())
    )
    commissions = scan(
        args.commissions, {H["c_sub_order_id"]: "sub_order_id", H["c_commission"]: "commission"}
    ).select(
        ident(pl.col("sub_order_id")).alias("sub_order_id"),
        fen(pl.col("commission")).alias("file_commission"),
    )
    frame = (
        orders.join(after_sales, on="sub_order_id", how="left")
        .join(categories, on="product_id", how="left")
        .join(commissions, on="sub_order_id", how="left")
    )
    fallback = pl.col("as_count").is_null() & pl.col("after_sale_status").is_not_null()
    order_state = state(pl.col("after_sale_status"), None)
    goods = pl.col("payable") - pl.col("freight")
    frame = frame.with_columns(
        pl.when(fallback).then(1).otherwise(pl.col("as_count").fill_null(0)).alias("as_count"),
        pl.when(fallback).then(order_state == "refunded").otherwise(pl.col("has_refund").fill_null(False)).alias("has_refund"),
        pl.when(fallback & (order_state == "refunded")).then(goods).otherwise(pl.col("refund_goods").fill_null(0)).alias("refund_goods"),
        pl.when(fallback).then(0).otherwise(pl.col("refund_freight").fill_null(0)).alias("refund_freight"),
        pl.when(fallback).then(order_state == "open").otherwise(pl.col("any_open").fill_null(False)).alias("any_open"),
    )  # fmt: skip
    received = pl.col("received_at")
    outcome = (
        pl.when((pl.col("order_status") != "已完成").fill_null(True) | received.is_null())
        .then(pl.lit("not-received"))
        .when(received >= end)
        .then(pl.lit("received-after-window"))
        .when(pl.col("has_refund") & (pl.col("refund_goods") >= goods))
        .then(pl.lit("refunded"))
        .when((received >= start) & (pl.col("as_count") == 0))
        .then(pl.lit("sale"))
        .when(pl.col("any_open") | ((received >= start) & (pl.col("as_count") > 0)))
        .then(pl.lit("after-sale"))
        .when(received >= start)  # the ledger starts at the window start on a first run
        .then(pl.lit("carry-over"))
        .otherwise(pl.lit("already-settled"))
    )
    carry = pl.col("outcome") == "carry-over"
    rate = pl.col("category").replace_strict(
        policy["fee_bp"], default=policy["default_fee_bp"], return_dtype=pl.Int64
    )
    commission_rate = pl.col("product_id").replace_strict(
        policy["commission_bp"], default=None, return_dtype=pl.Int64
    )
    frame = frame.with_columns(outcome.alias("outcome")).with_columns(
        pl.when(carry).then(pl.col("payable") - pl.col("refund_goods") - pl.col("refund_freight")).otherwise(pl.col("payable")).alias("payable"),
        pl.when(carry).then(pl.col("freight") - pl.col("refund_freight")).otherwise(pl.col("freight")).alias("freight"),
        rate.alias("platform_fee_rate_bp"),
    )  # fmt: skip
    frame = frame.with_columns(
        (pl.col("payable") + pl.col("platform_discount") + pl.col("creator_discount") + pl.col("payment_discount")).alias("income")
    ).with_columns((pl.col("income") - pl.col("freight")).alias("fee_basis"))  # fmt: skip
    frame = frame.with_columns(
        half_up(pl.col("fee_basis") * pl.col("platform_fee_rate_bp"), 10_000).alias("platform_fee"),
        pl.coalesce(
            pl.col("file_commission"),
            pl.when(pl.col("traffic_source") == ALLIANCE).then(half_up(pl.col("fee_basis") * commission_rate, 10_000)),
            pl.lit(0, pl.Int64),
        ).alias("commission"),
    ).with_columns(
        (pl.col("income") - pl.col("platform_fee") - pl.col("commission")).alias("net"),
        pl.lit(args.period).alias("period"),
        pl.lit(end.date()).alias("settle_date"),
        pl.col("outcome").alias("line_type"),
    )  # fmt: skip
    return frame


def main() -> None:
    args = peer_arguments(__doc__.splitlines()[0])
    policy = load_policy(args.policy)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frame = plan(args, policy)
    lines = frame.filter(pl.col("outcome").is_in(LINE_TYPES)).select(STATEMENT_COLUMNS)
    excluded = frame.filter(pl.col("outcome").is_in(REASONS)).select(
        "sub_order_id", "shop_id", pl.col("outcome").alias("reason")
    )
    pl.collect_all(
        [
            lines.sink_parquet(out / "statement.parquet", lazy=True),
            excluded.sink_parquet(out / "excluded.parquet", lazy=True),
        ],
        engine="streaming",
    )
    by_type = (
        pl.scan_parquet(out / "statement.parquet")
        .group_by("shop_id", "line_type")
        .agg(pl.len(), *(pl.col(c).sum() for c in TOTALS))
        .collect()
    )
    by_reason = (
        pl.scan_parquet(out / "excluded.parquet").group_by("shop_id", "reason").len().collect()
    )
    write_summary(out, summary(args.period, by_type.rows(), by_reason.rows()))


if __name__ == "__main__":
    main()
