"""Reconciliation: our statement against the platform's 结算账单,
by 子订单号. Expected = our net over all lines of a sub-order in the period; billed = the
bill's 结算金额 summed per 子订单号; difference = billed - expected (a missing side counts
as 0). Each sub-order is `match`, `amount-mismatch`, `missing-in-bill` or
`unexpected-in-bill`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl

from pipeline.errors import InputError
from pipeline.orchestrate.locking import output_lock
from pipeline.outcome import StageResult
from pipeline.stages.close.policy import CloseRules
from pipeline.stages.close.scope import FundScope
from pipeline.stages.settle.periods import Period
from pipeline.validation.staging import StagedInputs
from pipeline.write.files import write_csv, write_json

STATUSES = ("match", "amount-mismatch", "missing-in-bill", "unexpected-in-bill")


def bill_in_cycle(bill: pl.LazyFrame, settle_date: dt.date, next_settle_date: dt.date) -> pl.Expr:
    """A bill row belongs to a period's settlement when its 结算时间 falls in
    [settle date, next settle date) in China time."""
    day = pl.col("settled_at").dt.date()
    return (day >= settle_date) & (day < next_settle_date)


def reconcile(statement: pl.LazyFrame, bill: pl.LazyFrame) -> pl.LazyFrame:
    """One row per sub-order on either side: sub_order_id, status, expected_net,
    billed_net, difference (fen), sorted by sub_order_id."""
    expected = statement.group_by("sub_order_id").agg(pl.col("net").sum().alias("expected_net"))
    billed = bill.group_by("sub_order_id").agg(pl.col("settle_amount").sum().alias("billed_net"))
    both = expected.join(billed, on="sub_order_id", how="full", coalesce=True)
    status = (
        pl.when(pl.col("billed_net").is_null())
        .then(pl.lit("missing-in-bill"))
        .when(pl.col("expected_net").is_null())
        .then(pl.lit("unexpected-in-bill"))
        .when(pl.col("billed_net") == pl.col("expected_net"))
        .then(pl.lit("match"))
        .otherwise(pl.lit("amount-mismatch"))
    )
    return both.select(
        "sub_order_id",
        status.alias("status"),
        "expected_net",
        "billed_net",
        (pl.col("billed_net").fill_null(0) - pl.col("expected_net").fill_null(0)).alias(
            "difference"
        ),
    ).sort("sub_order_id")


def summarize(rows: pl.DataFrame) -> dict[str, int]:
    counts = rows.group_by("status").len()
    found = dict(
        zip(counts.get_column("status").to_list(), counts.get_column("len").to_list(), strict=True)
    )
    summary = {s: int(found.get(s, 0)) for s in STATUSES}
    summary["difference_total"] = int(rows.get_column("difference").sum())
    return summary


def read_statement(statement: Path) -> tuple[Period, Path]:
    """A settled period's folder: its period and its statement.parquet."""
    summary_path = statement / "summary.json"
    statement_path = statement / "statement.parquet"
    if not summary_path.is_file() or not statement_path.is_file():
        raise InputError(
            str(statement), "is not a settled period (no summary.json and statement.parquet)"
        )
    period = Period.parse(json.loads(summary_path.read_text(encoding="utf-8"))["period"])
    return period, statement_path


def reconcile_inputs(
    inputs: StagedInputs,
    statement: Path,
    out: Path,
    *,
    all_bill_rows: bool = False,
    close_rules: CloseRules | None = None,
) -> StageResult:
    """Match the statement of a settled period (its folder `statement`) against the
    validated bill rows; write OUT/reconciliation/PERIOD/ (reconciliation.csv,
    summary.json, the inputs' findings). By default only the bill rows of the period's
    settlement cycle are matched. With `close_rules`, the finance close: the bill's own
    formulas, and statement, bill and the fund flow / account flow given in `inputs`
    tied together (pipeline.stages.close)."""
    with output_lock(out):
        period, statement_path = read_statement(statement)
        folder = out / "reconciliation" / period.id
        inputs.publish(folder)
        every = inputs.frame("bill")
        total = every.select(pl.len()).collect().item()
        rows, scope = every, None
        if not all_bill_rows:
            start, end = period.settle_date, period.next().settle_date
            rows = every.filter(bill_in_cycle(every, start, end))
            scope = FundScope(start, end, every.filter(~bill_in_cycle(every, start, end)))
        outside = int(total - rows.select(pl.len()).collect().item())
        if close_rules is not None:
            return _close(inputs, period, statement_path, rows, folder, close_rules, outside, scope)
        result = reconcile(pl.scan_parquet(statement_path), rows).collect()
        summary = summarize(result)
        summary["bill_rows_outside_cycle"] = outside
        write_csv(result, folder / "reconciliation.csv")
        write_json(summary, folder / "summary.json")
        text = [
            f"{period.id}: {summary['match']:,} match, {summary['amount-mismatch']:,} amount-mismatch, "
            f"{summary['missing-in-bill']:,} missing-in-bill, {summary['unexpected-in-bill']:,} unexpected-in-bill; "
            f"difference {summary['difference_total']} fen",
            f"  {summary['bill_rows_outside_cycle']:,} bill rows outside the cycle {period.settle_date} to "
            f"{period.next().settle_date} left out",
            f"  outputs: {folder}",
        ]
        differs = summary["match"] != len(result)
        status = "attention" if differs or inputs.rejected_rows else "ok"
        return StageResult("reconcile", status, summary, text, [folder])


def _close(
    inputs: StagedInputs,
    period: Period,
    statement_path: Path,
    bill: pl.LazyFrame,
    folder: Path,
    rules: CloseRules,
    outside: int,
    scope: FundScope | None,
) -> StageResult:
    from pipeline.stages.close.job import close_period, close_text

    def given(kind: str) -> pl.LazyFrame | None:
        return inputs.frame(kind) if inputs.given(kind) else None

    closed = close_period(
        pl.scan_parquet(statement_path), bill, given("fund-flow"), given("account-flow"),
        rules, folder, orders=given("orders"), after_sales=given("after-sales"),
        extra_summary={"bill_rows_outside_cycle": outside}, scope=scope,
    )  # fmt: skip
    status = "attention" if closed.exit_code or inputs.rejected_rows else "ok"
    text = close_text(period.id, closed).split("\n")
    return StageResult("reconcile", status, closed.summary, text, [folder], detail=closed)
