"""Writing outputs atomically and deterministically.

Every file is written to a temporary name in its final folder, flushed, then renamed
over the final name (`os.replace`), so a reader or a crashed run only ever sees the old
file or the new one. Nothing time-dependent goes into a data file. Files get the mode
the umask allows (0644 under umask 022), as any other program's would.

A write that fails for a reason the user can act on (a full disk, a read-only or
forbidden folder) is an `OutputError` naming the path (exit 1), never an internal error.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from pipeline import faults
from pipeline.errors import DoudianError, InputError
from pipeline.orchestrate.locking import SCRATCH_MARK, TEMP_SUFFIX, in_use


class OutputError(DoudianError):
    """An output that cannot be written: no space left, a read-only or forbidden folder."""


#: errno -> what the user reads
_WRITE_ERRORS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


def output_error(exc: BaseException, path: str | Path) -> OutputError | None:
    """The OutputError for `exc` raised writing `path`, or None when it is not a write
    failure the user can act on. Polars reports an OS error in its message only
    (`No space left on device (os error 28)`)."""
    code = exc.errno if isinstance(exc, OSError) else None
    if code not in _WRITE_ERRORS:
        found = re.search(r"\(os error ([0-9]+)\)", str(exc))
        code = int(found.group(1)) if found else None
    if code not in _WRITE_ERRORS:
        return None
    where = getattr(exc, "filename", None) or path
    return OutputError(f"{_WRITE_ERRORS[code]} writing {where}")


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn a write failure the user can act on, inside the block, into an OutputError
    naming `path` (or the file the OS names)."""
    try:
        yield
    except (OSError, pl.exceptions.PolarsError) as exc:
        error = output_error(exc, path)
        if error is None:
            raise
        raise error from None


def file_mode() -> int:
    """The mode a new file gets under the process's umask (0o644 under 022). Read from
    /proc (changing the umask to read it would race with other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o22)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it to `path`, with the
    mode the umask gives a new file (`file_mode`)."""
    final = Path(path)
    with writing(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp_path = _temporary_beside(final)
    try:
        with writing(final), in_use(tmp_path):  # clean-up by another command leaves it alone
            try:
                yield tmp_path
            except (OSError, pl.exceptions.PolarsError) as exc:
                if output_error(exc, final) is None:
                    _probe_space(tmp_path, final)
                raise
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp_path, file_mode())
            faults.point("before-rename")
            os.replace(tmp_path, final)
    finally:
        if tmp_path.exists() or tmp_path.is_symlink():
            tmp_path.unlink()


def _probe_space(tmp_path: Path, final: Path) -> None:
    """After a library's write failed without saying why (polars' Parquet writer may
    report a full disk as "Invalid thrift: transport error"): an OutputError if a plain
    write of 64 KB fails the same way, else nothing."""
    try:
        with open(tmp_path, "ab") as fh:
            fh.write(bytes(1 << 16))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        error = output_error(OSError(exc.errno, exc.strerror), final)
        if error is not None:
            raise error from None


def _temporary_beside(final: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=TEMP_SUFFIX, dir=final.parent)
    os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def scratch_folder(parent: Path, prefix: str) -> Iterator[Path]:
    """A temporary folder inside `parent` (made, with its parents, when missing) for the
    block, always removed after it. It holds the mark `.doudian-scratch`, in use for the
    block, by which clean-up knows a folder this tool left (pipeline/orchestrate/locking.py). When the block raises InputError (a file that
    cannot be used at all), the folders this call made are removed too, if empty: such
    a run leaves no trace."""
    made = []
    folder = parent
    while not folder.exists():
        made.append(folder)
        folder = folder.parent
    with writing(parent):
        parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        mark = work / SCRATCH_MARK
        mark.write_text(f"a temporary folder of doudian (pid {os.getpid()})\n", encoding="utf-8")
    try:
        with in_use(mark):
            yield work
    except (InputError, OutputError):
        shutil.rmtree(work, ignore_errors=True)
        for folder in made:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if still empty
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_csv(
    frame: pl.DataFrame | pl.LazyFrame,
    path: str | Path,
    *,
    bom: bool = True,
    datetime_format: str | None = None,
    date_format: str | None = None,
) -> None:
    """CSV for people: UTF-8, with a BOM by default so that Excel on Chinese Windows
    opens it right, and every text column formula-safe (`formula_safe`: a CSV is opened
    in a spreadsheet); numbers, dates and times are written as they are. Machine outputs
    (Parquet, JSON) keep the original text. A LazyFrame is streamed to disk. Times and
    dates are written in the given formats by the writer itself (a `strftime` column
    before a sink costs a copy of every value: 200 MB more for two million lines)."""
    formats = {"datetime_format": datetime_format, "date_format": date_format}
    schema = frame.collect_schema()
    cells = [formula_safe(pl.col(n)) if t == pl.String else pl.col(n) for n, t in schema.items()]
    frame = frame.select(cells)
    with atomic_path(path) as tmp:
        if isinstance(frame, pl.LazyFrame):
            frame.sink_csv(tmp, include_bom=bom, **formats)
        else:
            frame.write_csv(tmp, include_bom=bom, **formats)


def write_parquet(frame: pl.DataFrame | pl.LazyFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        if isinstance(frame, pl.LazyFrame):
            frame.sink_parquet(tmp, compression="zstd")
        else:
            frame.write_parquet(tmp, compression="zstd")


def write_json(data: Any, path: str | Path) -> None:
    """JSON with sorted keys, two-space indent and a final newline."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2) + "\n"
    write_text(text, path)


def write_text(text: str, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


#: What a cell that a spreadsheet could take for a formula (CSV/XLSX injection) starts
#: with, after any spaces, tabs or CRs: `= + - @` or their full-width forms. (A tab
#: before digits, as the platform writes IDs, is no formula and is kept.)
FORMULA_START = ("=", "+", "-", "@", "＝", "＋", "－", "＠")
_RISKY = r"^[ \t\r]*[=+\-@＝＋－＠]"
#: A plain signed number (-2.95, +1,000) is a number to Excel, not a formula.
_NUMBER = r"^[ \t\r]*[+-]?[0-9][0-9,]*(\.[0-9]+)?$"


def formula_safe(expr: pl.Expr) -> pl.Expr:
    """Text for people: a cell that begins like a formula (`FORMULA_START`, after any
    spaces, tabs or CRs, but not a plain signed number) gets a leading apostrophe, so a spreadsheet
    shows it as text instead of running it. Apply to text columns of files people open
    (`write_csv` does, to all); machine-readable outputs keep the original text."""
    starts = expr.str.contains(_RISKY)
    # the number test only on the cells that start like a formula (nearly none: the
    # others are null to it, which costs nothing)
    number = pl.when(starts).then(expr).str.contains(_NUMBER).fill_null(False)
    risky = starts & ~number
    safe = pl.when(risky).then(pl.concat_str([pl.lit("'"), expr])).otherwise(expr)
    return safe.alias(expr.meta.output_name(raise_if_undetermined=False) or "text")


def write_xlsx(frame: pl.DataFrame, path: str | Path, *, sheet: str = "Sheet1") -> None:
    """An XLSX file for people with one sheet, by the project's one XLSX writer
    (`pipeline.write.xlsx`): String columns (IDs included) as text cells, never turned into
    numbers, formulas or links; Decimal yuan as numbers formatted `#,##0.00`; the header
    frozen, with filters; byte-identical for the same frame."""
    from pipeline.write.xlsx import Sheet, write_workbook

    write_workbook(path, [Sheet(sheet, frame)])


def yuan(fen: pl.Expr) -> pl.Expr:
    """Integer fen as an exact decimal yuan amount with 2 places (59.90), for files
    people read; never a binary float."""
    return (fen.cast(pl.Decimal(20, 2)) / 100).cast(pl.Decimal(20, 2))
