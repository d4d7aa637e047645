"""`close_period`: the finance close of one settled period, written into its
reconciliation folder. Statement vs bill (today's four statuses), the bill's formulas,
the orders' payable, ordinary settlement vs fund rows, refunds after settlement, the
other money, the balance chain; summary.json with counts and fen per shop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.stages.close import parts as parts_module
from pipeline.stages.close import summary as tally
from pipeline.stages.close.balance import balance_breaks
from pipeline.stages.close.checks import BILL_CHECK_COLUMNS, bill_checks, order_checks
from pipeline.stages.close.other import in_order
from pipeline.stages.close.parts import Part, by_row_number, close_part, merged, ranges
from pipeline.stages.close.policy import CloseRules
from pipeline.stages.close.refunds import NOT_REFUNDED, REFUND_COLUMNS
from pipeline.stages.close.scope import NOT_IN_SCOPE, FundScope, bill_kind
from pipeline.write.files import scratch_folder, write_csv, write_json
from schemas import KINDS
from schemas.fund_flow import signed_amount

TIMES = {"datetime_format": "%Y-%m-%d %H:%M:%S", "date_format": "%Y-%m-%d"}
OUTPUTS = (
    "reconciliation.csv", "bill_checks.csv", "order_checks.csv", "refunds.csv",
    "other_funds.csv", "balance.csv", "not_in_scope.csv", "summary.json",
)  # fmt: skip


@dataclass(frozen=True)
class CloseResult:
    """What a close wrote and found. `summary` is summary.json's content."""

    folder: Path
    summary: dict[str, Any]
    files: tuple[Path, ...]
    exit_code: int  # 0: all three records agree, nothing unclassified; 3 otherwise

    @property
    def funds(self) -> dict[str, int]:
        return self.summary["funds"]

    @property
    def refunds(self) -> dict[str, int]:
        return self.summary["refunds"]


def _empty(kind: str) -> pl.LazyFrame:
    schema = {**KINDS[kind].spec.schema, "source_file": pl.String, "source_row": pl.Int64}
    return pl.DataFrame(schema=schema).lazy()


#: rows per row group of the staged frames: a scan holds a few row groups at a time
_ROW_GROUP = 65_536


class _Stage:
    """Intermediate frames written once to a scratch folder and read back (each output
    reads them again without recomputing the joins, in bounded memory)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def __call__(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        self.count += 1
        path = self.folder / f"stage-{self.count:02d}.parquet"
        frame.sink_parquet(path, compression="lz4", row_group_size=_ROW_GROUP)
        return pl.scan_parquet(path)


def _bill_classes(bill: pl.LazyFrame, rules: CloseRules) -> pl.LazyFrame:
    kind = bill_kind(rules)
    bill_class = (
        pl.when(kind == "settlement")
        .then(pl.lit("ordinary"))
        .when(kind == "refund")
        .then(pl.lit("refund"))
        .otherwise(pl.lit("other"))
    )
    return bill.with_row_index("bill_row").with_columns(bill_class.alias("bill_class"))


def close_period(
    statement: pl.LazyFrame,
    bill: pl.LazyFrame,
    fund_flow: pl.LazyFrame | None,
    account_flow: pl.LazyFrame | None,
    rules: CloseRules,
    folder: Path,
    *,
    orders: pl.LazyFrame | None = None,
    after_sales: pl.LazyFrame | None = None,
    extra_summary: dict[str, Any] | None = None,
    scope: FundScope | None = None,
    rows_per_part: int | None = None,
) -> CloseResult:
    """Close a period: `statement` (the period's statement lines), `bill` (the bill rows
    of its cycle), the fund and account flows (valid rows; None: not given), optional
    orders (payable recheck) and after-sales (the after-sale behind each refund).
    Writes OUTPUTS into `folder`; `extra_summary` keys are added to summary.json. With
    `scope` (the cycle closed), the fund rows of other cycles are set apart
    (not_in_scope.csv); without it, every fund row given is the period's. The
    sub-orders are closed in parts of about `rows_per_part` rows (default
    parts.ROWS_PER_PART), the balance chain in parts of shops."""
    rows_per_part = rows_per_part or parts_module.ROWS_PER_PART
    with scratch_folder(folder, ".close-") as work:
        stage = _Stage(work)
        bill = _bill_classes(bill, rules)
        fund = (fund_flow if fund_flow is not None else _empty("fund-flow")).with_row_index(
            "fund_row"
        )
        fund = fund.with_columns(signed_amount().alias("signed"))

        def context(refund_rows: pl.LazyFrame, lines: pl.LazyFrame) -> pl.LazyFrame:
            return _with_context(refund_rows, lines, after_sales, rules)

        whole = _in_parts(stage, bill, fund, statement, scope, context, rules, rows_per_part)
        bill = whole.bill
        checks = stage(bill_checks(bill, rules.tolerance_fen))
        orders = orders if orders is not None else _empty("orders")
        orders_bad = stage(order_checks(orders, rules.payable_discounts, rules.tolerance_fen))
        account = account_flow if account_flow is not None else _empty("account-flow")
        breaks = pl.concat([
            stage(balance_breaks(stage(account.filter(shops))))
            for shops in ranges([account], rows_per_part, "shop_id")
        ])  # fmt: skip
        files = [folder / name for name in OUTPUTS]
        write_csv(whole.subs, files[0])
        write_csv(checks.select(BILL_CHECK_COLUMNS), files[1])
        write_csv(orders_bad, files[2])
        write_csv(whole.refunds.sort("bill_row").select(REFUND_COLUMNS), files[3], **TIMES)
        write_csv(in_order(whole.other).drop("fund_row"), files[4], **TIMES)
        write_csv(breaks, files[5], **TIMES)
        away = by_row_number(whole.away, "fund_row", stage, rows_per_part)
        write_csv(away.drop("fund_row"), files[6], **TIMES)
        facts = tally.Facts.gather(bill, whole.funds, whole.not_billed, whole.refunds, whole.other,
                                   whole.away, whole.places, checks, orders_bad, orders, account,
                                   breaks)  # fmt: skip
        summary = {**whole.counts, **(extra_summary or {}), **facts.summary()}
        write_json(summary, files[7])
    agree = whole.lines == summary["match"] and facts.agree()
    return CloseResult(folder, summary, tuple(files), 0 if agree else 3)


def _in_parts(stage: _Stage, bill: pl.LazyFrame, fund: pl.LazyFrame, statement: pl.LazyFrame,
              scope: FundScope | None, context: Callable[[pl.LazyFrame, pl.LazyFrame], pl.LazyFrame],
              rules: CloseRules, rows_per_part: int) -> Part:  # fmt: skip
    """The sub-orders closed a range at a time, merged. Each part's rows are read from
    the inputs and staged first (a polars sink holds about as much as it writes: one
    sink of a whole input would cost memory growing with it)."""
    parts = []
    for within in ranges([bill, fund, statement], rows_per_part):
        elsewhere = None if scope is None else FundScope(
            scope.start, scope.end,
            stage(scope.elsewhere.select("sub_order_id", "bill_type").filter(within)),
        )  # fmt: skip
        cut = [stage(f.filter(within)) for f in (bill, fund, statement)]
        parts.append(close_part(stage, *cut, elsewhere, context, rules))
    return merged(parts)


def _with_context(
    rows: pl.LazyFrame,
    statement: pl.LazyFrame,
    after_sales: pl.LazyFrame | None,
    rules: CloseRules,
) -> pl.LazyFrame:
    """Refund lines with our clawback lines' net for the sub-order (none: empty) and the
    after-sale's status (when an after-sales export is given). A matched refund whose
    after-sale is in the export and does not say refunded (the policy's 售后状态 table)
    becomes `after-sale-not-refunded`."""
    ours = (
        statement.filter(pl.col("line_type") == "clawback")
        .group_by("sub_order_id")
        .agg(pl.col("net").sum().alias("statement_clawback_net"))
    )
    rows = rows.join(ours, on="sub_order_id", how="left")
    if after_sales is None:
        return rows.with_columns(pl.lit(None, pl.String).alias("after_sale_status"))
    state = rules.words.after_sale_state(pl.col("after_sale_status"), pl.col("refund_method"))
    status = (
        after_sales.select("after_sale_id", "after_sale_status", "refund_method")
        .unique("after_sale_id", keep="first")
        .with_columns(state.alias("__state"))
    )
    unpaid = (pl.col("status") == "matched") & pl.col("__state").is_in(["closed", "open"])
    return (
        rows.join(status, on="after_sale_id", how="left")
        .with_columns(
            pl.when(unpaid.fill_null(False))
            .then(pl.lit(NOT_REFUNDED))
            .otherwise(pl.col("status"))
            .alias("status")
        )
        .drop("__state", "refund_method")
    )


def close_text(period_id: str, result: CloseResult) -> str:
    """The close's result in a few lines for people."""
    s = result.summary
    funds, refunds = s["funds"], s["refunds"]

    def listed(counts: dict[str, int], names: tuple[str, ...]) -> str:
        return ", ".join(f"{counts[k]:,} {k}" for k in names)

    other = s["other_funds"]
    return (
        f"{period_id}: statement vs bill: {s['match']:,} match, {s['amount-mismatch']:,} amount-mismatch, "
        f"{s['missing-in-bill']:,} missing-in-bill, {s['unexpected-in-bill']:,} unexpected-in-bill\n"
        f"  bill vs funds: {listed(funds, tally.FUNDS_STATUSES)}; difference {funds['difference_total']} fen\n"
        f"  refunds after settlement: {listed(refunds, tally.REFUND_STATUSES)}\n"
        f"  bill formulas failing on {s['bill_checks']['failed']:,} of {s['bill_checks']['rows']:,} rows; "
        f"payable failing on {s['order_checks']['failed']:,} order rows\n"
        f"  other funds: {sum(v['rows'] for v in other.values()):,} rows "
        f"({other.get('unclassified', {}).get('rows', 0):,} unclassified); "
        f"balance breaks: {s['balance']['breaks']:,}\n"
        f"  fund rows of other cycles (not in scope): {s['fund_rows'][NOT_IN_SCOPE]:,}\n"
        f"  outputs: {result.folder}"
    )
