"""The vocabulary every export kind is described in.

A `KindSpec` says how one kind of 抖店 export looks on disk (its Chinese headers and
their aliases, where the data starts) and what its canonical table is (column names,
value types, which columns must exist, the status sets). The pandera model next to it
in each module holds the row rules. Readers, the cleaner and the validator are driven
by these specs only, so the data contract of the project is readable here.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Annotated, Literal

import polars as pl

CHINA_TZ = "Asia/Shanghai"

#: Value types a cell can have. Each maps to one parser in `pipeline.clean`.
ValueType = Literal["id", "text", "money", "int", "timestamp"]

DTYPES: dict[str, pl.DataType] = {
    "id": pl.String(),
    "text": pl.String(),
    "money": pl.Int64(),  # integer fen
    "int": pl.Int64(),
    "timestamp": pl.Datetime("us", CHINA_TZ),
}

#: The pandera annotation of a canonical timestamp column (China time, microseconds).
Timestamp = Annotated[pl.Datetime, "us", CHINA_TZ]

#: Money bounds (fen). A line above 10 million yuan is not a shop order: reject it.
MONEY_MAX_FEN = 1_000_000_000


def normalize_header(name: str) -> str:
    """Fold a header cell for matching: NFKC (full-width brackets to ASCII), no
    whitespace, zero-width characters or BOM, ASCII case-folded. `退商品金额（元）` and `退商品金额(元)` match,
    so do `SKU ID`, `SKUID` and `skuid`."""
    folded = unicodedata.normalize("NFKC", name).translate(ZERO_WIDTH)
    return "".join(folded.split()).casefold()


#: Characters a copy from a web page leaves in a header, invisible: removed before matching.
ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


@dataclass(frozen=True)
class ColumnSpec:
    """One canonical column.

    headers: the Chinese header and its aliases, in order of preference (the first one
    present in a file is used). required: the file must have the column (the value may
    still be empty when `nullable`). signed: money that may be negative (fees in a bill).
    """

    name: str
    type: ValueType
    headers: tuple[str, ...]
    required: bool = False
    nullable: bool = True
    signed: bool = False

    @property
    def dtype(self) -> pl.DataType:
        return DTYPES[self.type]


@dataclass(frozen=True)
class KindSpec:
    """One export kind: its columns, layout and keys."""

    name: str  # the CLI name, e.g. "after-sales"
    title: str  # the back office's name, e.g. "售后导出"
    columns: tuple[ColumnSpec, ...]
    #: rows right after the header that may hold a note instead of data (the bill's
    #: row 2); dropped when they hold no ID (see pipeline.io.read)
    skip_after_header: int = 0
    #: a column whose value must be unique, or a tuple of columns whose values together
    #: must be (a row with an empty part of such a key is not checked); later copies are
    #: rejected with `unique_code`
    unique: str | tuple[str, ...] | None = None
    unique_code: str = "duplicate-key"
    #: known values of status columns; another value is a warning, not a rejection
    statuses: dict[str, frozenset[str]] = field(default_factory=dict)

    def column(self, name: str) -> ColumnSpec:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The columns of the unique key (none without one)."""
        if self.unique is None:
            return ()
        return (self.unique,) if isinstance(self.unique, str) else self.unique

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def schema(self) -> dict[str, pl.DataType]:
        return {c.name: c.dtype for c in self.columns}


def col(name: str, type: ValueType, *headers: str, **kw: object) -> ColumnSpec:
    return ColumnSpec(name, type, tuple(headers), **kw)  # type: ignore[arg-type]
