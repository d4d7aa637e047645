"""The one writer of XLSX files people open (statement, upload files, the report).

Every sheet gets the same rules: a header row (Chinese headers where the caller names
them) that stays frozen, an autofilter over the table, column widths from the content
(a Chinese character counts twice), and cells by type:

- money as numbers in yuan with the format `#,##0.00`: Decimal columns (yuan already)
  and the integer fen columns a sheet names in `money` (divided by 100);
- basis points named in `bp` as a number with the format `0.00%` (3470 bp = 34.70%);
- other numbers as numbers; text (IDs included) as text cells with the text format `@`,
  written with `write_string`, so never a number, a formula or a link, and without an
  apostrophe before it (a text cell is never run as a formula, whatever it starts with);
- times and dates as text in China time (`2026-10-05 12:00:00`, `2026-10-16`).

Files are byte-identical for the same frames (the creation time is fixed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.write.files import atomic_path, yuan

MONEY_FORMAT = "#,##0.00"
BP_FORMAT = "0.00%"
TEXT_FORMAT = "@"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"
MIN_WIDTH, MAX_WIDTH = 6, 60


@dataclass(frozen=True)
class Sheet:
    """One sheet: `frame` under `name` (at most 31 characters, as Excel allows);
    `headers` maps a column to the header shown (default: the column's name)."""

    name: str
    frame: pl.DataFrame
    headers: Mapping[str, str] = field(default_factory=dict)
    money: Collection[str] = ()  # integer fen, shown in yuan
    bp: Collection[str] = ()  # basis points, shown as a percentage
    free_text: Collection[str] = ()  # text a person typed (a text cell, like every String)


def _cells(sheet: Sheet) -> pl.DataFrame:
    """The values to write: fen as yuan, bp as fractions, times as text."""
    frame = sheet.frame
    exprs = []
    for name, dtype in frame.schema.items():
        c = pl.col(name)
        if name in sheet.money:
            c = yuan(c)  # exact: the cell gets the double nearest to the yuan amount
        elif name in sheet.bp:
            c = (c.cast(pl.Decimal(24, 4)) / 10_000).cast(pl.Decimal(24, 4))
        elif isinstance(dtype, pl.Datetime):
            c = c.dt.strftime(TIME_FORMAT)
        elif isinstance(dtype, pl.Date):
            c = c.dt.strftime(DATE_FORMAT)
        exprs.append(c.alias(name))
    return frame.select(exprs) if exprs else frame


def _kind(sheet: Sheet, name: str, dtype: pl.DataType) -> str:
    if name in sheet.money or isinstance(dtype, pl.Decimal):
        return "money"
    if name in sheet.bp:
        return "bp"
    if dtype.is_numeric():
        return "number"
    if dtype == pl.Boolean:
        return "boolean"
    return "text"


def _display_width(text: pl.Expr) -> pl.Expr:
    """Columns a text takes: a character of more than one UTF-8 byte (Chinese) counts
    twice."""
    return (text.str.len_bytes() + text.str.len_chars()) // 2


def _widths(cells: pl.DataFrame, headers: list[str]) -> list[int]:
    """Per column: the longest of the header and the cells as shown, plus a margin."""
    widths = []
    for name, head in zip(cells.columns, headers, strict=True):
        column = cells.get_column(name)
        if column.dtype.is_numeric():
            biggest = column.cast(pl.Float64).abs().max()
            cell = len(f"{biggest:,.2f}") + 1 if biggest is not None else 0
        else:
            cell = pl.select(_display_width(pl.lit(column.cast(pl.String)))).to_series().max()
        head_width = pl.select(_display_width(pl.lit(head))).item()
        widths.append(min(MAX_WIDTH, max(MIN_WIDTH, cell or 0, head_width) + 2))
    return widths


def _write_sheet(book: Any, formats: dict[str, Any], sheet: Sheet) -> None:
    ws = book.add_worksheet(sheet.name)
    cells = _cells(sheet)
    headers = [sheet.headers.get(c, c) for c in cells.columns]
    for j, head in enumerate(headers):
        ws.write_string(0, j, head, formats["header"])
    widths = _widths(cells, headers) if cells.width else []
    for j, (name, dtype) in enumerate(sheet.frame.schema.items()):
        kind = _kind(sheet, name, dtype)
        ws.set_column(j, j, widths[j], formats.get(kind))
        values = cells.get_column(name).to_list()
        write = {"text": ws.write_string, "boolean": ws.write_boolean}.get(kind, ws.write_number)
        fmt = formats.get(kind)
        exact = kind in ("money", "bp")
        for i, value in enumerate(values, start=1):
            if value is not None:
                write(i, j, float(value) if exact else value, fmt)
    ws.freeze_panes(1, 0)
    if cells.width:
        ws.autofilter(0, 0, max(cells.height, 1), cells.width - 1)


def write_workbook(path: str | Path, sheets: Sequence[Sheet]) -> None:
    """An XLSX file of `sheets`, in order, written atomically."""
    import xlsxwriter

    with atomic_path(path) as tmp:
        book = xlsxwriter.Workbook(
            str(tmp),
            {"strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False},
        )
        book.set_properties({"created": dt.datetime(2000, 1, 1)})
        formats = {
            "header": book.add_format({"bold": True, "bg_color": "#F2F2F2", "bottom": 1}),
            "money": book.add_format({"num_format": MONEY_FORMAT}),
            "bp": book.add_format({"num_format": BP_FORMAT}),
            "text": book.add_format({"num_format": TEXT_FORMAT}),
        }
        for sheet in sheets:
            _write_sheet(book, formats, sheet)
        book.close()
