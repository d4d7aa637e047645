"""Reading a service provider's shop list (`--shops FILE` of `check deposit` and
`check reopen`; the kinds of `schemas.shops`).

Read like an export (`pipeline.io.read.open_export`: headers by name, UTF-8/GB18030,
XLSX), canonicalized by `pipeline.clean` and checked by the kind's pandera model, with
the same finding codes and the same rejected-rows file as `doudian validate`; a later
copy of a 店铺ID is rejected `duplicate-shop`. A shop list is small (one row per shop),
so it is read in one piece.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandera.errors
import polars as pl

from pipeline.clean import canonicalize, code_column, raw_column
from pipeline.findings import FINDING_SCHEMA, message_expr
from pipeline.io.read import open_export
from schemas.base import KindSpec


@dataclass
class Roster:
    path: str
    rows: int
    valid: pl.DataFrame  # the kind's canonical columns + source_row
    findings: pl.DataFrame  # FINDING_SCHEMA, one row per finding

    @property
    def rejected(self) -> int:
        return self.findings.get_column("row").n_unique()


def read_roster(
    spec: KindSpec, model: type, path: str, *, encoding: str | None = None, sheet: str | None = None
) -> Roster:
    """The valid rows of a shop list and the findings of the others. InputError for a
    file that cannot be used at all (missing, empty, no required column)."""
    with tempfile.TemporaryDirectory(prefix=".roster-") as work:
        raw = open_export(spec, path, encoding=encoding, sheet=sheet, workdir=Path(work))
        typed = canonicalize(raw.frame, spec.columns, keep_raw=True).collect()
    names = spec.names
    parsed = pl.concat(
        [_no_rows()]
        + [
            typed.filter(pl.col(code_column(c.name)).is_not_null()).select(
                pl.col("__row").alias("row"),
                pl.lit(c.name).alias("name"),
                pl.col(code_column(c.name)).alias("code"),
            )
            for c in spec.columns
            if c.type != "text"
        ]
    )
    found = pl.concat([parsed, _model_rows(model, typed.select("__row", *names), parsed)])
    if spec.unique:
        clean = typed.filter(~pl.col("__row").is_in(found.get_column("row").implode()))
        dups = clean.filter(~pl.col(spec.unique).is_first_distinct()).select(
            pl.col("__row").alias("row"),
            pl.lit(spec.unique).alias("name"),
            pl.lit(spec.unique_code).alias("code"),
        )
        found = pl.concat([found, dups])
    order = {n: i for i, n in enumerate(names)}
    cells = typed.select("__row", *(pl.col(raw_column(n)).alias(n) for n in names)).unpivot(
        index="__row", variable_name="name", value_name="value"
    )
    header = pl.col("name").replace_strict(raw.headers, return_dtype=pl.String)
    findings = (
        found.join(cells, left_on=["row", "name"], right_on=["__row", "name"], how="left")
        .with_columns(pl.col("name").replace_strict(order, return_dtype=pl.Int32).alias("__order"))
        .sort("row", "__order", "code")
        .select(
            pl.lit(raw.path, pl.String).alias("file"),
            pl.col("row").cast(pl.Int64),
            header.alias("column"),
            pl.col("value"),
            pl.col("code"),
            message_expr(pl.col("code"), header).alias("message"),
        )
        .cast(FINDING_SCHEMA)  # type: ignore[arg-type]
    )
    valid = typed.filter(~pl.col("__row").is_in(findings.get_column("row").implode())).select(
        *names, pl.col("__row").alias("source_row")
    )
    return Roster(raw.path, typed.height, valid, findings)


def _model_rows(model: type, typed: pl.DataFrame, parsed: pl.DataFrame) -> pl.DataFrame:
    """The pandera model's failures as (row, name, code); a cell that failed to parse
    keeps its parse code only."""
    try:
        model.to_schema().validate(typed.drop("__row"), lazy=True)  # type: ignore[attr-defined]
        return _no_rows()
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases.filter(pl.col("index").is_not_null())
    rows = cases.select(
        typed.get_column("__row").gather(cases.get_column("index")).alias("row"),
        pl.col("column").alias("name"),
        pl.when(pl.col("check") == "not_nullable")
        .then(pl.lit("missing-value"))
        .when(pl.col("check").str.contains(r"^[a-z0-9-]+$"))
        .then(pl.col("check"))
        .otherwise(pl.lit("schema"))
        .alias("code"),
    )
    return rows.join(parsed, on=["row", "name"], how="anti").unique(maintain_order=True)


def _no_rows() -> pl.DataFrame:
    return pl.DataFrame(schema={"row": pl.Int64, "name": pl.String, "code": pl.String})
