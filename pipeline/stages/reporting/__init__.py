"""The report for people: report.xlsx (the workbook a finance person opens) and
report.html (a self-contained page of charts), per period and set of shops."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipeline.errors import EXIT_OK
from pipeline.orchestrate.locking import output_lock
from pipeline.outcome import StageResult
from pipeline.policy import Policy
from pipeline.stages.reporting import page, workbook
from pipeline.stages.reporting.data import gather
from pipeline.stages.settle.periods import Period
from pipeline.stages.shipping.plan import ShippingPolicy
from pipeline.validation.staging import StagedInputs

FILES = ("report.xlsx", "report.html")


@dataclass
class ReportResult:
    """What `write_report` wrote: the shops shown, the charts drawn (ids, in page
    order), notes on what was missing, and the files (names inside `folder`)."""

    period: str
    folder: Path
    shops: list[str]
    charts: list[str]
    notes: list[str]
    files: list[str] = field(default_factory=lambda: list(FILES))
    exit_code: int = EXIT_OK


def default_folder(out_root: Path, period: Period, shops: list[str] | None) -> Path:
    """OUT/report/PERIOD for every shop, OUT/report/PERIOD/shops-A-B for a set."""
    base = out_root / "report" / period.id
    return base / ("shops-" + "-".join(sorted(shops))) if shops else base


def write_report(
    out_root: Path,
    period: Period | str,
    shops: list[str] | None = None,
    folder: Path | None = None,
    *,
    orders: pl.LazyFrame | None = None,
    policy: Policy | None = None,
) -> ReportResult:
    """report.xlsx and report.html for `period` from the outputs under `out_root`
    (settlement required; reconciliation and profit used when there). `orders` (valid
    order rows) adds the amounts held back and the spot share (with `policy`'s
    [shipping] section, default policy when None)."""
    from pipeline.policy import load_policy

    period = Period.parse(period) if isinstance(period, str) else period
    policy = policy or load_policy()
    shipping = ShippingPolicy.from_section(policy.name, policy.section("shipping"))
    data = gather(Path(out_root), period, shops, orders, shipping if orders is not None else None)
    folder = folder or default_folder(Path(out_root), period, shops)
    folder.mkdir(parents=True, exist_ok=True)
    workbook.write(data, folder / "report.xlsx")
    drawn = page.write(data, shipping, folder / "report.html")
    return ReportResult(period.id, folder, data.shops, drawn, data.notes)


def report_stage(
    out_root: Path,
    period: Period,
    shops: list[str] | None,
    folder: Path,
    *,
    orders: StagedInputs | None = None,
    policy: Policy | None = None,
) -> StageResult:
    """`write_report` as a stage: with `orders` (validated inputs), their findings are
    kept in `folder` and add the amounts held back and the spot share."""
    with output_lock(out_root):
        if orders is not None:
            orders.publish(folder)
        frame = orders.frame("orders") if orders is not None else None
        result = write_report(out_root, period, shops, folder, orders=frame, policy=policy)
    text = [
        f"{result.period}: report for {len(result.shops)} shop(s) ({', '.join(result.shops)}), "
        f"{len(result.charts)} charts",
        f"  charts: {', '.join(result.charts)}",
        *(f"  note: {n}" for n in result.notes),
        f"  outputs: {result.folder / 'report.xlsx'}, {result.folder / 'report.html'}",
    ]
    status = "attention" if orders is not None and orders.rejected_rows else "ok"
    summary = {"period": result.period, "shops": result.shops, "charts": result.charts}
    files = [result.folder / name for name in result.files]
    return StageResult("report", status, summary, text, files, detail=result)


__all__ = ["FILES", "report_stage", "ReportResult", "write_report", "default_folder"]
