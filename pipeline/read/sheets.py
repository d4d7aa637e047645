"""Looking inside an XLSX package before the XLSX library loads a sheet.

fastexcel loads a sheet whole, as a grid from its first to its last cell: one stray cell
at XFD1048576 asks it for 17 billion cells (512 GiB), and the process aborts. So the
sheet's XML is first read here with `zipfile`, a megabyte at a time (bounded memory,
counting with `bytes.count`, never parsing cell by cell): how far its cells reach, how
many cells it really holds, and which cells of row 1 are merged. The workbook's list of
sheets (with the hidden ones) is read here too.
"""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass

#: The sheet XML is read in pieces of this size (the extent of a sheet of any size).
CHUNK = 1 << 20
#: A grid (rows x columns, as the XLSX library allocates it) up to this many cells is
#: read whatever it holds ...
GRID_FREE_CELLS = 2_000_000
#: ... a larger one only if its cells fill at least a twentieth of it (a real export's
#: cells fill most of its grid, a stray cell far away leaves it nearly empty) ...
GRID_FILL = 20
#: ... and is not larger than a sheet of 1,048,576 rows (Excel's most) by 120 columns.
GRID_MAX_CELLS = 1_048_576 * 120
#: workbook.xml and its relationships are small; a larger one is not a workbook.
SMALL_PART = 16 << 20

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"


@dataclass(frozen=True)
class SheetInfo:
    name: str
    part: str  # the sheet's XML inside the package, e.g. xl/worksheets/sheet1.xml
    hidden: bool


@dataclass(frozen=True)
class SheetExtent:
    """How far a sheet's cells reach and how many it holds."""

    last_row: int  # 1-based; 0 for a sheet without rows
    last_column: int  # 1-based
    cells: int  # <c> elements (a formatted empty cell counts too)
    far_cell: str  # the reference of the cell that reaches farthest, e.g. XFD1048576
    merged_in_row_1: tuple[tuple[int, int], ...]  # (first, last) 0-based columns

    @property
    def grid(self) -> int:
        return self.last_row * self.last_column

    @property
    def absurd(self) -> bool:
        """A grid the library would allocate in vain: large and nearly empty."""
        sparse = self.grid > GRID_FILL * self.cells
        return self.grid > GRID_FREE_CELLS and (sparse or self.grid > GRID_MAX_CELLS)


def is_workbook(zf: zipfile.ZipFile) -> bool:
    return "xl/workbook.xml" in zf.namelist()


def workbook_sheets(zf: zipfile.ZipFile) -> list[SheetInfo]:
    """The workbook's sheets in order, with their XML part and whether they are hidden
    (`state` hidden or veryHidden). Raises ValueError for a damaged workbook."""
    book = ET.fromstring(_small(zf, "xl/workbook.xml"))
    targets = {}
    if "xl/_rels/workbook.xml.rels" in zf.namelist():
        rels = ET.fromstring(_small(zf, "xl/_rels/workbook.xml.rels"))
        for rel in rels.iter(f"{_PKG_REL}Relationship"):
            target = rel.get("Target", "")
            path = target.lstrip("/") if target.startswith("/") else posixpath.join("xl", target)
            targets[rel.get("Id")] = posixpath.normpath(path)
    sheets = []
    for sheet in book.iter(f"{_MAIN}sheet"):
        part = targets.get(sheet.get(f"{_REL}id"), "")
        hidden = sheet.get("state", "visible") in ("hidden", "veryHidden")
        sheets.append(SheetInfo(sheet.get("name", ""), part, hidden))
    return sheets


def _small(zf: zipfile.ZipFile, part: str) -> bytes:
    if zf.getinfo(part).file_size > SMALL_PART:
        raise ValueError(f"{part} is larger than {SMALL_PART:,} bytes")
    return zf.read(part)


_ROW_REF = re.compile(rb'<(?:\w+:)?row\b[^>]*?\br="([0-9]+)"')
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*?\bref="([A-Z]+)([0-9]+)(?::([A-Z]+)([0-9]+))?"')


def sheet_extent(zf: zipfile.ZipFile, part: str) -> SheetExtent:
    """Stream the sheet's XML once: its last row, its widest cell, its cell count and
    the merged ranges that touch row 1."""
    last_row = last_col = cells = rows = 0
    far = ""
    merged: list[tuple[int, int]] = []
    prefix = None
    tail = b""
    with zf.open(part) as fh:
        while True:
            piece = fh.read(CHUNK)
            data = tail + piece
            # a tag cut at the end of the piece is read again with the next one
            cut = data.rfind(b"<") if piece else len(data)
            cut = cut if cut > len(data) - 4096 else len(data)
            chunk, tail = data[:cut], data[cut:]
            if prefix is None:
                prefix = _prefix(chunk)
            if prefix is not None:
                row, cell = b"<" + prefix + b"row", b"<" + prefix + b"c"
                rows += chunk.count(row + b" ") + chunk.count(row + b">")
                cells += chunk.count(cell + b" ") + chunk.count(cell + b">")
                numbers = _ROW_REF.findall(chunk[max(chunk.rfind(row + b" "), 0) :])
                last_row = max(last_row, rows, *(int(n) for n in numbers[-1:]))
            column, ref = _widest_cell(chunk)
            if column > last_col:
                last_col, far = column, ref
            merged += _merged_in_row_1(chunk)
            if not piece:
                break
    return SheetExtent(last_row, last_col, cells, far, tuple(merged))


def _prefix(chunk: bytes) -> bytes | None:
    """The namespace prefix of the sheet's elements (`x:` in `<x:sheetData>`, usually
    none), once `sheetData` has started."""
    m = re.search(rb"<(\w+:)?sheetData\b", chunk)
    return None if m is None else m.group(1) or b""


def _widest_cell(chunk: bytes) -> tuple[int, str]:
    """(column number, reference) of the cell farthest right in `chunk`: references of
    three letters are looked for first, then two, then one (no cell-by-cell loop)."""
    for letters in (3, 2, 1):
        found = re.findall(rb'<(?:\w+:)?c\b[^>]*?\br="([A-Z]{%d}[0-9]+)"' % letters, chunk)
        if found:
            text = max(found).decode()  # same number of letters: the column decides
            return column_number(text.rstrip("0123456789")), text
    return 0, ""


def _merged_in_row_1(chunk: bytes) -> list[tuple[int, int]]:
    out = []
    for first_col, first_row, last_col, _ in _MERGE.findall(chunk):
        if int(first_row) == 1:
            end = last_col or first_col
            out.append((column_number(first_col.decode()) - 1, column_number(end.decode()) - 1))
    return out


def column_number(letters: str) -> int:
    """A1-style column letters to a 1-based number: A -> 1, Z -> 26, AA -> 27."""
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def column_letters(number: int) -> str:
    """1-based column number to letters: 1 -> A, 27 -> AA."""
    out = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        out = chr(65 + rest) + out
    return out
