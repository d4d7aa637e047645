"""Polars expressions that turn the text cells of an export into canonical values.

Canonicalizing runs in three column-wise steps over a frame of raw text cells, so that
no sub-expression is computed twice (eager polars does not share them):

1. `text`:  the cell trimmed, with the export's "none" markers (`""`, `-`) as null, and
   what each type ignores taken off (the tab before an ID, `¥` and thousands separators);
2. `value`: the typed value parsed from that text (null when it cannot be parsed);
3. `code`:  the finding code of a cell that has text but no value (null when fine).

Whether a null is allowed is the pandera model's business, not this module's. Nothing
here loops over rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import polars as pl

from schemas.base import CHINA_TZ, ColumnSpec

NULL_TOKENS = ("", "-", "--")

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

#: Excel's day zero for serial dates (the 1900 date system).
EXCEL_EPOCH = pl.datetime(1899, 12, 30)

#: Tried in order, after `/` is read as `-`.
TIMESTAMP_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d",
)
#: China has kept UTC+8 all year since 1991, so China time is a fixed offset from UTC
#: (and converting by offset is far faster than a time-zone database lookup per value).
CHINA_OFFSET_US = 8 * 3600 * 1_000_000

SCIENTIFIC = r"^[0-9]+(\.[0-9]+)?[eE]\+?[0-9]+$"
#: Yuan with at most two decimals (trailing zeros beyond them are fine: `12.500`).
#: `¥` or `￥` may lead; thousands separators only in groups of three (`12,5` is not an
#: amount).
MONEY = r"^[¥￥]?\s*[+-]?[¥￥]?\s*([0-9]{1,3}(,[0-9]{3})+|[0-9]{1,13})(\.[0-9]{1,2}0*)?$"
INTEGER = r"^[+-]?[0-9]{1,15}(\.0+)?$"
EXCEL_SERIAL = r"^[0-9]{5}(\.[0-9]+)?$"


def _null_markers(raw: pl.Expr) -> pl.Expr:
    stripped = raw.str.strip_chars()
    return pl.when(stripped.is_in(NULL_TOKENS)).then(None).otherwise(stripped)


def _missing(text: pl.Expr, value: pl.Expr, code: str) -> pl.Expr:
    bad = text.is_not_null() & value.is_null()
    return pl.when(bad).then(pl.lit(code)).otherwise(pl.lit(None, pl.String))


@dataclass(frozen=True)
class Parser:
    """How one value type is read: raw -> text -> value -> code (see module doc)."""

    text: Callable[[pl.Expr], pl.Expr]
    value: Callable[[pl.Expr], pl.Expr]  # from the text
    code: Callable[[pl.Expr, pl.Expr], pl.Expr]  # from (text, value)


def _id_text(raw: pl.Expr) -> pl.Expr:
    # Exports put a tab or an apostrophe before IDs (or wrap them as ="...") so that
    # Excel keeps them as text; none of that is part of the ID.
    text = raw.str.strip_chars("\t '\"=")
    return pl.when(text.is_in(NULL_TOKENS)).then(None).otherwise(text)


def _id_value(text: pl.Expr) -> pl.Expr:
    # An ID Excel turned into a number (6.9E+18) has lost digits: flagged, never repaired.
    return pl.when(text.str.contains(SCIENTIFIC)).then(None).otherwise(text)


def _id_code(text: pl.Expr, value: pl.Expr) -> pl.Expr:
    return _missing(text, value, "id-scientific-notation")


def _money_value(text: pl.Expr) -> pl.Expr:
    """Yuan text to integer fen, exactly (decimal arithmetic, never a binary float):
    `1,234.50` -> 123450, `¥-2.95` -> -295. More than two non-zero decimals is an
    error, not a rounding."""
    # Only the cells that carry a sign, ¥ or separators are rewritten (the others are
    # null to the rewrite, which then costs nothing): most exports have none.
    decorated = pl.when(text.str.contains(r"[¥￥,+\s]")).then(text)
    number = pl.coalesce(decorated.str.replace_all(r"[¥￥,+\s]", ""), text)
    fen = (number.cast(pl.Decimal(18, 2), strict=False) * 100).cast(pl.Int64, strict=False)
    return pl.when(text.str.contains(MONEY)).then(fen).otherwise(None)


def _int_value(text: pl.Expr) -> pl.Expr:
    whole = text.str.replace(r"\.0+$", "").cast(pl.Int64, strict=False)
    return pl.when(text.str.contains(INTEGER)).then(whole).otherwise(None)


def _replace_where_found(text: pl.Expr, old: str, new: str) -> pl.Expr:
    """`text` with `old` replaced by `new`, rewriting only the cells that hold `old`."""
    found = pl.when(text.str.contains(old, literal=True)).then(text)
    return pl.coalesce(found.str.replace_all(old, new, literal=True), text)


def _timestamp_text(raw: pl.Expr) -> pl.Expr:
    return _replace_where_found(_null_markers(raw), "/", "-")


def _timestamp_value(text: pl.Expr) -> pl.Expr:
    """China time: the export's text formats, or an Excel serial date (days since
    1899-12-30, as XLSX cells hold them), to the second.

    Each format after the first sees only the cells the earlier ones could not parse
    (the others are null to it), so the usual file pays for one format, not five: a
    failing parse costs several times a succeeding one."""
    parsed: pl.Expr | None = None
    rest = text
    for fmt in TIMESTAMP_FORMATS:
        attempt = rest.str.strptime(pl.Datetime("us"), fmt, strict=False, cache=False)
        parsed = attempt if parsed is None else pl.coalesce(parsed, attempt)
        rest = pl.when(parsed.is_null()).then(text)
    serial = pl.when(rest.str.contains(EXCEL_SERIAL)).then(rest).cast(pl.Float64, strict=False)
    seconds = (serial * 86400).round(0).cast(pl.Int64, strict=False)
    naive = pl.coalesce(parsed, EXCEL_EPOCH + pl.duration(seconds=seconds))
    local = naive.cast(pl.Datetime("us")).cast(pl.Int64)
    return (local - CHINA_OFFSET_US).cast(pl.Datetime("us", "UTC")).dt.convert_time_zone(CHINA_TZ)


PARSERS: dict[str, Parser] = {
    "id": Parser(_id_text, _id_value, _id_code),
    "text": Parser(_null_markers, lambda t: t, lambda t, v: pl.lit(None, pl.String)),
    "money": Parser(_null_markers, _money_value, lambda t, v: _missing(t, v, "bad-money")),
    "int": Parser(
        lambda raw: _replace_where_found(_null_markers(raw), ",", ""),
        _int_value,
        lambda t, v: _missing(t, v, "bad-integer"),
    ),
    "timestamp": Parser(
        _timestamp_text, _timestamp_value, lambda t, v: _missing(t, v, "bad-timestamp")
    ),
}


def code_column(name: str) -> str:
    return f"__code__{name}"


def _text_column(name: str) -> str:
    return f"__text__{name}"


def raw_column(name: str) -> str:
    return f"__raw__{name}"


def canonicalize(frame: Frame, columns: tuple[ColumnSpec, ...], *, keep_raw: bool = False) -> Frame:
    """Raw text columns (named as the canonical columns) -> typed columns of the same
    names, plus `__code__<name>` with the finding code of each cell (null when fine),
    and with `keep_raw` the original text as `__raw__<name>`. Other columns of `frame`
    pass through. Works on a DataFrame or a LazyFrame."""
    names = [c.name for c in columns]
    if keep_raw:
        frame = frame.with_columns(pl.col(n).alias(raw_column(n)) for n in names)
    texts = frame.with_columns(
        PARSERS[c.type].text(pl.col(c.name)).alias(_text_column(c.name)) for c in columns
    )
    values = texts.with_columns(
        PARSERS[c.type].value(pl.col(_text_column(c.name))).cast(c.dtype).alias(c.name)
        for c in columns
    )
    coded = values.with_columns(
        PARSERS[c.type]
        .code(pl.col(_text_column(c.name)), pl.col(c.name))
        .alias(code_column(c.name))
        for c in columns
    )
    return coded.drop(_text_column(n) for n in names)
