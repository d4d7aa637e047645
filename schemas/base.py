"""The vocabulary every export kind is described in, and the one place each column is
declared.

A `KindSpec` says how one kind of 抖店 export looks on disk (its Chinese headers and
their aliases, where the data starts) and what its canonical table is: per column its
name, value type, nullability and whether money may be negative (`col(...)`, one call
per column). The pandera `DataFrameModel` of the kind is generated from that same list
(`model_of`): its fields (dtype from the value type, `nullable`, the headers and type in
`metadata`) come from the spec, and its named row checks from a small class of
`@pa.check` methods written next to the spec, whose names are the finding codes. So a
column is declared once, and the reader, the cleaner and the validator all follow it.

Columns a file must have: the kind's keys (`required=True`, needed by every use, also
by `doudian validate`), and per stage the further columns that stage needs
(`KindSpec.needs`, e.g. `"settle": ("payable", ...)`). A missing key refuses the file;
a missing stage column refuses only that stage. A column that is absent is all null,
and its non-null rule does not apply.

Status columns are checked against vocabularies: fixed ones here (`statuses`), or the
policy's words (`status_words`, filled in by `Kind.with_words`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import pandera.polars as pa
import polars as pl

CHINA_TZ = "Asia/Shanghai"

#: Value types a cell can have. Each maps to one parser in `pipeline.canonical.cells`.
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

#: The pandera annotation of each value type (what `model_of` writes for a column).
ANNOTATIONS: dict[str, Any] = {
    "id": str,
    "text": str,
    "money": pl.Int64,
    "int": pl.Int64,
    "timestamp": Timestamp,
}

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

    headers: the Chinese header and its other names (a file with two of them side by
    side is refused: which to use is unclear). fallback: older headers read only when
    the file has none of `headers` (the full export carries both, with another meaning:
    平台优惠 is the coupon, 平台实际承担优惠金额 the part the platform funds). required: a
    key, the file must have the column for any use (the value may still be empty when
    `nullable`). signed: money that may be negative (fees in a bill).
    """

    name: str
    type: ValueType
    headers: tuple[str, ...]
    required: bool = False
    nullable: bool = True
    signed: bool = False
    fallback: tuple[str, ...] = ()

    @property
    def dtype(self) -> pl.DataType:
        return DTYPES[self.type]


@dataclass(frozen=True)
class Vocabulary:
    """The known values of a status column: exact words, and parts of words the
    platform composes (`contains`: `同意退款，退款成功` contains `退款成功`)."""

    exact: frozenset[str]
    contains: tuple[str, ...] = ()

    def known(self, value: pl.Expr) -> pl.Expr:
        """True for a known word (null for a null cell)."""
        expr = value.is_in(sorted(self.exact))
        for part in self.contains:
            expr = expr | value.str.contains(part, literal=True)
        return expr


@dataclass(frozen=True)
class KindSpec:
    """One export kind: its columns, layout, keys and per-stage needs."""

    name: str  # the CLI name, e.g. "after-sales"
    title: str  # the back office's name, e.g. "售后导出"
    columns: tuple[ColumnSpec, ...]
    #: rows right after the header that may hold a note instead of data (the bill's
    #: row 2); dropped when they hold no ID (see pipeline.read.exports)
    skip_after_header: int = 0
    #: a column whose value must be unique, or a tuple of columns whose values together
    #: must be (a row with an empty part of such a key is not checked); later copies are
    #: rejected with `unique_code`
    unique: str | tuple[str, ...] | None = None
    unique_code: str = "duplicate-key"
    #: known values of status columns; another value is a warning, not a rejection
    statuses: Mapping[str, Vocabulary] = field(default_factory=dict)
    #: status columns whose words are the policy's: column -> vocabulary name
    #: (`pipeline.policy.StatusWords`)
    status_words: Mapping[str, str] = field(default_factory=dict)
    #: stage -> the columns it needs besides the keys (a missing one refuses the stage)
    needs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: warn about a column the tool does not know whose cells look like money
    #: (`unknown-money-column`): a fee under a new name must not vanish silently
    unknown_money: bool = False

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
    def keys(self) -> list[str]:
        """The columns every use needs."""
        return [c.name for c in self.columns if c.required]

    @property
    def schema(self) -> dict[str, pl.DataType]:
        return {c.name: c.dtype for c in self.columns}


def col(name: str, type: ValueType, *headers: str, **kw: object) -> ColumnSpec:
    return ColumnSpec(name, type, tuple(headers), **kw)  # type: ignore[arg-type]


class RowChecks(pa.DataFrameModel):
    """The base of a kind's named row checks (`@pa.check` methods only: the fields come
    from the spec, see `model_of`)."""

    class Config:
        strict = True
        coerce = False


def model_of(spec: KindSpec, checks: type[RowChecks], doc: str) -> type[pa.DataFrameModel]:
    """The pandera model of `spec`: one field per column (dtype of its value type, its
    nullability, and the spec's facts in `metadata`), with the row checks of `checks`."""
    annotations = {c.name: ANNOTATIONS[c.type] for c in spec.columns}
    fields = {
        c.name: pa.Field(
            nullable=c.nullable,
            metadata={"type": c.type, "headers": c.headers, "required": c.required},
        )
        for c in spec.columns
    }
    name = "".join(part.capitalize() for part in spec.name.replace("-", "_").split("_"))
    namespace = {"__annotations__": annotations, "__doc__": doc, **fields}
    namespace["__module__"] = checks.__module__
    return type(name, (checks,), namespace)
