"""Every check of a kind as a polars expression over its canonical rows, so that one
streaming plan checks a whole file (`pipeline.validation.checker`).

A rule is (column, finding code, expression true where the cell fails). The value
rules are the pandera model's own: each `Check` of the model is called, its function
given a frame that hands back the expression it selects (the checks of `schemas.checks`
are written as `data.lazyframe.select(expr)`), so the model stays the one definition
of what a value may be and what its finding is called. pandera's `not_nullable` is
`missing-value`. The parse rules come from the canonical columns (`__code__<name>`),
and the row's own two (cells past the last column, a cell spanning rows).

A cell whose text could not be parsed has only its parse finding: the model's rules
see a null there, and nulls pass them (as pandera's failure on the same cell would be
dropped for the parse finding)."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from pipeline.canonical.cells import PARSERS, code_column
from pipeline.read.exports import EXTRA, SPANS
from schemas.base import KindSpec

#: A check name that is a finding code; any other pandera check reads `schema`.
CODE = re.compile(r"^[a-z0-9-]+$")


@dataclass(frozen=True)
class Rule:
    name: str  # the canonical column (or EXTRA, SPANS) whose cell the finding names
    code: str
    fails: pl.Expr  # true where the row fails the rule (never null)


class _Selects:
    """Stands in for a check's LazyFrame: `select(expr)` hands back `expr`."""

    def select(self, expr: pl.Expr) -> pl.Expr:
        return expr


def check_expr(check: pa.Check, column: str) -> pl.Expr:
    """The expression the model's `check` applies to `column` (true = passes)."""
    expr = check._check_fn(PolarsData(_Selects(), column))  # type: ignore[arg-type]
    if not isinstance(expr, pl.Expr):
        raise TypeError(f"check {check.name} of {column} does not select one expression")
    return expr


def parse_rules(spec: KindSpec) -> list[Rule]:
    """Cells that could not be read (bad money, times, IDs...) and the row's own."""
    rules = [
        Rule(c.name, PARSERS[c.type].code, pl.col(code_column(c.name)).is_not_null())
        for c in spec.columns
        if PARSERS[c.type].code
    ]
    return [
        *rules,
        Rule(EXTRA, "extra-cells", pl.col(EXTRA).is_not_null()),
        Rule(SPANS, "cell-spans-rows", pl.col(SPANS).is_not_null()),
    ]


def model_rules(schema: pa.DataFrameSchema, present: Collection[str]) -> list[Rule]:
    """The model's rules: a non-null column the file has must be filled
    (`missing-value`), and each named check must pass."""
    rules = []
    for name, column in schema.columns.items():
        parsed = pl.col(code_column(name)).is_null()
        if not column.nullable and name in present:
            rules.append(Rule(name, "missing-value", pl.col(name).is_null() & parsed))
        for check in column.checks:
            code = check.name if CODE.match(check.name or "") else "schema"
            passes = check_expr(check, name).fill_null(True)
            rules.append(Rule(name, code, ~passes & parsed))
    return rules


def status_rules(spec: KindSpec) -> list[Rule]:
    """Warnings: a status word the vocabulary does not know."""
    return [
        Rule(
            name,
            "unknown-status",
            (pl.col(name).is_not_null() & ~known.known(pl.col(name))).fill_null(False),
        )
        for name, known in spec.statuses.items()
    ]
