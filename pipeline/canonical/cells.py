"""Polars expressions that turn the text cells of an export into canonical values.

Canonicalizing runs column-wise in steps over a frame of raw text cells:

1. `text`:  the cell trimmed, with the export's "none" markers (`""`, `-`) as null, and
   what each type ignores taken off (the tab before an ID, `¥` and thousands separators);
2. `value`: the typed value parsed from that text (null when it cannot be parsed);
3. `code`:  the finding code of a cell that has text but no value (null when fine).

Every step is its own `with_columns` over the columns the step before made, and an
expression only ever refers to columns, never to another step's expression. This is a
matter of speed, not style: polars does not share a sub-expression used twice in one
expression on the streaming engine, so a fallback chain written as one nested expression
(each fallback testing whether the ones before it failed) computes its first parse 2^n
times. Written as steps, a timestamp column costs 0.05 s per million cells instead of 2.

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

#: The years a time of an export can fall in; any other is a finding (`bad-timestamp`).
YEARS = (2000, 2099)

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


#: One step: the columns the step before made (text, value so far) -> a new column.
TextStep = Callable[[pl.Expr], pl.Expr]
ValueStep = Callable[[pl.Expr, pl.Expr], pl.Expr]


def _strip(chars: str | None = None) -> TextStep:
    return lambda raw: raw.str.strip_chars(chars)


def _null_markers(text: pl.Expr) -> pl.Expr:
    return pl.when(text.is_in(NULL_TOKENS)).then(None).otherwise(text)


def _replace_where_found(old: str, new: str) -> TextStep:
    """`text` with `old` replaced by `new`, rewriting only the cells that hold `old` (a
    rewrite of the others would copy every string for nothing)."""

    def step(text: pl.Expr) -> pl.Expr:
        found = pl.when(text.str.contains(old, literal=True)).then(text)
        return pl.coalesce(found.str.replace_all(old, new, literal=True), text)

    return step


@dataclass(frozen=True)
class Parser:
    """How one value type is read: raw -> text (`text` steps, in order) -> value (`value`
    steps, each given the text and the value so far) -> the finding `code` of a cell
    with text and no value (None: every text is a value).

    `quick` steps (each given the raw cell and the value so far, as `value` steps are)
    read the plain form nearly every cell of a real export has, straight from the raw
    cell, and give null for any other cell; only those go through the steps
    (the others are null to them, which costs next to nothing). A quick value is always
    the value the steps would give: the steps remain the definition."""

    text: tuple[TextStep, ...]
    value: tuple[ValueStep, ...]
    code: str | None
    quick: tuple[ValueStep, ...] = ()


# IDs: exports put a tab or an apostrophe before IDs (or wrap them as ="...") so that
# Excel keeps them as text; none of that is part of the ID.
ID_DECORATION = "\t '\"="


def _id_value(text: pl.Expr, _: pl.Expr) -> pl.Expr:
    # An ID Excel turned into a number (6.9E+18) has lost digits: flagged, never repaired.
    # (The full pattern is tried only on cells with an E: a third of the cost.)
    with_e = pl.when(text.str.contains("[eE]")).then(text)
    return pl.when(with_e.str.contains(SCIENTIFIC)).then(None).otherwise(text)


def _money_value(text: pl.Expr, _: pl.Expr) -> pl.Expr:
    """Yuan text to integer fen, exactly (decimal arithmetic, never a binary float):
    `1,234.50` -> 123450, `¥-2.95` -> -295. More than two non-zero decimals is an
    error, not a rounding."""
    # Only the cells that carry a sign, ¥ or separators are rewritten (the others are
    # null to the rewrite, which then costs nothing): most exports have none.
    decorated = pl.when(text.str.contains(r"[¥￥,+\s]")).then(text)
    number = pl.coalesce(decorated.str.replace_all(r"[¥￥,+\s]", ""), text)
    fen = (number.cast(pl.Decimal(18, 2), strict=False) * 100).cast(pl.Int64, strict=False)
    return pl.when(text.str.contains(MONEY)).then(fen).otherwise(None)


def _int_value(text: pl.Expr, _: pl.Expr) -> pl.Expr:
    whole = text.str.replace(r"\.0+$", "").cast(pl.Int64, strict=False)
    return pl.when(text.str.contains(INTEGER)).then(whole).otherwise(None)


def _first_format(text: pl.Expr, _: pl.Expr) -> pl.Expr:
    return text.str.strptime(pl.Datetime("us"), TIMESTAMP_FORMATS[0], strict=False, cache=False)


def _fallback_format(fmt: str) -> ValueStep:
    """A later format sees only the cells no earlier one could parse (the others are
    null to it), so the usual file pays for one format, not five: a failing parse costs
    several times a succeeding one."""

    def step(text: pl.Expr, parsed: pl.Expr) -> pl.Expr:
        rest = pl.when(parsed.is_null()).then(text)
        return pl.coalesce(
            parsed, rest.str.strptime(pl.Datetime("us"), fmt, strict=False, cache=False)
        )

    return step


def _sane_time(text: pl.Expr, parsed: pl.Expr) -> pl.Expr:
    """The parsed time, unless it is a leap second (`23:59:60`, which the parser takes
    for the next minute: across a settlement window at midnight) or outside the years
    `YEARS` (`0000-01-01`, a typing error)."""
    return _sane(parsed, text.str.contains(r":6[0-9](\.[0-9]*)?$"))


def _sane_quick(raw: pl.Expr, parsed: pl.Expr) -> pl.Expr:
    """`_sane_time` for a cell of the first format, where a leap second can only end
    the cell (a test of its last bytes, not a pattern: 0.2 s per 10 million cells)."""
    return _sane(parsed, raw.str.ends_with(":60"))


def _sane(parsed: pl.Expr, leap: pl.Expr) -> pl.Expr:
    in_years = (parsed >= pl.datetime(YEARS[0], 1, 1)) & (parsed < pl.datetime(YEARS[1] + 1, 1, 1))
    return pl.when(in_years & ~leap.fill_null(False)).then(parsed)


def _china_time(_: pl.Expr, naive: pl.Expr) -> pl.Expr:
    local = naive.cast(pl.Datetime("us")).cast(pl.Int64)
    return (local - CHINA_OFFSET_US).cast(pl.Datetime("us", "UTC")).dt.convert_time_zone(CHINA_TZ)


# A cell the first format reads as it is, is read the same after the text steps: it has
# no surrounding space, no `/` and is no null marker. (Steps too: the sanity check reads
# the parsed value twice, which must be a column, not a repeated parse.)
QUICK_TIMESTAMP = (_first_format, _sane_quick, _china_time)


PARSERS: dict[str, Parser] = {
    "id": Parser((_strip(ID_DECORATION), _null_markers), (_id_value,), "id-scientific-notation"),
    "text": Parser((_strip(), _null_markers), (), None),
    "money": Parser((_strip(), _null_markers), (_money_value,), "bad-money"),
    "int": Parser(
        (_strip(), _null_markers, _replace_where_found(",", "")), (_int_value,), "bad-integer"
    ),
    "timestamp": Parser(
        (_strip(), _null_markers, _replace_where_found("/", "-")),
        (
            _first_format,
            *(_fallback_format(f) for f in TIMESTAMP_FORMATS[1:]),
            _sane_time,
            _china_time,
        ),
        "bad-timestamp",
        QUICK_TIMESTAMP,
    ),
}


def code_column(name: str) -> str:
    return f"__code__{name}"


def _text_column(name: str) -> str:
    return f"__text__{name}"


def raw_column(name: str) -> str:
    return f"__raw__{name}"


def _quick_column(name: str) -> str:
    return f"__quick__{name}"


def canonicalize(frame: Frame, columns: tuple[ColumnSpec, ...], *, keep_raw: bool = False) -> Frame:
    """Raw text columns (named as the canonical columns) -> typed columns of the same
    names, plus `__code__<name>` with the finding code of each cell (null when fine),
    and with `keep_raw` the original text as `__raw__<name>`. Other columns of `frame`
    pass through. Works on a DataFrame or a LazyFrame.

    A DataFrame is read in two passes: the quick values first, then the steps, for the
    columns where some cell was not read quickly (a clean time column skips the
    fallback steps; the choice is per column of the frame, never per row). A LazyFrame
    is one plan in which every cell not read quickly takes the steps.
    """
    names = [c.name for c in columns]
    parsers = {c.name: PARSERS[c.type] for c in columns}
    dtypes = {c.name: c.dtype for c in columns}
    quick = {n: p.quick for n, p in parsers.items() if p.quick}
    if keep_raw:
        frame = frame.with_columns(pl.col(n).alias(raw_column(n)) for n in names)
    for i in range(max((len(q) for q in quick.values()), default=0)):
        frame = frame.with_columns(
            q[i](pl.col(n), pl.col(_quick_column(n)) if i else pl.col(n)).alias(_quick_column(n))
            for n, q in quick.items()
            if i < len(q)
        )
    done: set[str] = set()  # columns read quickly to the last cell
    if isinstance(frame, pl.DataFrame) and quick:
        left = frame.select(
            (pl.col(_quick_column(n)).is_null() & (pl.col(n).str.len_bytes() > 0)).any().alias(n)
            for n in quick
        )
        done = {n for n, any_left in left.row(0, named=True).items() if not any_left}
    stepped = {n: p for n, p in parsers.items() if n not in done}
    plan = frame.lazy()

    def source(n: str, i: int) -> pl.Expr:
        """What text step `i` of column `n` reads: the raw cell (less the cells read
        quickly) for the first, the text column for the others."""
        if i > 0:
            return pl.col(_text_column(n))
        if n in quick:
            return pl.when(pl.col(_quick_column(n)).is_null()).then(pl.col(n))
        return pl.col(n)

    # text steps: step i of every column in one with_columns
    for i in range(max((len(p.text) for p in stepped.values()), default=0)):
        plan = plan.with_columns(
            p.text[i](source(n, i)).alias(_text_column(n))
            for n, p in stepped.items()
            if i < len(p.text)
        )
    # value steps: the text column of a type without any is its value
    plan = plan.with_columns(
        pl.col(_text_column(n)).alias(n) for n, p in stepped.items() if not p.value
    )
    for i in range(max((len(p.value) for p in stepped.values()), default=0)):
        plan = plan.with_columns(
            p.value[i](pl.col(_text_column(n)), pl.col(n)).alias(n)
            for n, p in stepped.items()
            if i < len(p.value)
        )

    def value(n: str) -> pl.Expr:
        if n in done:
            return pl.col(_quick_column(n)).cast(dtypes[n]).alias(n)
        both = pl.coalesce(pl.col(_quick_column(n)), pl.col(n)) if n in quick else pl.col(n)
        return both.cast(dtypes[n]).alias(n)

    def code(n: str, p: Parser) -> pl.Expr:
        if n in done or not p.code:
            return pl.lit(None, pl.String).alias(code_column(n))
        failed = pl.col(_text_column(n)).is_not_null() & pl.col(n).is_null()
        return (
            pl.when(failed)
            .then(pl.lit(p.code))
            .otherwise(pl.lit(None, pl.String))
            .alias(code_column(n))
        )

    plan = plan.with_columns(
        *(value(n) for n in names), *(code(n, p) for n, p in parsers.items())
    ).drop(*(_text_column(n) for n in stepped), *(_quick_column(n) for n in quick))
    return plan.collect() if isinstance(frame, pl.DataFrame) else plan  # type: ignore[return-value]
