"""The close a range of 子订单号 at a time.

Every rule of the close that joins the bill, the fund flow and the statement works
within one sub-order (candidates, groups, attribution, the per-sub-order lines), so
the sub-orders can be closed in parts, each alone: memory is bounded by a part, not by
the cycle. The parts are ranges of 子订单号 (the first one also holds the rows without
one), so the per-sub-order lines of the parts, one after the other, are in 子订单号
order. The cut points come from a sample of the rows (every so many): the parts are
about the same size."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from pipeline.stages.close.funds import settle_against_funds
from pipeline.stages.close.other import classify, refund_candidate, settlement_candidate
from pipeline.stages.close.policy import CloseRules
from pipeline.stages.close.refunds import refunds_against_funds
from pipeline.stages.close.scope import FundScope, not_in_scope
from pipeline.stages.close.subs import sub_order_rows
from pipeline.stages.close.summary import fund_places
from pipeline.stages.reconcile import reconcile, summarize

#: rows (bill, fund flow and statement together) per part
ROWS_PER_PART = 500_000
#: IDs sampled per part to find the cut points
_SAMPLE_PER_PART = 64

Stage = Callable[[pl.LazyFrame], pl.LazyFrame]


def ranges(
    frames: list[pl.LazyFrame], rows_per_part: int = ROWS_PER_PART, name: str = "sub_order_id"
) -> list[pl.Expr]:
    """Filters on the text column `name` cutting the rows of `frames` into parts of
    about `rows_per_part` rows, in that column's order (nulls in the first part; the
    rows of one value in one part). Without the column: one part."""
    if any(name not in f.collect_schema().names() for f in frames):
        return [pl.lit(True)]
    key = pl.col(name)
    ids = pl.concat([f.select(key.cast(pl.String)) for f in frames])
    n = ids.select(pl.len()).collect(engine="streaming").item()
    parts = -(-n // rows_per_part)
    if parts <= 1:
        return [pl.lit(True)]
    step = max(1, n // (parts * _SAMPLE_PER_PART))
    sample = (
        ids.with_row_index("__n")
        .filter((pl.col("__n") % step == 0) & key.is_not_null())
        .collect(engine="streaming")
        .get_column(name)
        .sort()
    )
    cuts = sorted({sample[i * len(sample) // parts] for i in range(1, parts) if len(sample)})
    bounds: list[str | None] = [None, *cuts, None]
    return [_between(key, lo, hi) for lo, hi in zip(bounds, bounds[1:], strict=False)]


def _between(key: pl.Expr, lo: str | None, hi: str | None) -> pl.Expr:
    if lo is None:
        return pl.lit(True) if hi is None else key.is_null() | (key < hi)
    return key >= lo if hi is None else (key >= lo) & (key < hi)


def by_row_number(
    frame: pl.LazyFrame, column: str, stage: Stage, rows_per_part: int
) -> pl.LazyFrame:
    """`frame` sorted by its row-number `column` (distinct whole numbers from 0), a
    range of numbers at a time: no sort holds more than `rows_per_part` rows."""
    top = frame.select(pl.col(column).max()).collect(engine="streaming").item()
    if top is None or top < rows_per_part:
        return frame.sort(column)
    number = pl.col(column)
    return pl.concat([
        stage(frame.filter((number >= lo) & (number < lo + rows_per_part)).sort(column))
        for lo in range(0, top + 1, rows_per_part)
    ])  # fmt: skip


@dataclass(frozen=True)
class Part:
    """The staged frames of one part (each a scan of a scratch file) and the counts of
    its statement-vs-bill lines."""

    bill: pl.LazyFrame  # the bill rows (bill_row, bill_class)
    fund: pl.LazyFrame  # the fund rows (fund_row, signed)
    funds: pl.LazyFrame  # per ordinary bill row: its bill-vs-funds status
    not_billed: pl.LazyFrame  # fund-not-billed fund rows
    refunds: pl.LazyFrame  # per refund bill row
    other: pl.LazyFrame  # classified fund rows (unsorted)
    away: pl.LazyFrame  # fund rows not in scope
    places: pl.LazyFrame  # (shop_id, place) per fund row
    subs: pl.LazyFrame  # the per-sub-order lines, by sub_order_id
    counts: dict[str, int]  # summarize() of the part's statement-vs-bill lines
    lines: int


def close_part(
    stage: Stage,
    bill: pl.LazyFrame,
    fund: pl.LazyFrame,
    statement: pl.LazyFrame,
    scope: FundScope | None,
    context: Callable[[pl.LazyFrame, pl.LazyFrame], pl.LazyFrame],
    rules: CloseRules,
) -> Part:
    """Close the sub-orders of one part: its bill rows (with bill_row, bill_class), fund
    rows (with fund_row, signed), statement lines and the bill rows of other cycles
    (`scope.elsewhere`) of the same sub-orders. `context(refund_rows, statement)` adds
    our clawback and the after-sale to the refund lines."""
    ordinary = bill.filter(pl.col("bill_class") == "ordinary")
    settle = fund.filter(settlement_candidate(rules))
    funds = stage(settle_against_funds(ordinary, settle, rules).join(
        bill.select("bill_row", "shop_id", "sub_order_id", "settle_amount"), on="bill_row"
    ))  # fmt: skip
    refund_rows, refund_used = refunds_against_funds(
        bill.filter(pl.col("bill_class") == "refund"),
        fund.filter(refund_candidate(rules) & pl.col("sub_order_id").is_not_null()),
        ordinary,
        rules,
    )
    refund_rows = stage(context(refund_rows, statement))
    refund_used = stage(refund_used)
    taken = pl.concat(
        [funds.select(pl.col("fund_row").drop_nulls()), refund_used.select("fund_row")]
    )
    untaken = fund.join(taken, on="fund_row", how="anti")
    away = stage(not_in_scope(untaken, bill, scope, rules))
    untaken = untaken.join(away, on="fund_row", how="anti")
    not_billed = stage(
        untaken.filter(settlement_candidate(rules)).join(ordinary, on="sub_order_id", how="anti")
    )
    other = stage(classify(untaken.join(not_billed, on="fund_row", how="anti"), rules))
    base = reconcile(statement, bill).collect()
    in_scope = fund.join(away, on="fund_row", how="anti")
    subs = stage(sub_order_rows(base, statement, bill, funds, not_billed, refund_rows, in_scope))
    places = stage(fund_places(fund, funds, not_billed, refund_used, other, away))
    return Part(bill, fund, funds, not_billed, refund_rows, other, away, places, subs,
                summarize(base), base.height)  # fmt: skip


def merged(parts: list[Part]) -> Part:
    """The parts' frames one after the other (in part order), their counts summed."""
    frames = {
        name: pl.concat([getattr(p, name) for p in parts])
        for name in ("bill", "fund", "funds", "not_billed", "refunds", "other", "away",
                     "places", "subs")
    }  # fmt: skip
    counts = {k: sum(p.counts[k] for p in parts) for k in parts[0].counts}
    return Part(**frames, counts=counts, lines=sum(p.lines for p in parts))
