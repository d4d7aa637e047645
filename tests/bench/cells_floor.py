"""The floor of checking every cell: each cell of the columns doudian reads from an
orders export, read as text and canonicalized exactly as doudian does (trimmed, the
exports' fallbacks, yuan to fen, China time), with no rule, no finding and no output.

    python -m tests.bench.cells_floor --orders orders.csv

One polars plan, run by the streaming engine. A JSON line is printed: {"rows", "cells",
"unparsed"}, the rows, the cells read, and the cells that hold text but no value (the
ones the rules would then report). A settlement that checks every cell cannot cost less
than this; the DuckDB query reads only the columns settlement needs.
"""

from __future__ import annotations

import argparse
import json

import polars as pl

from pipeline.canonical.cells import canonicalize, code_column
from pipeline.read.exports import open_exports
from schemas import KINDS


def cells(path: str) -> pl.LazyFrame:
    """The orders kind's columns that the file has (found as doudian finds them), as
    text, under their canonical names."""
    spec = KINDS["orders"].spec
    (raw,) = open_exports(spec, path)
    if path.endswith(".parquet"):
        frame = pl.scan_parquet(path)
        frame = frame.select(pl.all().cast(pl.String))
    else:
        frame = pl.scan_csv(path, infer_schema=False, encoding="utf8", empty_string_is_null=False)
    names = frame.collect_schema().names()
    picked = {
        c: names[raw.header.index(raw.headers[c.name])]
        for c in spec.columns
        if c.name in raw.present
    }
    typed = canonicalize(
        frame.select(pl.col(h).alias(c.name) for c, h in picked.items()), tuple(picked)
    )
    names = [c.name for c in picked]
    # every value and every finding code is counted, so no column can be left unread
    return typed.select(
        pl.len().alias("rows"),
        pl.sum_horizontal(pl.col(n).is_not_null().sum() for n in names).alias("values"),
        pl.sum_horizontal(pl.col(code_column(n)).is_not_null().sum() for n in names).alias(
            "unparsed"
        ),
        pl.lit(len(names)).alias("columns"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", required=True)
    args = parser.parse_args()
    row = cells(args.orders).collect(engine="streaming").row(0, named=True)
    print(
        json.dumps(
            {
                "rows": row["rows"],
                "cells": row["rows"] * row["columns"],
                "unparsed": row["unparsed"],
            }
        )
    )


if __name__ == "__main__":
    main()
