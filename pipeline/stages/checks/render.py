"""The shop checks' results as people and other programs read them: text lines, the
per-shop CSV tables (`--shops`/`--out`) and the `--json` documents. One result frame
per check (see each check's RESULT_SCHEMA), several renderers; polars expressions
over the whole frame, no loop over shops."""

from __future__ import annotations

import polars as pl

from pipeline.write.files import yuan


def fixed(value: pl.Expr, scale: int) -> pl.Expr:
    """An integer in 1/scale units as exact text: 450 -> "4.50" (scale 100)."""
    digits = len(str(scale)) - 1
    return pl.format("{}.{}", value // scale, (value % scale).cast(pl.String).str.zfill(digits))


def _lines(frame: pl.DataFrame, expr: pl.Expr) -> list[str]:
    return frame.select(expr).to_series().to_list()


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _iso(column: str) -> pl.Expr:
    return pl.col(column).dt.strftime("%Y-%m-%d").alias(column)


# --- alliance ------------------------------------------------------------------------


def alliance_json(verdicts: pl.DataFrame) -> pl.DataFrame:
    """The shops of `{"shops": [{"shop_id", "result", "failed", "warnings"}]}` (the
    issue's format)."""
    return verdicts.select("shop_id", "result", "failed", "warnings")


def alliance_table(verdicts: pl.DataFrame) -> pl.DataFrame:
    """OUT/alliance.csv: codes joined by `;`, DSR as 4.50, rate as 85.00%, GMV in yuan."""
    return verdicts.select(
        "shop_id",
        "result",
        pl.col("failed").list.join(";"),
        pl.col("warnings").list.join(";"),
        fixed(pl.col("dsr"), 100).alias("dsr"),
        (fixed(pl.col("good_rate"), 100) + "%").alias("good_rate"),
        "valid_reviews",
        "violations_365d",
        "shop_status",
        "account_status",
        yuan(pl.col("gmv_30d")).alias("gmv_30d"),
        "gmv_source",
    )


def alliance_lines(verdicts: pl.DataFrame) -> list[str]:
    """`S03: not-eligible; failed: dsr-below-4.5; warnings: dsr-low` per shop, then a
    summary line."""
    failed, warnings = pl.col("failed"), pl.col("warnings")
    line = pl.concat_str(
        pl.col("shop_id"),
        pl.lit(": "),
        pl.col("result"),
        pl.when(failed.list.len() > 0)
        .then("; failed: " + failed.list.join(", "))
        .otherwise(pl.lit("")),
        pl.when(warnings.list.len() > 0)
        .then("; warnings: " + warnings.list.join(", "))
        .otherwise(pl.lit("")),
    )
    results = verdicts.get_column("result")
    counts = ", ".join(
        f"{int((results == r).sum()):,} {r}" for r in ("formal", "trial", "not-eligible")
    )
    warned = verdicts.filter(warnings.list.len() > 0).height
    return [
        *_lines(verdicts, line),
        f"{_plural(verdicts.height, 'shop')}: {counts}; {warned:,} with a warning",
    ]


# --- deposit -------------------------------------------------------------------------


def deposit_table(results: pl.DataFrame) -> pl.DataFrame:
    """OUT/deposit.csv: refused categories joined by `;`."""
    return results.with_columns(pl.col("refused").list.join(";"))


def deposit_lines(results: pl.DataFrame, policy: str) -> list[str]:
    status = pl.col("status")
    line = pl.concat_str(
        pl.col("shop_id"),
        pl.lit(": "),
        pl.when(status == "ok")
        .then(pl.format("{} yuan, set by {}", pl.col("deposit_yuan"), pl.col("set_by")))
        .when(status == "refused")
        .then("refused: may not open " + pl.col("refused").list.join(", "))
        .otherwise("invalid: " + pl.col("reason")),
    )
    counts = ", ".join(
        f"{int((results.get_column('status') == s).sum()):,} {s}"
        for s in ("ok", "refused", "invalid")
    )
    return [
        *_lines(results, line),
        f"{_plural(results.height, 'shop')} (policy {policy}): {counts}",
    ]


# --- reopen --------------------------------------------------------------------------


def reopen_iso(results: pl.DataFrame) -> pl.DataFrame:
    """Dates as ISO text (the JSON and the CSV)."""
    return results.select("shop_id", _iso("closed_on"), _iso("reopen_on"), _iso("refund_by"))


def reopen_lines(results: pl.DataFrame) -> list[str]:
    iso = reopen_iso(results)
    line = pl.format(
        "{}: closed on {}, reopen on {}, refund by {}",
        "shop_id",
        "closed_on",
        "reopen_on",
        "refund_by",
    )
    return [*_lines(iso, line), _plural(results.height, "shop")]
