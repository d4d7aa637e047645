"""Reading a service provider's shop list (`--shops FILE` of `check deposit` and
`check reopen`; the kinds of `schemas.shops`).

Validated exactly like an export (`pipeline.validation.checker.validate_files`: headers by name,
UTF-8/GB18030, XLSX, the kind's pandera model, the same finding codes and rejected-rows
file as `doudian validate`); a later copy of a 店铺ID is rejected `duplicate-shop`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline.validation.checker import validate_files
from schemas import Kind


@dataclass
class Roster:
    path: str
    rows: int
    rejected: int
    valid: pl.DataFrame  # the kind's canonical columns + source_row


def read_roster(
    kind: Kind, path: str, out: Path, *, encoding: str | None = None, sheet: str | None = None
) -> Roster:
    """The valid rows of a shop list; its findings go to OUT/rejected/KIND.csv (and
    OUT/warnings/KIND.csv). InputError for a file that cannot be used at all."""
    name = kind.spec.name
    with tempfile.TemporaryDirectory(prefix=".roster-", dir=out) as work:
        result = validate_files(
            kind,
            [path],
            valid_path=Path(work) / f"{name}.parquet",
            rejected_path=out / "rejected" / f"{name}.csv",
            warnings_path=out / "warnings" / f"{name}.csv",
            encoding=encoding,
            sheet=sheet,
        )
        valid = pl.read_parquet(result.valid_path).drop("source_file")
    return Roster(path, result.rows, result.rejected, valid)
