"""What the report shows, gathered from a run's output folder for one period and a set
of shops: the statement (OUT/settlement/PERIOD), the reconciliation
(OUT/reconciliation/PERIOD, when there), the profit (OUT/profit/PERIOD, when there) and,
when the order rows are given, the amounts held back and the 60-day spot share."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipeline.errors import InputError
from pipeline.stages.settle.engine import REASONS
from pipeline.stages.settle.periods import Period
from pipeline.stages.shipping.plan import ShippingPolicy, spot_flag, window

#: Exclusion reasons that hold money back from this period (already-settled was paid).
HELD_REASONS = tuple(r for r in REASONS if r != "already-settled")
RECONCILIATION_COLUMNS = ("sub_order_id", "status", "expected_net", "billed_net", "difference")


@dataclass
class ReportData:
    period: Period
    shops: list[str]
    statement: pl.DataFrame  # STATEMENT_COLUMNS
    excluded: pl.DataFrame  # sub_order_id, shop_id, reason [, payable, received_at, title]
    reconciliation: pl.DataFrame | None  # RECONCILIATION_COLUMNS + shop_id
    profit_lines: pl.DataFrame | None  # OUT/profit/PERIOD/profit.parquet
    profit_shops: pl.DataFrame | None  # by_shop.csv
    loss_makers: pl.DataFrame | None  # loss_makers.csv
    spot: pl.DataFrame | None  # shop_id, as_of, spot, total
    notes: list[str] = field(default_factory=list)  # what is missing, for the reader


_IDS = {c: pl.String for c in ("shop_id", "product_id", "sub_order_id", "order_id", "sku",
                                "sku_id", "merchant_code", "item_no")}  # fmt: skip


def _csv(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, schema_overrides=_IDS, infer_schema_length=None)


def _in_shops(frame: pl.DataFrame, shops: list[str]) -> pl.DataFrame:
    return frame.filter(pl.col("shop_id").is_in(shops))


def _reconciliation(folder: Path, statement: pl.DataFrame, notes: list[str]) -> pl.DataFrame | None:
    path = folder / "reconciliation.csv"
    if not path.is_file():
        notes.append("未对账：没有本期的对账结果 (doudian reconcile)")
        return None
    rows = _csv(path)
    if not set(RECONCILIATION_COLUMNS) <= set(rows.columns):
        notes.append(f"对账结果 {path} 的列不认识，未使用")
        return None
    shop_of = statement.select("sub_order_id", "shop_id").unique("sub_order_id", keep="first")
    return rows.select(RECONCILIATION_COLUMNS).join(
        shop_of, on="sub_order_id", how="left", maintain_order="left"
    )


def _profit(folder: Path, notes: list[str]) -> tuple[pl.DataFrame | None, ...]:
    if not (folder / "summary.json").is_file():
        notes.append("未计算利润：没有本期的利润结果 (doudian profit)")
        return None, None, None
    lines = pl.read_parquet(folder / "profit.parquet")
    return lines, _csv(folder / "by_shop.csv"), _csv(folder / "loss_makers.csv")


def spot_by_day(orders: pl.LazyFrame, days: list[dt.date], policy: ShippingPolicy) -> pl.DataFrame:
    """Per shop and as-of day: the spot and all paid sub-orders of the window_days
    before it (the measure of `doudian check tiered-shipping`, for each day)."""
    first, _ = window(days[0], policy.window_days)
    _, last = window(days[-1], policy.window_days)
    daily = (
        orders.filter(pl.col("paid_at").is_not_null())
        .filter((pl.col("paid_at") >= first) & (pl.col("paid_at") < last))
        .group_by("shop_id", pl.col("paid_at").dt.date().alias("paid"))
        .agg(pl.col("paid_at").len().alias("total"), spot_flag(policy).sum())
        .collect()
    )
    as_of = pl.DataFrame({"as_of": days})
    joined = daily.join(as_of, how="cross").filter(
        (pl.col("paid") < pl.col("as_of"))
        & (pl.col("paid") >= pl.col("as_of") - pl.duration(days=policy.window_days))
    )
    return (
        joined.group_by("shop_id", "as_of")
        .agg(pl.col("spot").sum().cast(pl.Int64), pl.col("total").sum().cast(pl.Int64))
        .sort("shop_id", "as_of")
    )


def _held_amounts(excluded: pl.DataFrame, orders: pl.LazyFrame) -> pl.DataFrame:
    found = orders.select(
        "sub_order_id", "payable", "received_at",
        *(c for c in ("product_title",) if c in orders.collect_schema()),
    ).unique("sub_order_id", keep="first")  # fmt: skip
    return (
        excluded.lazy().join(found, on="sub_order_id", how="left", maintain_order="left").collect()
    )


def gather(
    out_root: Path,
    period: Period,
    shops: list[str] | None = None,
    orders: pl.LazyFrame | None = None,
    shipping: ShippingPolicy | None = None,
) -> ReportData:
    """Read what the report needs; InputError when the period was not settled."""
    folder = out_root / "settlement" / period.id
    if not (folder / "statement.parquet").is_file():
        raise InputError(str(folder), "has no statement.parquet: settle the period first",
                         f"doudian settle --period {period.id} --out {out_root} ...")  # fmt: skip
    statement = pl.read_parquet(folder / "statement.parquet")
    excluded = _csv(folder / "excluded.csv")
    known = sorted(set(statement["shop_id"]) | set(excluded["shop_id"].drop_nulls()))
    chosen = known if not shops else sorted(shops)
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise InputError(
            str(folder), f"has no shop {', '.join(unknown)} (shops: {', '.join(known)})"
        )
    notes: list[str] = []
    statement, excluded = _in_shops(statement, chosen), _in_shops(excluded, chosen)
    reconciliation = _reconciliation(out_root / "reconciliation" / period.id, statement, notes)
    lines, by_shop, losers = _profit(out_root / "profit" / period.id, notes)
    spot = None
    if orders is not None:
        chosen_orders = orders.filter(pl.col("shop_id").is_in(chosen))
        excluded = _held_amounts(excluded, chosen_orders)
        if shipping is not None:
            days = pl.date_range(period.start_date + dt.timedelta(days=1), period.end_date,
                                 eager=True).to_list()  # fmt: skip
            spot = spot_by_day(chosen_orders, days, shipping)
    else:
        notes.append("未提供订单导出 (--orders)：未结算金额与60天现货率不显示")
    return ReportData(
        period, chosen, statement, excluded, reconciliation,
        None if lines is None else _in_shops(lines, chosen),
        None if by_shop is None else _in_shops(by_shop, chosen),
        None if losers is None else _in_shops(losers, chosen),
        spot, notes,
    )  # fmt: skip


def reconciliation_summary(out_root: Path, period: Period) -> dict | None:
    path = out_root / "reconciliation" / period.id / "summary.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
