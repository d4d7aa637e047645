"""Polars expressions that turn the text cells of an export into canonical values.

Every parser returns two expressions for a column: the typed value, and a finding code
(null when the cell is fine). A cell that is empty or `-` is null, not an error; whether
null is allowed is the pandera model's business. Nothing here loops over rows.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from schemas.base import CHINA_TZ, ColumnSpec

NULL_TOKENS = ("", "-", "--")

#: Excel's day zero for serial dates (the 1900 system, with its leap-year bug folded in).
EXCEL_EPOCH = pl.datetime(1899, 12, 30)

#: Tried in order after `/` is read as `-` and an ISO `T` as a space.
TIMESTAMP_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d")

Parsed = tuple[pl.Expr, pl.Expr]


def _nullable(text: pl.Expr) -> pl.Expr:
    """Trimmed text, with the export's "none" markers as null."""
    stripped = text.str.strip_chars()
    return pl.when(stripped.is_in(NULL_TOKENS)).then(None).otherwise(stripped)


def _code(bad: pl.Expr, code: str) -> pl.Expr:
    return pl.when(bad).then(pl.lit(code)).otherwise(pl.lit(None, pl.String))


def parse_id(raw: pl.Expr) -> Parsed:
    """IDs stay text. The tab or apostrophe that exports put before them (so Excel keeps
    them as text) is removed, as is an `="..."` wrapper. An ID Excel turned into a
    number (`6.9E+18`) has lost its digits: it is flagged, never repaired."""
    text = _nullable(raw.str.strip_chars("\t '\"="))
    scientific = text.str.contains(r"^[0-9]+(\.[0-9]+)?[eE]\+?[0-9]+$")
    value = pl.when(scientific).then(None).otherwise(text)
    return value, _code(scientific.fill_null(False), "id-scientific-notation")


def parse_text(raw: pl.Expr) -> Parsed:
    return _nullable(raw), pl.lit(None, pl.String)


_MONEY = r"^([+-]?)([0-9]{1,13})(?:\.([0-9]{1,2})0*)?$"


def parse_money(raw: pl.Expr) -> Parsed:
    """Yuan text to integer fen, exactly: `1,234.50` -> 123450, `¥-2.95` -> -295,
    `(12.00)` is not accepted. More than two non-zero decimals is an error, not a
    rounding."""
    text = _nullable(raw)
    cleaned = text.str.replace_all(r"[¥￥,\s]", "")
    parts = cleaned.str.extract_groups(_MONEY)
    sign = parts.struct.field("1")
    whole = parts.struct.field("2").cast(pl.Int64, strict=False)
    frac = parts.struct.field("3").fill_null("0").str.pad_end(2, "0").cast(pl.Int64, strict=False)
    fen = whole * 100 + frac
    value = pl.when(sign == "-").then(-fen).otherwise(fen)
    return value, _code(text.is_not_null() & value.is_null(), "bad-money")


def parse_int(raw: pl.Expr) -> Parsed:
    """Whole numbers; `2.0` (a number that went through Excel) is 2."""
    text = _nullable(raw).str.replace_all(",", "")
    digits = text.str.extract(r"^([+-]?[0-9]{1,15})(?:\.0+)?$", 1)
    value = digits.cast(pl.Int64, strict=False)
    return value, _code(text.is_not_null() & value.is_null(), "bad-integer")


def parse_timestamp(raw: pl.Expr) -> Parsed:
    """China time. Text in the export's formats, or an Excel serial date (days since
    1899-12-30, as XLSX cells hold them), to the second."""
    text = _nullable(raw)
    unified = text.str.replace_all("/", "-", literal=True).str.replace("T", " ", literal=True)
    candidates = [
        unified.str.strptime(pl.Datetime("us"), fmt, strict=False) for fmt in TIMESTAMP_FORMATS
    ]
    serial = text.str.extract(r"^([0-9]{5}(?:\.[0-9]+)?)$", 1).cast(pl.Float64, strict=False)
    seconds = (serial * 86400).round(0).cast(pl.Int64, strict=False)
    candidates.append(EXCEL_EPOCH + pl.duration(seconds=seconds))
    naive = pl.coalesce(candidates).cast(pl.Datetime("us"))
    value = naive.dt.replace_time_zone(CHINA_TZ, ambiguous="earliest", non_existent="null")
    return value, _code(text.is_not_null() & value.is_null(), "bad-timestamp")


PARSERS: dict[str, Callable[[pl.Expr], Parsed]] = {
    "id": parse_id,
    "text": parse_text,
    "money": parse_money,
    "int": parse_int,
    "timestamp": parse_timestamp,
}


def code_column(name: str) -> str:
    return f"__code__{name}"


def canonical_exprs(columns: tuple[ColumnSpec, ...]) -> list[pl.Expr]:
    """For each column: the typed value (named as the column) and its parse finding
    code (`__code__<name>`)."""
    exprs: list[pl.Expr] = []
    for spec in columns:
        value, code = PARSERS[spec.type](pl.col(spec.name))
        exprs.append(value.cast(spec.dtype).alias(spec.name))
        exprs.append(code.alias(code_column(spec.name)))
    return exprs
