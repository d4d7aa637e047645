"""Writing outputs atomically and deterministically.

Every file is written to a temporary name in its final folder, flushed, then renamed
over the final name (`os.replace`), so a reader or a crashed run only ever sees the old
file or the new one. Nothing time-dependent goes into a data file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from pipeline import faults
from pipeline.errors import InputError
from pipeline.locking import SCRATCH_MARK, TEMP_SUFFIX, in_use


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it to `path`."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=TEMP_SUFFIX, dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        with in_use(tmp_path):  # clean-up by another command leaves it alone
            yield tmp_path
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
            faults.point("before-rename")
            os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def scratch_folder(parent: Path, prefix: str) -> Iterator[Path]:
    """A temporary folder inside `parent` (made, with its parents, when missing) for the
    block, always removed after it. It holds the mark `.doudian-scratch`, in use for the
    block, by which clean-up knows a folder this tool left (pipeline/locking.py). When the block raises InputError (a file that
    cannot be used at all), the folders this call made are removed too, if empty: such
    a run leaves no trace."""
    made = []
    folder = parent
    while not folder.exists():
        made.append(folder)
        folder = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    mark = work / SCRATCH_MARK
    mark.write_text(f"a temporary folder of doudian (pid {os.getpid()})\n", encoding="utf-8")
    try:
        with in_use(mark):
            yield work
    except InputError:
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
    """CSV in UTF-8, with a BOM by default so that Excel on Chinese Windows opens it
    right. A LazyFrame is streamed to disk. Times and dates are written in the given
    formats by the writer itself (a `strftime` column before a sink costs a copy of
    every value: 200 MB more for two million lines)."""
    formats = {"datetime_format": datetime_format, "date_format": date_format}
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


#: Text that a spreadsheet could take for a formula (CSV/XLSX injection).
FORMULA_START = ("=", "+", "-", "@")


def formula_safe(expr: pl.Expr) -> pl.Expr:
    """Text for people: a cell that begins like a formula (`=`, `+`, `-`, `@`, but not
    a plain signed number) gets a leading apostrophe, so Excel shows it as text instead of running it. Apply
    to free-text columns (titles, remarks), never to numbers; machine-readable outputs
    keep the original text."""
    # A plain signed number (-2.95, +1,000) is a number to Excel, not a formula.
    number = expr.str.contains(r"^[+-]?[0-9][0-9,]*(\.[0-9]+)?$")
    risky = expr.str.contains(r"^[=+\-@]") & ~number
    safe = pl.when(risky).then(pl.concat_str([pl.lit("'"), expr])).otherwise(expr)
    return safe.alias(expr.meta.output_name(raise_if_undetermined=False) or "text")


def write_xlsx(frame: pl.DataFrame, path: str | Path, *, sheet: str = "Sheet1") -> None:
    """An XLSX file for people with one sheet, by the project's one XLSX writer
    (`pipeline.io.xlsx`): String columns (IDs included) as text cells, never turned into
    numbers, formulas or links; Decimal yuan as numbers formatted `#,##0.00`; the header
    frozen, with filters; byte-identical for the same frame."""
    from pipeline.io.xlsx import Sheet, write_workbook

    write_workbook(path, [Sheet(sheet, frame)])


def yuan(fen: pl.Expr) -> pl.Expr:
    """Integer fen as an exact decimal yuan amount with 2 places (59.90), for files
    people read; never a binary float."""
    return (fen.cast(pl.Decimal(20, 2)) / 100).cast(pl.Decimal(20, 2))
