"""One period run, under the output root's lock: check the ledger, validate the inputs,
settle against the standing earlier periods, write the statement, the exclusions, the
summary (each atomically) and commit the period to the ledger last."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pipeline import faults
from pipeline.errors import EXIT_OK, EXIT_REJECTED, UsageError
from pipeline.orchestrate.locking import clear_leftovers, output_lock, refuse_inputs_inside
from pipeline.outcome import StageResult
from pipeline.parallel import ordered_map
from pipeline.stages.settle.engine import (
    LINE_TYPES,
    REASONS,
    STATEMENT_COLUMNS,
    Lookups,
    decide,
    lookups,
    split,
)
from pipeline.stages.settle.ledger import Ledger, input_hashes
from pipeline.stages.settle.periods import Period
from pipeline.stages.settle.policy import SettlementPolicy
from pipeline.validation.staging import StagedInputs, staged_inputs
from pipeline.write.files import (
    scratch_folder,
    write_csv,
    write_json,
    write_parquet,
    write_xlsx,
    yuan,
)

MONEY = ("payable", "freight", "platform_discount", "creator_discount", "payment_discount",
         "income", "fee_basis", "platform_fee", "commission", "net")  # fmt: skip
TOTALS = ("income", "freight", "platform_fee", "commission", "net")

#: The stage name under which settlement reads its inputs: the columns it needs beyond
#: each kind's keys are declared in `schemas` (`KindSpec.needs["settle"]`). Every cell
#: is checked, as `doudian validate` does, so both reject the same rows.
STAGE = "settle"
#: The columns settlement reads, per kind: only these of the valid rows are staged.
SETTLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": (
        "order_id", "sub_order_id", "product_id", "payable", "freight", "platform_discount",
        "creator_discount", "payment_discount", "received_at", "order_status",
        "after_sale_status", "traffic_source", "shop_id",
    ),
    "after-sales": (
        "sub_order_id", "after_sale_status", "refund_method", "refund_goods", "refund_freight",
    ),
    "products": ("product_id", "category"),
    "commissions": ("sub_order_id", "commission"),
}  # fmt: skip


@dataclass
class SettleResult:
    period: Period
    folder: Path
    summary: dict[str, Any]
    stale: list[Period]  # the later periods that stand stale after this run
    exit_code: int

    @property
    def report(self) -> StageResult:
        """The result as the command line shows it and `doudian run` records it."""
        s, period = self.summary, self.period
        lines = s["lines"]
        text = [
            f"{period.id}: window {s['window_start']} to {s['window_end']}, settles on {s['settle_date']}",
            f"  {s['input_rows']:,} order rows: {s['rejected_rows']:,} rejected, "
            f"{lines['sale']:,} sale, {lines['carry-over']:,} carry-over, {lines['clawback']:,} clawback lines, "
            f"{sum(s['excluded'].values()):,} excluded",
            f"  net {s['totals']['net'] / 100:,.2f} yuan ({s['totals']['net']} fen) over {len(s['per_shop'])} shop(s)",
            f"  outputs: {self.folder}",
        ]
        notes = []
        if self.stale:
            names = ", ".join(p.id for p in self.stale)
            notes.append(
                f"warning: later periods were settled from the old {period.id} and are now stale: {names}; "
                "settle them again, in order"
            )
        status = "attention" if self.exit_code == EXIT_REJECTED else "ok"
        return StageResult("settle", status, s, text, [self.folder], notes, self)


def not_due(on: dt.date) -> StageResult:
    """`settle --on` a day that is neither the 1st nor the 16th."""
    text = f"nothing is due on {on.isoformat()}: settlement runs on the 1st and the 16th"
    return StageResult("settle", "not-due", {"on": on.isoformat(), "due": None}, [text])


@dataclass
class Admission:
    """A period the ledger has let in (under the output root's lock): the ledger, and
    the hash of the inputs, computed beside the settlement and wanted at its commit."""

    ledger: Ledger
    hashes: Callable[[], Any]


def admit(
    out: Path, period: Period, files: dict[str, list[str]], policy: SettlementPolicy, *,
    resettle: bool,
) -> Admission:  # fmt: skip
    """Check the ledger of `out` and let `period` in, or refuse it (LedgerError: a
    ledger file cannot be trusted; PeriodRefused: later periods were settled from it and
    `resettle` is not given). Clears what a killed run of the period left."""
    hashing = ThreadPoolExecutor(1, thread_name_prefix="hashes")
    hashes = hashing.submit(input_hashes, files, policy)
    hashing.shutdown(wait=False)
    ledger = Ledger(out / "ledger")
    ledger.admit(period, hashes.result, resettle=resettle)
    if (out / "settlement" / period.id).is_dir():  # what a killed run of it left
        clear_leftovers(out / "settlement" / period.id)
    return Admission(ledger, hashes.result)


def run_settlement(
    *,
    period: Period,
    out: Path,
    orders: list[str],
    after_sales: list[str],
    products: list[str],
    commissions: list[str],
    policy: SettlementPolicy,
    encoding: str | None = None,
    sheet: str | None = None,
    shop_id: str | None = None,
    xlsx: bool = False,
    resettle: bool = False,
) -> SettleResult:
    """Settle `period` into `out` from these files. Raises RunLocked (exit 75) when
    another command works in `out`, UsageError when `out` holds an input file,
    LedgerError (exit 1) when a ledger file cannot be trusted, PeriodRefused (exit 2)
    when later periods were settled from this one's entries and `resettle` is not given
    (with it, they are marked stale: `SettleResult.stale`, `stale_periods` in
    summary.json)."""
    files = {
        "orders": orders,
        "after-sales": after_sales,
        "products": products,
        "commissions": commissions,
    }
    refuse_inputs_inside(out, [f for paths in files.values() for f in paths])
    with output_lock(out):
        admission = admit(out, period, files, policy, resettle=resettle)
        folder = out / "settlement" / period.id
        with staged_inputs(
            files,
            folder,
            encoding=encoding,
            sheet=sheet,
            shop_id=shop_id,
            stage=STAGE,
            words=policy.words,
            keep=SETTLE_COLUMNS,
        ) as inputs:
            return settle_inputs(
                inputs, period=period, out=out, policy=policy, xlsx=xlsx, resettle=resettle,
                admission=admission,
            )  # fmt: skip


def settle_inputs(
    inputs: StagedInputs,
    *,
    period: Period,
    out: Path,
    policy: SettlementPolicy,
    xlsx: bool = False,
    resettle: bool = False,
    admission: Admission | None = None,
) -> SettleResult:
    """Settle `period` from validated inputs (orders, after-sales, products,
    commissions) against the ledger in `out` (admitted first, unless `admission` says
    it was); write the statement, the exclusions and the summary, and commit the period
    to the ledger last."""
    folder = out / "settlement" / period.id
    with output_lock(out):
        if admission is None:
            admission = admit(out, period, inputs.files(), policy, resettle=resettle)
        inputs.publish(folder)
        ledger = admission.ledger
        orders_frame = inputs.frame("orders")
        missing_shop = (
            orders_frame.filter(pl.col("shop_id").is_null()).select(pl.len()).collect().item()
        )
        if missing_shop:
            raise UsageError(
                f"{missing_shop:,} valid order rows have no 店铺ID: pass {{opt:shop_id}} ID "
                "for a single-shop export without that column"
            )
        with scratch_folder(folder, ".settle-") as work:
            line_parts, excluded_parts = _decide_in_batches(
                inputs.parts("orders"),
                lookups(
                    inputs.frame("after-sales"),
                    inputs.frame("products"),
                    inputs.frame("commissions"),
                    ledger.before(period),
                    policy,
                ).collect(),
                period,
                ledger.start(period),
                policy,
                work,
            )
            faults.point("settle-computed")
            pending = ledger.prepare(period, split(pl.scan_parquet(line_parts)).ledger)
            marked = ledger.to_mark_stale(pending, resettle=resettle)
            # every later period that stands stale once this one is committed (the same
            # list when a run killed after its commit is run again)
            stale = sorted({*marked, *(p for p in ledger.stale() if p > period)})
            summary = _write_outputs(period, folder, line_parts, excluded_parts, inputs, xlsx)
            summary["stale_periods"] = [p.id for p in stale]
            write_json(summary, folder / "summary.json")
            ledger.commit(pending, marked, admission.hashes())
    rejected = inputs.rejected_rows
    return SettleResult(period, folder, summary, stale, EXIT_REJECTED if rejected else EXIT_OK)


def _write_outputs(
    period: Period,
    folder: Path,
    line_parts: list[Path],
    excluded_parts: list[Path],
    inputs: StagedInputs,
    xlsx: bool,
) -> dict[str, Any]:
    """The statement (CSV, Parquet, XLSX when asked) and the exclusions; returns the
    summary (written by the caller, once complete)."""
    staged = split(pl.scan_parquet(line_parts))
    excluded = pl.scan_parquet(excluded_parts)
    # Two files at a time (each its own scan of the staged parts), paired so that the
    # two big statement writers never run together: each holds a few hundred MB of
    # buffers at 50 million rows.
    with ThreadPoolExecutor(1, thread_name_prefix="outputs") as pool:
        beside = pool.submit(write_parquet, staged.lines, folder / "statement.parquet")
        write_csv(excluded, folder / "excluded.csv")
        beside.result()
        beside = pool.submit(write_csv, staged.lines, folder / "statement.csv", **CSV_FORMATS)
        summary = _summary(period, staged.lines, excluded, inputs.results["orders"])
        beside.result()
    if xlsx:
        write_xlsx(_for_people(staged.lines).collect(), folder / "statement.xlsx", sheet=period.id)
    return summary


def _decide_in_batches(
    parts: list[pl.LazyFrame],
    found: Lookups,
    period: Period,
    start: dt.datetime,
    policy: SettlementPolicy,
    work: Path,
) -> tuple[list[Path], list[Path]]:
    """Decide the staged batches of orders, two at a time in threads, against lookups
    computed once (each row depends only on its own sub-order): memory is bounded by the
    batches (polars' streaming join would buffer its probe side without bound). Each
    decided batch is split at once into its lines (with what the ledger needs) and its
    exclusions, staged in `work`; the parts come back in input order. Rows keep the
    order of the input files: sorting tens of millions of rows would cost more than the
    settlement, and memory that grows with the data. The lookups are freed on return."""

    def decide_part(item: tuple[int, pl.LazyFrame]) -> tuple[Path, Path]:
        n, part = item
        batch = part.collect()
        known = found.restrict(batch.get_column("sub_order_id"))
        decided = decide(batch.lazy(), known, period, start, policy).collect(engine="in-memory")
        cut = split(decided.lazy())
        lines, excluded = work / f"lines-{n:06d}.parquet", work / f"excluded-{n:06d}.parquet"
        cut.decided.filter(pl.col("outcome").is_in(LINE_TYPES)).collect().write_parquet(
            lines, compression="lz4"
        )
        cut.excluded.collect().write_parquet(excluded, compression="lz4")
        return lines, excluded

    done = list(ordered_map(decide_part, enumerate(parts)))
    return [lines for lines, _ in done], [excluded for _, excluded in done]


#: How the statement shows times (China time, to the second) and dates.
CSV_FORMATS = {"datetime_format": "%Y-%m-%d %H:%M:%S", "date_format": "%Y-%m-%d"}


def _for_people(lines: pl.LazyFrame) -> pl.LazyFrame:
    return lines.with_columns(
        pl.col("received_at").dt.strftime(CSV_FORMATS["datetime_format"]),
        pl.col("settle_date").dt.strftime(CSV_FORMATS["date_format"]),
        *(yuan(pl.col(c)).alias(c) for c in MONEY),
    )


def _totals(frame: pl.DataFrame) -> dict[str, int]:
    return {c: int(frame.get_column(c).sum()) for c in TOTALS}


def _summary(
    period: Period, lines: pl.LazyFrame, excluded: pl.LazyFrame, orders_result: Any
) -> dict[str, Any]:
    """summary.json: counts and fen totals, overall and per shop (aggregates only)."""
    by_shop_type = (
        lines.group_by("shop_id", "line_type")
        .agg(pl.len().alias("n"), *(pl.col(c).sum() for c in TOTALS))
        .collect()
    )
    by_shop_reason = excluded.group_by("shop_id", "reason").len().collect()
    shops = sorted(
        set(by_shop_type.get_column("shop_id").to_list())
        | set(by_shop_reason.get_column("shop_id").to_list())
    )

    def block(types: pl.DataFrame, reasons: pl.DataFrame) -> dict[str, Any]:
        n = types.group_by("line_type").agg(pl.col("n").sum())
        r = reasons.group_by("reason").agg(pl.col("len").sum())
        count = dict(
            zip(n.get_column("line_type").to_list(), n.get_column("n").to_list(), strict=True)
        )
        why = dict(
            zip(r.get_column("reason").to_list(), r.get_column("len").to_list(), strict=True)
        )
        return {
            "lines": {t: int(count.get(t, 0)) for t in LINE_TYPES},
            "excluded": {r: int(why.get(r, 0)) for r in REASONS},
            "totals": _totals(types),
        }

    overall = block(by_shop_type, by_shop_reason)
    per_shop = [
        {
            "shop_id": shop,
            **block(
                by_shop_type.filter(pl.col("shop_id") == shop),
                by_shop_reason.filter(pl.col("shop_id") == shop),
            ),
        }
        for shop in shops
    ]
    return {
        "period": period.id,
        "window_start": period.window_start.isoformat(),
        "window_end": period.window_end.isoformat(),
        "settle_date": period.settle_date.isoformat(),
        "input_rows": orders_result.rows,
        "rejected_rows": orders_result.rejected,
        **overall,
        "per_shop": per_shop,
    }


__all__ = ["run_settlement", "SettleResult", "STATEMENT_COLUMNS"]
