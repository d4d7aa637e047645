"""The findings files people open (`rejected/KIND.csv`, `warnings/KIND.csv`), kept in
proportion to what they say.

- At most `LISTED_ROWS` rows of each file are listed (every finding of those rows);
  past them one line per file says how many rows and findings were left out (code
  `not-listed`, as frictionless reports "reached error limit"). The counts in the
  summary stay exact. A stray cell a million rows down, or 200 KB of blank lines,
  then gives a file of about a megabyte, not of 741 MB.
- Times without seconds (`time-without-seconds`, an Excel re-save) are one line per
  file, with their count, not a line per cell.

Only the first `LISTED_ROWS` rows with findings of each file are read back from its
staged rows, so the final sort holds about that many rows per file, not all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from pipeline.validation.findings import CODES, FINDING_SCHEMA

#: Rows of one input file listed in a findings file; the others are counted.
LISTED_ROWS = 10_000
NOT_LISTED = "not-listed"
NO_SECONDS = "time-without-seconds"

#: `ss` missing from an `HH:MM` time (`2026/1/3 20:11`): at most 18 characters.
NO_SECONDS_PATTERN = r"^\s*[0-9]{4}[-/][0-9]{1,2}[-/][0-9]{1,2}[ T][0-9]{1,2}:[0-9]{2}\s*$"


def without_seconds(raw: pl.Expr, value: pl.Expr) -> pl.Expr:
    """True where a time cell was read from `HH:MM` with no seconds (a short cell only
    is looked at: a full time has 19 characters)."""
    short = pl.when(raw.str.len_bytes() < 19).then(raw)
    return (short.str.contains(NO_SECONDS_PATTERN) & value.is_not_null()).fill_null(False)


@dataclass
class NoSeconds:
    """A file's times without seconds: how many, and the first (row, column, value)."""

    count: int = 0
    first: tuple[int, str, str] | None = None
    columns: list[str] = field(default_factory=list)

    def add(self, other: NoSeconds) -> None:
        self.count += other.count
        if self.first is None:
            self.first = other.first
        self.columns += [c for c in other.columns if c not in self.columns]


def capped(frame: pl.DataFrame) -> pl.DataFrame:
    """The findings of the first `LISTED_ROWS` rows of each file (`__file_no`)."""
    rank = pl.col("row").rank("dense").over("__file_no")
    return frame.filter(rank <= LISTED_ROWS)


def not_listed_lines(
    listed: pl.DataFrame, totals: dict[int, tuple[str, int, int]], what: str
) -> pl.DataFrame:
    """One `not-listed` line per file whose rows were not all listed. `totals`: file
    number -> (file, rows, findings) in all; `what`: "rejected rows" or "rows with
    warnings"."""
    per_file = listed.group_by("__file_no").agg(
        pl.col("row").n_unique().alias("rows"), pl.len().alias("lines")
    )
    shown = {r["__file_no"]: (r["rows"], r["lines"]) for r in per_file.iter_rows(named=True)}
    lines = []
    for file_no, (name, rows, findings) in sorted(totals.items()):
        shown_rows, shown_lines = shown.get(file_no, (0, 0))
        if rows <= shown_rows:
            continue
        message = (
            f"{rows - shown_rows:,} more {what} ({findings - shown_lines:,} lines) are not "
            f"listed: {CODES[NOT_LISTED][1]}"
        )
        lines.append((name, None, "", "", NOT_LISTED, message, file_no))
    return _frame(lines)


def no_seconds_lines(files: dict[int, tuple[str, NoSeconds]]) -> pl.DataFrame:
    """One `time-without-seconds` line per file that has such times."""
    lines = []
    for file_no, (name, found) in sorted(files.items()):
        if not found.count or found.first is None:
            continue
        row, _, value = found.first
        columns = ", ".join(found.columns)
        message = (
            f"{columns}: {found.count:,} times in this file have no seconds (a file re-saved "
            "by Excel?); they are read as :00"
        )
        lines.append((name, row, columns, value, NO_SECONDS, message, file_no))
    return _frame(lines)


def _frame(lines: list[tuple]) -> pl.DataFrame:
    schema = {**FINDING_SCHEMA, "__file_no": pl.Int32}
    frame = pl.DataFrame(lines, schema=schema, orient="row")
    return frame.with_columns(pl.lit(1 << 20, pl.Int32).alias("__order"))
