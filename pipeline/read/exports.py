"""Reading one export file into a raw table of text cells.

`open_exports` reads the header and returns a `RawExport` (one per member of a zip archive,
`pipeline.read.archive`). Its `scan` gives the file's rows as one lazy polars plan (valid
inside the `with` block), with one String column per canonical column of the kind (null
when an optional column is absent from the file) and `__row`, the row number as a
spreadsheet shows it (header = row 1). Headers are matched by name through the kind's aliases
(`schemas.base.normalize_header`); unknown columns are ignored.

Formats: CSV (UTF-8 with or without BOM, GB18030/GBK: detected from the header, which
is always Chinese, or forced with `encoding`), XLSX (the first visible sheet, or `sheet`;
its extent checked first, `pipeline.read.sheets`), Parquet, and zip archives of CSV and XLSX
files. An input must be a regular file (`check_input_file`); a name that is not UTF-8 is
shown escaped (`display_name`). Blank lines at the end of a CSV are not rows.

A CSV is scanned by polars' own reader, which the streaming engine runs a chunk at a
time; a GB18030 file is first transcoded into a UTF-8 copy, block by block (cut at row
ends outside quotes: an even number of `"` before it; a line end is never part of a
GB18030 character), each block checked as it is decoded. Only the columns read are
parsed, unless the file holds a quote: then every column is, to find a cell that
swallowed rows. Cells past the last header land in spare columns (`EXTRA`). A Parquet
file is scanned a row group at a time; a workbook is loaded whole (fastexcel reads
sheets whole).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline.errors import InputError, first_line
from pipeline.parallel import WORKERS
from pipeline.read.archive import Member, archive_members, is_zip
from pipeline.read.sheets import (
    SheetInfo,
    column_letters,
    is_workbook,
    sheet_extent,
    workbook_sheets,
)
from pipeline.read.transcode import DecodeProblem, decode, transcode
from schemas.base import KindSpec, normalize_header

HEAD_BYTES = 1 << 16
#: Rows per piece of work polars' streaming engine cuts a Parquet export into while it
#: is checked (polars' default: up to 100,000, in halves of a row group). The plan that
#: checks a file is wide and holds several pieces at once: from a Parquet file with
#: 125,000-row groups a 10M-row settlement peaked between 0.8 and 1.2 GiB from run to
#: run with the default, at 0.8 to 0.9 GiB with this, and ran faster. (CSV files and
#: the other stages keep polars' default: smaller pieces cost them time or memory. The
#: setting is the process's while the scan is open; a query of another thread then
#: only runs in smaller pieces, with the same results.)
PARQUET_PIECE_ROWS = 25_000
ENCODINGS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "utf-8-sig": "utf-8",
    "gb18030": "gb18030",
    "gbk": "gb18030",  # GB18030 is a superset of GBK and GB2312
    "gb2312": "gb18030",
}
ENCODING_HINT = "pass {opt:encoding} utf-8 or {opt:encoding} gb18030 to say which it is"
#: A CSV row with more cells than the header (an unquoted comma in a title, say) is read
#: into spare columns, so the row can be rejected (`extra-cells`) instead of the file.
SPARE = "__spare"
SPARE_COLUMNS = 16
EXTRA = "__extra"
EXTRA_HEADER = "(cells past the last column)"
#: A quote left open in a cell (a 买家留言 that starts with ") makes the CSV reader take
#: the following lines as part of that cell: whole rows vanish into it. A cell holding a
#: line break and at least half a row's worth of commas is such a cell; its row is
#: rejected (`cell-spans-rows`) so that nothing disappears silently.
SPANS = "__spans"
SPANS_HEADER = "(a quoted cell that spans several rows)"


@dataclass
class RawExport:
    """One file: its rows (`scan`) and what was learnt reading its header."""

    path: str
    headers: dict[str, str]  # canonical name -> header text found in the file
    format: str  # csv, xlsx, parquet
    encoding: str | None
    #: the file's rows as one lazy plan (see the module doc): `scan(work, probe)` is a
    #: context manager giving the plan, valid inside it; `work` is a folder for a
    #: transcoded copy, `probe` names more of the file's columns (name -> position) to
    #: read as text
    scan: Callable[[Path, Mapping[str, int]], AbstractContextManager[pl.LazyFrame]]
    header: tuple[str, ...] = ()  # the file's header row as written
    present: frozenset[str] = frozenset()  # canonical columns the file has (or --shop-id)


def display_name(path: str | os.PathLike[str]) -> str:
    """The file's name for messages and findings. A name that is not UTF-8 (GBK bytes,
    common after unzipping an archive made on Chinese Windows) keeps its odd bytes as
    escapes (`\\xb6\\xa9.csv`); the file itself is still read."""
    return os.fsencode(path).decode("utf-8", errors="backslashreplace")


def check_input_file(path: str | os.PathLike[str], name: str | None = None) -> os.stat_result:
    """`os.stat` of an input, without opening it: an InputError unless it is a regular
    file holding some bytes (a folder, a FIFO or a device such as `/dev/zero` behind a
    link would be read for ever, or not at all)."""
    name = display_name(path) if name is None else name
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(name, "no such file") from None
    except OSError as exc:
        raise InputError(name, f"cannot be used ({_os_reason(exc)})") from None
    kind = next((w for test, w in _NOT_FILES if test(st.st_mode)), None)
    if kind is not None:
        raise InputError(name, f"is {kind}, not a file", "give the path of an export file")
    if st.st_size == 0:
        raise InputError(name, "the file is empty (0 bytes): export it again")
    return st


_NOT_FILES = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)


def _os_reason(exc: OSError) -> str:
    """`permission denied`, `is a folder`...: an OSError in a few words."""
    if isinstance(exc, PermissionError):
        return "permission denied"
    return (exc.strerror or first_line(exc)).lower()


@dataclass(frozen=True)
class _Source:
    """Where an export's bytes are: a file, or a member of a zip archive."""

    name: str
    path: Path
    member: Member | None = None

    def head(self) -> bytes:
        try:
            if self.member is not None:
                return self.member.head(HEAD_BYTES)
            with open(self.path, "rb") as fh:
                return fh.read(HEAD_BYTES)
        except OSError as exc:
            raise InputError(self.name, f"cannot be read ({_os_reason(exc)})") from None

    def data(self) -> bytes:
        """All the bytes (a workbook is loaded whole anyway)."""
        return self.member.read() if self.member is not None else self.path.read_bytes()

    @contextlib.contextmanager
    def on_disk(self) -> Iterator[Path]:
        """A path a library can open: the file (through its descriptor when its name is
        not UTF-8, which a library written in Rust cannot take), or the member
        unpacked to a temporary file."""
        if self.member is not None:
            with self.member.extracted() as path:
                yield path
            return
        try:
            str(self.path).encode("utf-8")
        except UnicodeEncodeError:
            fd = os.open(self.path, os.O_RDONLY)
            try:
                yield Path(f"/proc/self/fd/{fd}")
            finally:
                os.close(fd)
            return
        yield self.path


def open_exports(
    spec: KindSpec,
    path: str | Path,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    shop_id: str | None = None,
) -> list[RawExport]:
    """Open `path` as exports of kind `spec`: one for a file, one per CSV or XLSX member
    (in name order) for a zip archive (`pipeline.read.archive`). Headers are read and
    matched now (an InputError for a file that cannot be used at all)."""
    name = display_name(path)
    p = Path(os.fsdecode(path))
    check_input_file(p, name)
    head = _Source(name, p).head()
    if is_zip(head) and not _zip_is_workbook(name, p):
        sources = [_Source(m.name, p, m) for m in archive_members(name, p)]
    else:
        sources = [_Source(name, p)]
    return [_open(spec, source, encoding, sheet, shop_id) for source in sources]


def open_export(
    spec: KindSpec,
    path: str | Path,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    shop_id: str | None = None,
) -> RawExport:
    """Open `path` as one export of kind `spec` (a zip archive must hold exactly one)."""
    raws = open_exports(spec, path, encoding=encoding, sheet=sheet, shop_id=shop_id)
    if len(raws) != 1:
        names = ", ".join(r.path for r in raws)
        raise InputError(display_name(path), f"holds {len(raws)} exports ({names}): give one")
    return raws[0]


def _zip_is_workbook(name: str, p: Path) -> bool:
    try:
        with zipfile.ZipFile(p) as zf:
            return is_workbook(zf)
    except (zipfile.BadZipFile, OSError, ValueError):
        return True  # a damaged zip: refused as a damaged workbook


def _open(
    spec: KindSpec, source: _Source, encoding: str | None, sheet: str | None, shop_id: str | None
) -> RawExport:
    """One export's header, read and matched; its rows when its `scan` runs (a polars
    error then for a file broken past its header)."""
    name = source.name
    head = source.head()
    fmt = _format_of(head)
    if fmt == "xls":
        raise InputError(
            name, "an old .xls workbook cannot be read", "open it in Excel and save as .xlsx or CSV"
        )
    if source.member is not None:
        if is_zip(head) and not source.member.filename.lower().endswith(".xlsx"):
            raise InputError(name, "is a zip inside the zip archive: unpack it first")
        if fmt == "parquet":
            raise InputError(
                name, "is neither CSV nor XLSX: only CSV and XLSX files are read from a zip"
            )
    where = ""
    enc = None
    if fmt == "xlsx":
        cells, header, sheet_name, numeric = _read_xlsx(name, source.data(), sheet)
        where = f" (sheet {sheet_name!r})"
    elif fmt == "parquet":
        with source.on_disk() as on_disk:
            header = _parquet_header(name, on_disk)
    else:
        enc = _csv_encoding(name, head, encoding)
        header, data_start = _csv_header(name, head, enc)
    positions = _match_headers(name, spec, header, where)
    headers = {}
    for column in spec.columns:
        pos = positions.get(column.name)
        if pos is not None:
            headers[column.name] = header[pos]
        elif column.name == "shop_id" and shop_id is not None:
            headers[column.name] = "店铺ID"
        else:
            headers[column.name] = column.headers[0]
    headers[EXTRA] = EXTRA_HEADER
    headers[SPANS] = SPANS_HEADER

    def pick(cells: pl.LazyFrame, quoted: bool, probe: Mapping[str, int]) -> pl.LazyFrame:
        names = cells.collect_schema().names()
        return _pick(spec, cells, names, header, positions, shop_id, quoted, probe)

    if fmt == "xlsx":
        table = _mark_numeric_cells(cells, numeric, spec, positions).collect()

        @contextlib.contextmanager
        def scan(work: Path, probe: Mapping[str, int]) -> Iterator[pl.LazyFrame]:
            yield pick(table.lazy().with_row_index("__idx"), False, probe)

    elif fmt == "parquet":

        @contextlib.contextmanager
        def scan(work: Path, probe: Mapping[str, int]) -> Iterator[pl.LazyFrame]:
            used = {*positions.values(), *probe.values()}
            with source.on_disk() as on_disk, pl.Config(streaming_chunk_size=PARQUET_PIECE_ROWS):
                scan = pl.scan_parquet(on_disk, row_index_name="__idx")
                cells = scan.select("__idx", *_parquet_cells(on_disk, used))
                yield pick(cells, False, probe)

    else:

        @contextlib.contextmanager
        def scan(work: Path, probe: Mapping[str, int]) -> Iterator[pl.LazyFrame]:
            used = sorted({*positions.values(), *probe.values()})
            with (
                source.on_disk() as on_disk,
                _utf8_copy(name, on_disk, data_start, enc, work) as (
                    text,
                    start,
                    quoted,
                ),
            ):
                cells = _csv_scan(text, start, len(header), used, quoted)
                yield pick(cells, quoted, probe)

    present = frozenset(positions) | ({"shop_id"} & set(headers) if shop_id is not None else set())
    return RawExport(name, headers, fmt, enc, scan, tuple(header), present)


def _pick(
    spec: KindSpec,
    cells: pl.LazyFrame,
    names: list[str],
    header: list[str],
    positions: dict[str, int],
    shop_id: str | None,
    quoted: bool,
    probe: Mapping[str, int] | None = None,
) -> pl.LazyFrame:
    """The kind's columns of `cells` (`c0`... and the spare columns, `names`; `__idx`
    the 0-based data row), `__row`, the cells past the last column (EXTRA) and a cell
    that spans rows (SPANS, looked for when the cells hold a quote), and the `probe`
    columns (name -> position) as text."""
    frame = cells
    if spec.skip_after_header:
        frame = frame.filter(~_is_note_row(spec, positions))
    selected = [pl.col("__idx").cast(pl.Int64).add(2).alias("__row")]
    for column in spec.columns:
        pos = positions.get(column.name)
        if pos is not None:
            selected.append(pl.col(f"c{pos}").cast(pl.String).alias(column.name))
        elif column.name == "shop_id" and shop_id is not None:
            selected.append(pl.lit(shop_id, pl.String).alias(column.name))
        else:
            selected.append(pl.lit(None, pl.String).alias(column.name))
    names = [c for c in names if c.startswith(("c", SPARE))]
    if quoted:
        selected.append(_spanning_cell(names, header).alias(SPANS))
    else:
        selected.append(pl.lit(None, pl.String).alias(SPANS))
    spare = [c for c in names if c.startswith(SPARE)]
    filled = [pl.when(pl.col(c).str.len_bytes() > 0).then(pl.col(c)) for c in spare]
    if not spare:
        selected.append(pl.lit(None, pl.String).alias(EXTRA))
    else:  # the cells joined only on the rows that have any (nearly none)
        extra = pl.concat_str(filled, separator=",", ignore_nulls=True)
        any_filled = pl.any_horizontal(f.is_not_null() for f in filled)
        selected.append(pl.when(any_filled).then(extra).alias(EXTRA))
    selected += [pl.col(f"c{pos}").cast(pl.String).alias(n) for n, pos in (probe or {}).items()]
    return frame.select(selected)


def _spanning_cell(names: list[str], header: list[str]) -> pl.Expr:
    """`header: start of the cell` of the first cell that swallowed rows, else null."""
    enough = max(3, len(header) - 1)
    found = []
    for name in names:
        cell = pl.col(name)
        spans = cell.str.contains("\n", literal=True) & (
            cell.str.count_matches(",", literal=True) >= enough
        )
        label = header[int(name[1:])] if name.startswith("c") and name[1:].isdigit() else "?"
        found.append(pl.when(spans).then(pl.lit(f"{label}: ") + cell.str.slice(0, 60)))
    return pl.coalesce(found)


def _is_note_row(spec: KindSpec, positions: dict[str, int]) -> pl.Expr:
    """The rows right after the header that the platform fills with a note (the bill's
    row 2). Such a row is dropped only when none of the kind's required ID columns holds
    anything like an ID: a file saved without its note row loses nothing."""
    keys = [c.name for c in spec.columns if c.type == "id" and c.required]
    cells = [pl.col(f"c{positions[k]}").str.strip_chars("\t '\"=") for k in keys]
    has_id = pl.any_horizontal([c.str.contains(r"^[0-9.eE+]+$").fill_null(False) for c in cells])
    return (pl.col("__idx") < spec.skip_after_header) & ~has_id


def _mark_numeric_cells(
    cells: pl.LazyFrame, numeric: pl.DataFrame, spec: KindSpec, positions: dict[str, int]
) -> pl.LazyFrame:
    """Number cells of a workbook in ID and time columns. An ID in a number cell has
    been through a binary float (Excel keeps 15 digits): its text would look like a
    valid ID with the wrong last digits, so it is shown as Excel does (6.93881E+18) and
    rejected as `id-scientific-notation`. A number in a time column is an Excel serial
    date (days since 1899-12-30, what a date cell holds without its format): it becomes
    the time it stands for, to the second. Text cells are left as they are (a CSV's
    `46300` is not a date)."""
    exprs = []
    for column in spec.columns:
        pos = positions.get(column.name)
        if column.type not in ("id", "timestamp") or pos is None:
            continue
        if f"c{pos}" not in numeric.columns:
            continue
        is_number = pl.col(f"__num{pos}").fill_null(False)
        text = pl.col(f"c{pos}").str.strip_chars()
        value = (_scientific if column.type == "id" else _serial_time)(text, is_number)
        exprs.append(pl.coalesce(value, pl.col(f"c{pos}")).alias(f"c{pos}"))
    if not exprs:
        return cells
    flags = numeric.rename({c: f"__num{c[1:]}" for c in numeric.columns}).lazy()
    return (
        pl.concat([cells, flags], how="horizontal")
        .with_columns(exprs)
        .drop(flags.collect_schema().names())
    )


def _scientific(text: pl.Expr, is_number: pl.Expr) -> pl.Expr:
    digits = text.str.replace(r"\.0+$", "")
    scientific = pl.concat_str(
        digits.str.slice(0, 1),
        pl.lit("."),
        digits.str.slice(1, 5),
        pl.lit("E+"),
        (digits.str.len_chars() - 1).cast(pl.String),
    )
    long_number = is_number & digits.str.contains(r"^[0-9]{12,}$").fill_null(False)
    return pl.when(long_number).then(scientific)


#: Excel's day zero for serial dates (the 1900 date system), and the serials of days
#: 1900-01-01 to 9999-12-31.
EXCEL_EPOCH = pl.datetime(1899, 12, 30)
EXCEL_SERIALS = (1, 2_958_465)


def _serial_time(text: pl.Expr, is_number: pl.Expr) -> pl.Expr:
    days = pl.when(is_number).then(text).cast(pl.Float64, strict=False)
    days = pl.when(days.is_between(*EXCEL_SERIALS)).then(days)
    seconds = (days * 86400).round(0).cast(pl.Int64, strict=False)
    return (EXCEL_EPOCH + pl.duration(seconds=seconds)).dt.strftime("%Y-%m-%d %H:%M:%S")


def _format_of(head: bytes) -> str:
    if is_zip(head):
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
        raise InputError(
            name, "is not a text export (it contains NUL bytes): a binary or damaged file"
        )
    for candidate in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(candidate)().decode(head, final=False)
            return candidate
        except UnicodeDecodeError:
            continue
    raise InputError(name, "is neither UTF-8 nor GB18030 text", ENCODING_HINT)


def _csv_header(name: str, head: bytes, enc: str) -> tuple[list[str], int]:
    """The header row's cells and the byte offset where the data rows start."""
    end = _row_end(head)
    if end < 0 and len(head) == HEAD_BYTES:
        raise InputError(name, f"the header row is longer than {HEAD_BYTES:,} bytes")
    if enc != "utf-8":  # a GB18030 header must be GB18030 (UTF-8 is checked by polars)
        with _decoding(name):
            decode(head[: end if end > 0 else len(head)], 0, enc, final=True)
    text = codecs.getincrementaldecoder(enc)(errors="replace").decode(head, final=False)
    text = text.lstrip("\ufeff")
    try:
        header = next(csv.reader(io.StringIO(text)))
    except StopIteration:
        raise InputError(name, "has no header row") from None
    except csv.Error as exc:
        if "new-line character" in str(exc):
            raise InputError(
                name,
                "the header row cannot be read as CSV: the file uses old Mac line ends (CR only)",
                "save it again as CSV with Windows or Unix line ends",
            ) from None
        raise InputError(name, f"the header row cannot be read as CSV ({exc})") from None
    # a header and nothing else may have no final line end
    return header, end if end > 0 else len(head)


def _row_end(data: bytes, *, last: bool = False) -> int:
    """The offset just past the first (or `last`) line end of `data` that ends a row,
    one with an even number of quotes before it, or -1. Quotes are counted once over
    the data, not again for each line end tried (a quote left open would make that
    quadratic)."""
    if b'"' not in data:  # no quotes (most files): every line end ends a row
        cut = data.rfind(b"\n") if last else data.find(b"\n")
        return -1 if cut < 0 else cut + 1
    if last:
        cut = data.rfind(b"\n")
        quotes = data.count(b'"', 0, cut) if cut >= 0 else 0
        while cut >= 0 and quotes % 2:
            earlier = data.rfind(b"\n", 0, cut)
            quotes -= data.count(b'"', max(earlier, 0), cut)
            cut = earlier
    else:
        cut = data.find(b"\n")
        quotes = data.count(b'"', 0, cut) if cut >= 0 else 0
        while cut >= 0 and quotes % 2:
            later = data.find(b"\n", cut + 1)
            quotes += data.count(b'"', cut, later) if later >= 0 else 0
            cut = later
    return -1 if cut < 0 else cut + 1


#: What a blank line of a CSV holds: nothing but separators and spaces.
BLANK = b"\r\n\t ,"


def _data_end(p: Path, start: int) -> int:
    """The offset just past the last row that holds anything: blank lines at the end of
    a CSV (Excel keeps a sheet's formatted empty rows as `,,,` lines) are not data. The
    file's tail is read backwards, a block at a time, only as far as it is blank."""
    with open(p, "rb") as fh:
        end = pos = fh.seek(0, os.SEEK_END)
        line_end = None  # the earliest line end seen in the blank tail
        while pos > start:
            step = min(HEAD_BYTES, pos - start)
            fh.seek(pos - step)
            chunk = fh.read(step)
            kept = len(chunk.rstrip(BLANK))
            found = chunk.find(b"\n", kept)
            if found >= 0:
                line_end = pos - step + found
            if kept:
                return end if line_end is None else line_end + 1
            pos -= step
    return start


@contextlib.contextmanager
def _decoding(name: str) -> Iterator[None]:
    """A DecodeProblem raised inside as the InputError of file `name`."""
    try:
        yield
    except DecodeProblem as exc:
        raise InputError(name, str(exc), ENCODING_HINT) from None


@contextlib.contextmanager
def _utf8_copy(
    name: str, p: Path, start: int, enc: str, work: Path
) -> Iterator[tuple[Path, int, bool]]:
    """The CSV as UTF-8 text for polars' own reader: (path, offset of the data rows,
    whether they hold any quote). A UTF-8 file is itself; another encoding is
    transcoded into `work` (in `WORKERS` processes when it is big), each block checked
    as it is decoded (an InputError naming the byte)."""
    if enc == "utf-8":
        yield p, start, _holds_quote(p, start)
        return

    fd, tmp = tempfile.mkstemp(prefix=".utf8-", suffix=".csv", dir=work)
    copy = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(b"\n")  # the header's place: the data starts on line 2
            with _decoding(name):
                quoted = transcode(p, start, _data_end(p, start), enc, out, work, WORKERS)
        yield copy, 1, quoted
    finally:
        copy.unlink(missing_ok=True)


def _holds_quote(p: Path, start: int) -> bool:
    """Whether the file holds a `"` after byte `start`: read a block at a time (a
    memory map would count the whole file in the process's resident memory)."""
    with open(p, "rb") as fh:
        fh.seek(start)
        while block := fh.read(1 << 24):
            if b'"' in block:
                return True
    return False


def _csv_scan(p: Path, start: int, width: int, used: list[int], quoted: bool) -> pl.LazyFrame:
    """The data rows of a UTF-8 CSV (from byte `start`, the row after the header) as
    text cells `c0`... and the spare columns, with `__idx`, one polars scan. Without
    quotes only the `used` columns are read (no cell can span rows there); with quotes
    all. Blank lines at the end are left out (`n_rows`, counted only when the file has
    such a tail)."""
    schema = {
        **{f"c{i}": pl.String for i in range(width)},
        **{spare: pl.String for spare in _spares()},
    }
    options = dict(
        has_header=False,
        empty_string_is_null=False,
        raise_if_empty=False,
        truncate_ragged_lines=True,  # past the spare columns; such a row is rejected anyway
        missing_columns="insert",
    )
    end = _data_end(p, start)
    rows = None
    if end < p.stat().st_size:
        with open(p, "rb") as fh:
            fh.seek(end)
            tail = fh.read()
        one = {"c0": pl.String}
        count = pl.scan_csv(p, skip_rows=1, schema=one, **options).select(pl.len()).collect()
        rows = count.item() - pl.read_csv(io.BytesIO(tail), schema=one, **options).height
    columns = list(schema) if quoted else [*(f"c{i}" for i in used), *_spares()]
    cells = pl.scan_csv(
        p, skip_rows=1, schema=schema, n_rows=rows, row_index_name="__idx", **options
    )
    return cells.select("__idx", *columns)


def _spares() -> list[str]:
    return [f"{SPARE}{i}" for i in range(SPARE_COLUMNS)]


def _read_xlsx(
    name: str, data: bytes, sheet: str | None
) -> tuple[pl.LazyFrame, list[str], str, pl.DataFrame]:
    """The sheet's cells as text, its header row, its name, and for every column a flag
    per row: was the cell a number (True/False) rather than text (null). The sheet is
    the first visible one, or `sheet` (a name or a number from 1); its extent is checked
    (`pipeline.read.sheets`) before the XLSX library loads it."""
    import fastexcel

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            if not is_workbook(zf):
                raise ValueError("it holds no xl/workbook.xml")
            infos = workbook_sheets(zf)
            index = _pick_sheet(name, infos, sheet)
            extent = sheet_extent(zf, infos[index].part) if infos[index].part else None
        book = fastexcel.read_excel(data)
    except InputError:
        raise
    except Exception as exc:  # zipfile, XML and fastexcel errors of a damaged file
        raise InputError(
            name, f"cannot be opened as an XLSX workbook ({first_line(exc)})"
        ) from None
    sheet_name = infos[index].name
    if extent is not None and extent.absurd:
        raise InputError(
            name,
            f"sheet {sheet_name!r} reaches row {extent.last_row:,} and column "
            f"{column_letters(extent.last_column)} ({extent.grid:,} cells) but holds only "
            f"{extent.cells:,}: a stray cell far from the data",
            "delete the rows and columns past the data in Excel and save again",
        )
    if len(book.sheet_names) != len(infos):
        index = book.sheet_names.index(sheet_name)
    try:
        data_ = pl.DataFrame(book.load_sheet(index, header_row=None, dtypes="string"))
        # Loaded as booleans, a number cell is true or false and a text cell is null.
        numeric = pl.DataFrame(book.load_sheet(index, header_row=None, dtypes="boolean"))
    except Exception as exc:
        raise InputError(name, f"sheet {sheet_name!r} cannot be read ({first_line(exc)})") from None
    if data_.height == 0:
        raise InputError(name, f"sheet {sheet_name!r} is empty")
    data_ = data_.rename({c: f"c{i}" for i, c in enumerate(data_.columns)})
    numeric = numeric.rename({c: f"c{i}" for i, c in enumerate(numeric.columns)})
    header = ["" if v is None else str(v) for v in data_.row(0)]
    if extent is not None and extent.merged_in_row_1:
        first, last = extent.merged_in_row_1[0]
        cells = f"{column_letters(first + 1)}1:{column_letters(last + 1)}1"
        text = header[first] if first < len(header) else ""
        raise InputError(
            name,
            f"sheet {sheet_name!r} has merged header cells {cells} ({text!r}): "
            "the columns under them have no header of their own",
            "unmerge the header cells in Excel, give each column its header, and save again",
        )
    rows = _filled_rows(data_)
    return data_.slice(1, rows).lazy(), header, sheet_name, numeric.slice(1, rows)


def _pick_sheet(name: str, infos: list[SheetInfo], sheet: str | None) -> int:
    """The index of the sheet to read: `sheet` by name or number, else the first
    visible one (a hidden sheet often holds stale data or lookups)."""
    names = [i.name for i in infos]
    if not infos:
        raise InputError(name, "the workbook has no sheets")
    if sheet is None:
        visible = [n for n, i in enumerate(infos) if not i.hidden]
        if not visible:
            raise InputError(
                name, f"every sheet is hidden ({', '.join(names)})", "pass --sheet NAME"
            )
        return visible[0]
    if sheet in names:
        return names.index(sheet)
    if sheet.isdigit() and 1 <= int(sheet) <= len(names):
        return int(sheet) - 1
    raise InputError(name, f"has no sheet {sheet!r} (sheets: {', '.join(names)})")


def _filled_rows(data: pl.DataFrame) -> int:
    """Data rows up to the last one with a cell that is not blank: blank rows at the end
    of a sheet (formatted, never filled) are not data."""
    filled = (
        data.slice(1)
        .select(
            pl.any_horizontal(
                [pl.col(c).str.strip_chars().str.len_bytes() > 0 for c in data.columns]
            )
            .fill_null(False)
            .arg_true()
            .max()
        )
        .item()
    )
    return 0 if filled is None else filled + 1


def _parquet_header(name: str, p: Path) -> list[str]:
    try:
        return list(pl.scan_parquet(p).collect_schema().names())
    except Exception as exc:
        raise InputError(name, f"cannot be read as Parquet ({first_line(exc)})") from None


def _parquet_cells(p: Path, used: set[int]) -> list[pl.Expr]:
    """The `used` columns of a Parquet file (by position) as text cells `c0`...; a
    zoned timestamp in China time, a naive one as it is."""
    exprs = []
    for i, (col, dtype) in enumerate(pl.scan_parquet(p).collect_schema().items()):
        if i not in used:
            continue
        e = pl.col(col)
        if isinstance(dtype, pl.Datetime):
            # a zoned timestamp is converted to China time; a naive one is China time
            if dtype.time_zone is not None:
                e = e.dt.convert_time_zone("Asia/Shanghai")
            e = e.dt.strftime("%Y-%m-%d %H:%M:%S%.f")
        exprs.append(e.cast(pl.String).alias(f"c{i}"))
    return exprs


def _match_headers(name: str, spec: KindSpec, header: list[str], where: str = "") -> dict[str, int]:
    """Canonical column -> position in the file. Refuses a file that lacks a required
    column, or that has the same needed header twice."""
    by_name: dict[str, list[int]] = {}
    for i, h in enumerate(header):
        by_name.setdefault(normalize_header(h), []).append(i)
    positions: dict[str, int] = {}
    missing: list[str] = []
    # a header that is another column's own name (货号 of item_no) is only a fallback
    # alias elsewhere (of merchant_code): with both in the file, each keeps its own
    own = {normalize_header(c.headers[0]): c.name for c in spec.columns}
    for column in spec.columns:
        aliases = dict.fromkeys(normalize_header(a) for a in column.headers)
        keys = [key for key in aliases if key in by_name]
        if len(keys) > 1:
            keys = [k for k in keys if own.get(k, column.name) == column.name] or keys[:1]
        if not keys:  # an older name, read only when no current one is there
            keys = [k for k in (normalize_header(a) for a in column.fallback) if k in by_name][:1]
        found = [by_name[key] for key in keys]
        for where_found in found:
            if len(where_found) > 1:
                cols = " and ".join(str(i + 1) for i in where_found)
                raise InputError(
                    name,
                    f"the header {header[where_found[0]]!r} appears twice (columns {cols}): "
                    "which one to use is unclear",
                )
        if len(found) > 1:
            both = " and ".join(f"{header[w[0]]!r} (column {w[0] + 1})" for w in found)
            raise InputError(
                name,
                f"the headers {both} are two names of one column: which one to use is unclear",
                "delete one of them and save again",
            )
        if found:
            positions[column.name] = found[0][0]
        elif column.required:
            missing.append(column.headers[0])
    if missing:
        what = ", ".join(missing)
        plural = "columns" if len(missing) > 1 else "column"
        raise InputError(
            name,
            f"missing required {plural} {what}{where} (is this a {spec.title} export?)",
        )
    return positions
