"""What a price run writes, from the decided table of `engine.decide`.

In `OUT/price/`:
- `upload.xlsx`, `upload.csv` for the back office's 批量改价 (changed SKUs only; 商品ID,
  SKU ID, 商家编码, 商品名称, 规格, 原价, 新价; money in yuan; IDs as text cells in the
  XLSX, tab-prefixed in the CSV as in the platform's exports),
- `payloads.jsonl`: one /sku/editPrice request body per changed SKU (price in fen),
- `changes.csv` (the before/after report: sku_id, rule, old_fen, new_fen, delta_fen,
  change_pct), `blocked.csv` (sku_id, rule, reason, wanted_fen),
- `summary.json` (selected, changed, unchanged, blocked {reason: n}, by_rule {rule: n},
  plus skus, not_selected, rejected_rows, dry_run).

A dry run writes the reports and the summary, not the upload files (and removes upload
files an earlier run left there, so that the folder never mixes two runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.stages.price.engine import SCALE, round_half_away
from pipeline.stages.price.rules import RuleSet
from pipeline.write.files import atomic_path, formula_safe, write_csv, write_json, write_xlsx, yuan

UPLOAD_FILES = ("upload.xlsx", "upload.csv", "payloads.jsonl")
REPORT_FILES = ("changes.csv", "blocked.csv", "summary.json")
UPLOAD_SHEET = "批量改价"
PREVIEW_ROWS = 50

_changed = pl.col("status") == "changed"
_blocked = pl.col("status") == "blocked"


def upload_frame(decided: pl.DataFrame, *, for_csv: bool) -> pl.DataFrame:
    """The back office's upload table. The XLSX has IDs and text as text cells. In the
    CSV, IDs are prefixed by a tab as the platform's own exports do (so that Excel keeps
    all 19 digits instead of showing 3.66E+18), and text that starts like a formula gets
    an apostrophe (`formula_safe`)."""

    def text(name: str) -> pl.Expr:
        return formula_safe(pl.col(name)) if for_csv else pl.col(name)

    def ident(name: str) -> pl.Expr:
        return pl.concat_str(pl.lit("\t"), pl.col(name)) if for_csv else pl.col(name)

    return decided.filter(_changed).select(
        ident("product_id").alias("商品ID"),
        ident("sku_id").alias("SKU ID"),
        text("merchant_code").alias("商家编码"),
        text("product_title").alias("商品名称"),
        text("spec").alias("规格"),
        yuan(pl.col("price")).alias("原价"),
        yuan(pl.col("wanted")).alias("新价"),
    )


def payloads_frame(decided: pl.DataFrame) -> pl.DataFrame:
    """/sku/editPrice bodies: product_id, sku_id (strings: 19 digits do not survive a
    JSON double), code (商家编码, null when the SKU has none), price (fen)."""
    return decided.filter(_changed).select(
        "product_id",
        "sku_id",
        pl.col("merchant_code").alias("code"),
        pl.col("wanted").alias("price"),
    )


def change_pct() -> pl.Expr:
    """(new - old) / old in percent, exactly rounded half away from zero to 2 places;
    null when the old price is 0."""
    delta, old = pl.col("wanted") - pl.col("price"), pl.col("price")
    hundredths = pl.when(old > 0).then(round_half_away(delta * SCALE, old))
    return (hundredths.cast(pl.Decimal(20, 2)) / 100).cast(pl.Decimal(20, 2)).alias("change_pct")


def changes_frame(decided: pl.DataFrame) -> pl.DataFrame:
    return decided.filter(_changed).select(
        "sku_id",
        pl.col("rule_name").alias("rule"),
        pl.col("price").alias("old_fen"),
        pl.col("wanted").alias("new_fen"),
        (pl.col("wanted") - pl.col("price")).alias("delta_fen"),
        change_pct(),
    )


def blocked_frame(decided: pl.DataFrame) -> pl.DataFrame:
    return decided.filter(_blocked).select(
        "sku_id", pl.col("rule_name").alias("rule"), "reason", pl.col("wanted").alias("wanted_fen")
    )


def _counts(frame: pl.DataFrame, key: str) -> dict[str, int]:
    """Counts per value of `key` (an aggregate: a few rows, never one per SKU)."""
    counts = frame.group_by(key).len().sort(key)
    return dict(
        zip(counts.get_column(key).to_list(), counts.get_column("len").to_list(), strict=True)
    )


def summary(
    decided: pl.DataFrame, rules: RuleSet, *, rejected_rows: int, dry_run: bool
) -> dict[str, Any]:
    """Counts that add up: skus = selected + not_selected; selected = changed +
    unchanged + sum(blocked.values()). by_rule counts changed SKUs of every rule (0 for
    a rule that changed none)."""
    status = _counts(decided, "status")
    changed_by_rule = _counts(decided.filter(_changed), "rule_name")
    selected = decided.height - status.get("not-selected", 0)
    return {
        "skus": decided.height,
        "selected": selected,
        "not_selected": status.get("not-selected", 0),
        "changed": status.get("changed", 0),
        "unchanged": status.get("unchanged", 0),
        "blocked": _counts(decided.filter(_blocked), "reason"),
        "by_rule": {r.name: changed_by_rule.get(r.name, 0) for r in rules.rules},
        "rejected_rows": rejected_rows,
        "dry_run": dry_run,
    }


def preview(decided: pl.DataFrame, limit: int = PREVIEW_ROWS) -> str:
    """The before/after table of the changed and blocked SKUs (input order, at most
    `limit` lines, then how many more are in the reports)."""
    shown = decided.filter(_changed | _blocked)
    if shown.height == 0:
        return "no price changes"
    table = shown.head(limit).select(
        pl.col("sku_id").alias("SKU ID"),
        pl.col("rule_name").alias("rule"),
        yuan(pl.col("price")).cast(pl.String).alias("before"),
        yuan(pl.col("wanted")).cast(pl.String).alias("after"),
        pl.concat_str(change_pct().cast(pl.String).fill_null("-"), pl.lit("%")).alias("change"),
        pl.when(_blocked)
        .then(pl.concat_str(pl.lit("blocked: "), pl.col("reason")))
        .otherwise(pl.lit("changed"))
        .alias("result"),
    )
    right = {"before", "after", "change"}
    cells = []
    for name in table.columns:
        width = max(len(name), table.get_column(name).str.len_chars().max() or 0)
        if name in right:
            cells.append((name.rjust(width), pl.col(name).str.pad_start(width)))
        else:
            cells.append((name.ljust(width), pl.col(name).str.pad_end(width)))
    header = "  ".join(h for h, _ in cells).rstrip()
    lines = table.select(pl.concat_str([e for _, e in cells], separator="  ").str.strip_chars_end())
    out = [header, *lines.to_series().to_list()]
    if shown.height > limit:
        out.append(f"... and {shown.height - limit:,} more in changes.csv and blocked.csv")
    return "\n".join(out)


@dataclass
class PriceResult:
    folder: Path
    summary: dict[str, Any]
    written: list[str]
    removed: list[str]


def write_outputs(
    decided: pl.DataFrame, folder: Path, rules: RuleSet, *, dry_run: bool, rejected_rows: int
) -> PriceResult:
    """Write the run's files into `folder` (each atomically; summary.json last)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(changes_frame(decided), folder / "changes.csv")
    write_csv(blocked_frame(decided), folder / "blocked.csv")
    written = ["changes.csv", "blocked.csv"]
    removed = []
    if dry_run:
        for name in UPLOAD_FILES:
            if (folder / name).exists():
                (folder / name).unlink()
                removed.append(name)
    else:
        write_csv(upload_frame(decided, for_csv=True), folder / "upload.csv")
        write_xlsx(upload_frame(decided, for_csv=False), folder / "upload.xlsx", sheet=UPLOAD_SHEET)
        with atomic_path(folder / "payloads.jsonl") as tmp:
            payloads_frame(decided).write_ndjson(tmp)
        written += ["upload.csv", "upload.xlsx", "payloads.jsonl"]
    data = summary(decided, rules, rejected_rows=rejected_rows, dry_run=dry_run)
    write_json(data, folder / "summary.json")
    written.append("summary.json")
    return PriceResult(folder, data, written, removed)


def as_text(result: PriceResult) -> str:
    s = result.summary
    blocked = sum(s["blocked"].values())
    lines = [
        f"price: {s['skus']:,} SKUs: {s['selected']:,} selected ({s['changed']:,} changed, "
        f"{s['unchanged']:,} unchanged, {blocked:,} blocked), {s['not_selected']:,} not selected"
        + (f"; {s['rejected_rows']:,} input rows rejected" if s["rejected_rows"] else "")
    ]
    if s["blocked"]:
        lines.append("  blocked: " + ", ".join(f"{k} {v:,}" for k, v in s["blocked"].items()))
    lines.append("  changed by rule: " + ", ".join(f"{k} {v:,}" for k, v in s["by_rule"].items()))
    if s["dry_run"]:
        note = "dry run: upload files not written"
        if result.removed:
            note += f" (removed those of an earlier run: {', '.join(result.removed)})"
        lines.append(f"  {note}")
    lines.append(f"  outputs: {result.folder}")
    return "\n".join(lines)
