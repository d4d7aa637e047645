"""Reading one export file into a raw table of text cells.

`open_export` returns a LazyFrame with one String column per canonical column of the
kind (null when an optional column is absent from the file) and `__row`, the row number
as a spreadsheet shows it (header = row 1). Headers are matched by name through the
kind's aliases (`schemas.base.normalize_header`); unknown columns are ignored.

Formats: CSV (UTF-8 with or without BOM, GB18030/GBK: detected from the header, which
is always Chinese, or forced with `encoding`), XLSX (first sheet, or `sheet`), Parquet.
GB18030 text is transcoded to a UTF-8 temporary file in chunks, so polars can stream it.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline.errors import InputError
from schemas.base import KindSpec, normalize_header

HEAD_BYTES = 1 << 16
TRANSCODE_CHUNK = 1 << 23
ENCODINGS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "utf-8-sig": "utf-8",
    "gb18030": "gb18030",
    "gbk": "gb18030",  # GB18030 is a superset of GBK and GB2312
    "gb2312": "gb18030",
}
ENCODING_HINT = "pass --encoding utf-8 or --encoding gb18030 to say which it is"


@dataclass
class RawExport:
    """One file's raw table and what was learnt reading it."""

    path: str
    frame: pl.LazyFrame
    headers: dict[str, str]  # canonical name -> header text found in the file
    format: str  # csv, xlsx, parquet
    encoding: str | None = None


def open_export(
    spec: KindSpec,
    path: str | Path,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    workdir: Path,
    shop_id: str | None = None,
) -> RawExport:
    """Open `path` as an export of kind `spec`. Raises InputError for a file that cannot
    be used at all."""
    name = str(path)
    p = Path(path)
    if not p.exists():
        raise InputError(name, "no such file")
    if p.is_dir():
        raise InputError(name, "is a folder, not a file")
    if p.stat().st_size == 0:
        raise InputError(name, "the file is empty (0 bytes): export it again")
    with open(p, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    fmt = _format_of(p, head)
    if fmt == "xls":
        raise InputError(name, "an old .xls workbook cannot be read", "open it in Excel and save as .xlsx or CSV")
    if fmt == "xlsx":
        cells, header = _read_xlsx(name, p, sheet)
        enc = None
    elif fmt == "parquet":
        cells, header = _read_parquet(name, p)
        enc = None
    else:
        enc = _csv_encoding(name, head, encoding)
        cells, header = _read_csv(name, p, head, enc, spec, workdir)
    positions = _match_headers(name, spec, header)
    first_row = spec.first_data_row if fmt != "parquet" else 2
    frame = cells.with_row_index("__idx")
    selected = [pl.col("__idx").cast(pl.Int64).add(first_row).alias("__row")]
    headers: dict[str, str] = {}
    for column in spec.columns:
        pos = positions.get(column.name)
        if pos is not None:
            headers[column.name] = header[pos]
            selected.append(pl.col(f"c{pos}").cast(pl.String).alias(column.name))
        elif column.name == "shop_id" and shop_id is not None:
            headers[column.name] = "店铺ID"
            selected.append(pl.lit(shop_id, pl.String).alias(column.name))
        else:
            headers[column.name] = column.headers[0]
            selected.append(pl.lit(None, pl.String).alias(column.name))
    return RawExport(name, frame.select(selected), headers, fmt, enc)


def _format_of(p: Path, head: bytes) -> str:
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    return "csv"


def _csv_encoding(name: str, head: bytes, forced: str | None) -> str:
    if forced and forced.lower() != "auto":
        try:
            return ENCODINGS[forced.lower()]
        except KeyError:
            raise InputError(name, f"unknown encoding {forced!r}", "use utf-8 or gb18030") from None
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if b"\x00" in head:
        raise InputError(name, "is not a text export (it contains NUL bytes): a binary or damaged file")
    for candidate in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(candidate)().decode(head, final=False)
            return candidate
        except UnicodeDecodeError:
            continue
    raise InputError(name, "is neither UTF-8 nor GB18030 text", ENCODING_HINT)


def _read_csv(
    name: str, p: Path, head: bytes, enc: str, spec: KindSpec, workdir: Path
) -> tuple[pl.LazyFrame, list[str]]:
    text = codecs.getincrementaldecoder(enc)(errors="replace").decode(head, final=False)
    text = text.lstrip("\ufeff")
    try:
        header = next(csv.reader(io.StringIO(text)))
    except StopIteration:
        raise InputError(name, "has no header row") from None
    except csv.Error as exc:
        raise InputError(name, f"the header row cannot be read as CSV ({exc})") from None
    if enc != "utf-8":
        p = _transcode(name, p, enc, workdir)
    frame = pl.scan_csv(
        p,
        has_header=False,
        skip_rows=1 + spec.skip_after_header,
        schema={f"c{i}": pl.String for i in range(len(header))},
        empty_string_is_null=False,
        raise_if_empty=False,
    )
    return frame, header


def _transcode(name: str, p: Path, enc: str, workdir: Path) -> Path:
    """GB18030 to UTF-8, chunk by chunk (polars reads UTF-8 only)."""
    target = workdir / f"transcoded-{abs(hash(str(p)))}.csv"
    decoder = codecs.getincrementaldecoder(enc)(errors="strict")
    offset = 0
    with open(p, "rb") as src, open(target, "w", encoding="utf-8", newline="") as dst:
        while chunk := src.read(TRANSCODE_CHUNK):
            try:
                dst.write(decoder.decode(chunk))
            except UnicodeDecodeError as exc:
                raise InputError(
                    name, f"is not valid {enc.upper()} text near byte {offset + exc.start}", ENCODING_HINT
                ) from None
            offset += len(chunk)
        try:
            dst.write(decoder.decode(b"", final=True))
        except UnicodeDecodeError:
            raise InputError(name, f"ends in the middle of a {enc.upper()} character", ENCODING_HINT) from None
    return target


def _read_xlsx(name: str, p: Path, sheet: str | None) -> tuple[pl.LazyFrame, list[str]]:
    import fastexcel

    try:
        book = fastexcel.read_excel(str(p))
    except Exception as exc:  # fastexcel raises its own error types for damaged files
        raise InputError(name, f"cannot be opened as an XLSX workbook ({_first_line(exc)})") from None
    sheets = book.sheet_names
    if not sheets:
        raise InputError(name, "the workbook has no sheets")
    if sheet is None:
        index = 0
    elif sheet in sheets:
        index = sheets.index(sheet)
    elif sheet.isdigit() and 1 <= int(sheet) <= len(sheets):
        index = int(sheet) - 1
    else:
        raise InputError(name, f"has no sheet {sheet!r} (sheets: {', '.join(sheets)})")
    try:
        data = pl.DataFrame(book.load_sheet(index, header_row=None, dtypes="string"))
    except Exception as exc:
        raise InputError(name, f"sheet {sheets[index]!r} cannot be read ({_first_line(exc)})") from None
    if data.height == 0:
        raise InputError(name, f"sheet {sheets[index]!r} is empty")
    data = data.rename({c: f"c{i}" for i, c in enumerate(data.columns)})
    header = ["" if v is None else str(v) for v in data.row(0)]
    body = data.slice(1).with_row_index("__xlsx_idx")
    # Blank rows at the end of a sheet (formatted, never filled) are not data.
    filled = body.select(
        pl.any_horizontal([pl.col(c).str.strip_chars().str.len_bytes() > 0 for c in data.columns])
        .fill_null(False)
        .arg_true()
        .max()
    ).item()
    last = -1 if filled is None else filled
    return data.slice(1, last + 1).lazy(), header


def _read_parquet(name: str, p: Path) -> tuple[pl.LazyFrame, list[str]]:
    try:
        schema = pl.scan_parquet(p).collect_schema()
    except Exception as exc:
        raise InputError(name, f"cannot be read as Parquet ({_first_line(exc)})") from None
    exprs = []
    for i, (col, dtype) in enumerate(schema.items()):
        e = pl.col(col)
        if isinstance(dtype, pl.Datetime):
            e = e.dt.strftime("%Y-%m-%d %H:%M:%S")
        exprs.append(e.cast(pl.String).alias(f"c{i}"))
    return pl.scan_parquet(p).select(exprs), list(schema.names())


def _match_headers(name: str, spec: KindSpec, header: list[str]) -> dict[str, int]:
    """Canonical column -> position in the file. Refuses a file that lacks a required
    column, or that has the same needed header twice."""
    by_name: dict[str, list[int]] = {}
    for i, h in enumerate(header):
        by_name.setdefault(normalize_header(h), []).append(i)
    positions: dict[str, int] = {}
    missing: list[str] = []
    for column in spec.columns:
        for alias in column.headers:
            found = by_name.get(normalize_header(alias))
            if found:
                if len(found) > 1:
                    cols = " and ".join(str(i + 1) for i in found)
                    raise InputError(name, f"the header {alias!r} appears twice (columns {cols}): which one to use is unclear")
                positions[column.name] = found[0]
                break
        else:
            if column.required:
                missing.append(column.headers[0])
    if missing:
        what = ", ".join(missing)
        plural = "columns" if len(missing) > 1 else "column"
        raise InputError(
            name,
            f"missing required {plural} {what} (is this a {spec.title} export?)",
        )
    return positions


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
