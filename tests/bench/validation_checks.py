"""Pandera against the same checks written as plain polars expressions, on clean data.

    python -m tests.bench.validation_checks --typed orders_typed.parquet --engine pandera|polars
    python -m tests.bench.validation_checks --typed orders_typed.parquet --verify

The input is the canonical typed order frame (what `doudian validate orders` writes as
valid rows). `--engine pandera` runs the project's model, `Orders.validate(df,
lazy=True)`; `--engine polars` runs the model's checks (schema and strictness, nullable
columns, bad-id, bad-shop-id, quantity-not-positive, money-out-of-range, time-order) as
one polars `select` and lists the failing (row, column, check) like pandera's failure
cases. Only the check is timed (not reading the file); a JSON line is printed:
{"engine", "rows", "check_seconds", "failures"}. `--verify` plants bad values in a
slice and checks that both engines report the same (row, column, check) set.
"""

from __future__ import annotations

import argparse
import json
import time

import pandera.errors
import polars as pl

from schemas.base import MONEY_MAX_FEN
from schemas.checks import ID_PATTERN, SHOP_ID_PATTERN
from schemas.orders import SPEC, Orders

IDS = ("order_id", "sub_order_id", "product_id", "creator_id")
MONEY = (
    "unit_price",
    "payable",
    "freight",
    "platform_discount",
    "creator_discount",
    "payment_discount",
)
NOT_NULL = tuple(c.name for c in SPEC.columns if not c.nullable)


def pandera_failures(df: pl.DataFrame) -> pl.DataFrame:
    """(index, column, check) of every failure pandera reports."""
    try:
        Orders.validate(df, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        return cases.select(
            pl.col("index").cast(pl.Int64),
            pl.col("column").cast(pl.String),
            pl.col("check").cast(pl.String),
        )
    return pl.DataFrame(schema={"index": pl.Int64, "column": pl.String, "check": pl.String})


def _flag(column: str, check: str, ok: pl.Expr) -> pl.Expr:
    """True where the row fails; a null value passes a value check."""
    return (~(pl.col(column).is_null() | ok)).alias(f"{column}\x1f{check}")


def polars_failures(df: pl.DataFrame) -> pl.DataFrame:
    """The same checks as plain polars expressions, one pass over the frame."""
    expected = {c.name: c.dtype for c in SPEC.columns}
    if dict(df.schema) != expected:  # strict = True, coerce = False: exact columns and types
        raise SystemExit(f"schema differs: {dict(df.schema)} != {expected}")
    flags = [pl.col(c).is_null().alias(f"{c}\x1fnot_nullable") for c in NOT_NULL]
    flags += [_flag(c, "bad-id", pl.col(c).str.contains(ID_PATTERN)) for c in IDS]
    flags.append(_flag("shop_id", "bad-shop-id", pl.col("shop_id").str.contains(SHOP_ID_PATTERN)))
    flags.append(_flag("quantity", "quantity-not-positive", pl.col("quantity") > 0))
    flags += [_flag(c, "money-out-of-range", pl.col(c).is_between(0, MONEY_MAX_FEN)) for c in MONEY]
    for column, earlier in (("paid_at", "created_at"), ("received_at", "paid_at")):
        flags.append(
            _flag(
                column,
                "time-order",
                pl.col(earlier).is_null() | (pl.col(column) >= pl.col(earlier)),
            )
        )
    failed = df.select(flags).with_row_index("index")
    bad = failed.filter(pl.any_horizontal(pl.exclude("index")))
    long = bad.unpivot(index="index", variable_name="what", value_name="failed").filter(
        pl.col("failed")
    )
    parts = pl.col("what").str.split_exact("\x1f", 1)
    return long.select(
        pl.col("index").cast(pl.Int64),
        parts.struct.field("field_0").alias("column"),
        parts.struct.field("field_1").alias("check"),
    )


ENGINES = {"pandera": pandera_failures, "polars": polars_failures}


def verify(df: pl.DataFrame) -> None:
    sample = df.head(10_000).with_row_index("__i")
    bad = sample.with_columns(
        pl.when(pl.col("__i") % 97 == 1)
        .then(pl.lit("6.9E+18"))
        .otherwise(pl.col("order_id"))
        .alias("order_id"),
        pl.when(pl.col("__i") % 89 == 2)
        .then(pl.lit(None))
        .otherwise(pl.col("sub_order_id"))
        .alias("sub_order_id"),
        pl.when(pl.col("__i") % 83 == 3).then(0).otherwise(pl.col("quantity")).alias("quantity"),
        pl.when(pl.col("__i") % 79 == 4).then(-1).otherwise(pl.col("freight")).alias("freight"),
        pl.when(pl.col("__i") % 73 == 5)
        .then(pl.lit("shop 1"))
        .otherwise(pl.col("shop_id"))
        .alias("shop_id"),
        pl.when(pl.col("__i") % 71 == 6)
        .then(pl.col("created_at") - pl.duration(days=1))
        .otherwise(pl.col("paid_at"))
        .alias("paid_at"),
    ).drop("__i")
    a = pandera_failures(bad).sort(pl.all())
    b = polars_failures(bad).sort(pl.all())
    if not a.equals(b):
        raise SystemExit(f"pandera and polars checks disagree:\npandera {a}\npolars {b}")
    print(json.dumps({"verified": True, "failures": a.height}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--typed", required=True, help="canonical typed orders (Parquet)")
    parser.add_argument("--engine", choices=sorted(ENGINES))
    parser.add_argument("--verify", action="store_true")
    args = parser.parse_args()
    df = pl.read_parquet(args.typed, columns=SPEC.names)
    if args.verify:
        verify(df)
        return
    if args.engine is None:
        parser.error("give --engine or --verify")
    start = time.perf_counter()
    failures = ENGINES[args.engine](df)
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "engine": args.engine,
                "rows": df.height,
                "check_seconds": seconds,
                "failures": failures.height,
            }
        )
    )


if __name__ == "__main__":
    main()
