"""The settlement ledger (S7): one immutable Parquet file per settled period in
`OUT/ledger/PERIOD.parquet`, holding one entry per statement line. A period run reads
only the entries of earlier periods, so rerunning a period with the same files gives
the same outputs; writing a period replaces its file atomically."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from pipeline.io.write import write_parquet
from pipeline.settle.engine import LEDGER_SCHEMA
from pipeline.settle.periods import Period


class Ledger:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def periods(self) -> list[Period]:
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.glob("*.parquet"):
            try:
                found.append(Period.parse(path.stem))
            except Exception:  # not a ledger file (a user's copy, say): not ours to read
                continue
        return sorted(found)

    def path(self, period: Period) -> Path:
        return self.folder / f"{period.id}.parquet"

    def before(self, period: Period) -> pl.LazyFrame:
        """The entries of every period earlier than `period`."""
        paths = [self.path(p) for p in self.periods() if p < period]
        if not paths:
            return pl.DataFrame(schema=LEDGER_SCHEMA).lazy()
        return pl.scan_parquet(paths)

    def later(self, period: Period) -> list[Period]:
        return [p for p in self.periods() if p > period]

    def start(self, period: Period) -> dt.datetime:
        """The window start of the earliest period ever settled into the ledger (this
        period's when it is the first)."""
        return min([period, *self.periods()]).window_start

    def write(self, period: Period, entries: pl.LazyFrame) -> None:
        """The period's entries, in the order of its statement lines."""
        write_parquet(entries.select(list(LEDGER_SCHEMA)), self.path(period))
