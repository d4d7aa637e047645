"""Named row checks shared by the pandera models.

Each check's pandera name is the finding code users see in `rejected/KIND.csv`, so a
failure reads the same in every kind. A check returns one boolean per row (True =
passes); null values pass here, nullability being pandera's own `not_nullable` check
(reported as `missing-value`).
"""

from __future__ import annotations

from collections.abc import Collection

import polars as pl
from pandera.api.polars.types import PolarsData

from schemas.base import MONEY_MAX_FEN

ID_PATTERN = r"^[0-9]{16,19}$"
#: A shop ID: letters, digits, - or _, starting with a letter or a digit (a leading - or
#: + would read as a formula in a spreadsheet), at most 32.
SHOP_ID_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z_-]{0,31}$"


def _ok(data: PolarsData, expr: pl.Expr) -> pl.LazyFrame:
    value = pl.col(data.key)
    return data.lazyframe.select(value.is_null() | expr)


def is_id(data: PolarsData) -> pl.LazyFrame:
    """An ID is 16 to 19 digits (主订单编号, 子订单编号, 商品ID, SKU ID, 售后单号, 达人ID)."""
    return _ok(data, pl.col(data.key).str.contains(ID_PATTERN))


def is_shop_id(data: PolarsData) -> pl.LazyFrame:
    return _ok(data, pl.col(data.key).str.contains(SHOP_ID_PATTERN))


def money_unsigned(data: PolarsData) -> pl.LazyFrame:
    """0 <= fen <= 10 million yuan."""
    return _ok(data, pl.col(data.key).is_between(0, MONEY_MAX_FEN))


#: An account's balance is not one order's money: up to 10 billion yuan.
BALANCE_MAX_FEN = 1_000_000_000_000


def balance(data: PolarsData) -> pl.LazyFrame:
    """|fen| <= 10 billion yuan: a shop account's balance after a movement."""
    return _ok(data, pl.col(data.key).is_between(-BALANCE_MAX_FEN, BALANCE_MAX_FEN))


def money_signed(data: PolarsData) -> pl.LazyFrame:
    """|fen| <= 10 million yuan (fees and refunds in a bill may be negative)."""
    return _ok(data, pl.col(data.key).is_between(-MONEY_MAX_FEN, MONEY_MAX_FEN))


def one_of(data: PolarsData, words: Collection[str]) -> pl.LazyFrame:
    """The text is one of `words` (动账方向: 入账 or 出账)."""
    return _ok(data, pl.col(data.key).is_in(sorted(words)))


def positive(data: PolarsData) -> pl.LazyFrame:
    return _ok(data, pl.col(data.key) > 0)


def non_negative(data: PolarsData) -> pl.LazyFrame:
    return _ok(data, pl.col(data.key) >= 0)


def not_before(data: PolarsData, earlier: str) -> pl.LazyFrame:
    """The checked timestamp is not before `earlier` (when both are known)."""
    other = pl.col(earlier)
    return _ok(data, other.is_null() | (pl.col(data.key) >= other))
