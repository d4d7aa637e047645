"""The settlement ledger (S7): what each period settled, checked before it is trusted.

`OUT/ledger/PERIOD.parquet` holds one entry per statement line of a period that stands;
`OUT/ledger/index.json` lists every period with the sha256 of its file, its counts, the
files it was settled from (their sha256) and the entries it read (the sha256 of each
earlier period's file: its basis). A period re-settled after later periods were settled
from its old entries makes those later periods stale: their files move to
`OUT/ledger/stale/` and stop counting until they are settled again, in order.

Guarantees, by construction:
- a file that is missing, edited, renamed, truncated or of another type, and a file the
  index does not list, stop settlement (LedgerError, naming the file: exit 1);
- a period is written as a pending file, checked (no sub-order it settles is settled by
  a standing earlier period, every clawback is of a sub-order settled earlier), then
  committed by replacing the index (the one commit point); a killed commit is finished,
  or undone, from the index on the next open;
- a period is settled only against standing earlier periods, and re-settling it with a
  different outcome while later periods stand needs `resettle`, which marks them stale:
  no sub-order ever stands settled in two periods.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pipeline import __version__, faults
from pipeline.errors import InputError, UsageError
from pipeline.stages.settle.engine import KEY, LEDGER_SCHEMA, sub_order_key
from pipeline.stages.settle.periods import Period
from pipeline.write.files import write_json, write_parquet

INDEX = "index.json"
STALE = "stale"
FORMAT = 1
SETTLED = ("sale", "carry-over")


class LedgerError(InputError):
    """A ledger file that cannot be trusted: settlement stops (exit 1)."""


class PeriodRefused(UsageError):
    """Settling this period now would leave the ledger inconsistent (exit 2)."""

    def __init__(self, message: str, periods: list[Period], hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.periods = periods


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 23):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Entry:
    """A period's line in the index."""

    file: str  # relative to the ledger folder
    sha256: str
    entries: int
    stale: bool
    basis: dict[str, str]  # earlier period -> sha256 of its file when this one was settled
    inputs: dict[str, Any]  # kind -> [sha256 of each file], policy, version


@dataclass(frozen=True)
class Pending:
    """A period's entries written beside the ledger, checked, not yet committed."""

    period: Period
    path: Path
    sha256: str
    entries: int
    basis: dict[str, str]


class Ledger:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.index: dict[str, Entry] = {}
        self._open()

    # --- reading and checking ------------------------------------------------------

    def _open(self) -> None:
        """Read the index, finish or undo a commit a killed run left, and check that
        every file is exactly the one the index recorded."""
        index = self.folder / INDEX
        files = sorted(self._parquet_files())
        if not index.exists():
            if files:
                names = ", ".join(str(p.relative_to(self.folder)) for p in files)
                raise LedgerError(
                    str(index),
                    f"missing, but the ledger holds {names}: without its index the ledger "
                    "cannot be checked (a file edited, renamed or removed would go unseen)",
                    "restore index.json from a backup of the output folder",
                )
            return
        self.index = _read_index(index)
        self._recover()
        listed = {self.folder / e.file for e in self.index.values()}
        for path in files:
            if path not in listed and path.exists():
                raise LedgerError(
                    str(path),
                    "not a file of this ledger (its index does not list it): a renamed or "
                    "copied file? move it out of the ledger folder",
                )
        for pid, entry in sorted(self.index.items()):
            self._check(pid, entry)

    def _parquet_files(self) -> list[Path]:
        return [
            p
            for folder in (self.folder, self.folder / STALE)
            if folder.is_dir()
            for p in folder.iterdir()
            if p.suffix == ".parquet" or p.name.endswith(".parquet.pending")
        ]

    def _check(self, pid: str, entry: Entry) -> None:
        path = self.folder / entry.file
        if not path.is_file():
            raise LedgerError(
                str(path), f"missing: the ledger's index lists it for {pid} ({entry.entries:,} entries)"
            )  # fmt: skip
        if file_sha256(path) != entry.sha256:
            raise LedgerError(
                str(path),
                "changed since it was written (its sha256 is not the one the ledger's index "
                f"recorded for {pid}): edited, truncated or replaced",
                "restore it from a backup of the output folder",
            )

    def _recover(self) -> None:
        """After a commit killed half-way: put each recorded file in its place (found
        by its sha256 under the names a commit uses), remove what the index does not
        hold (a pending file never committed, the stale copy of a period settled anew)."""
        for pid, entry in self.index.items():
            target = self.folder / entry.file
            if target.is_file() and file_sha256(target) == entry.sha256:
                continue
            for candidate in self._names(pid):
                if candidate != target and candidate.is_file():
                    if file_sha256(candidate) == entry.sha256:
                        target.parent.mkdir(exist_ok=True)
                        os.replace(candidate, target)
                        break
        for pid in self.index:
            self._pending_path(pid).unlink(missing_ok=True)
            old = self.folder / STALE / f"{pid}.parquet"
            if not self.index[pid].stale and old.is_file():
                old.unlink()
        for path in self.folder.glob(".*.parquet.pending"):
            path.unlink()  # a period never committed

    def _names(self, pid: str) -> list[Path]:
        return [
            self._pending_path(pid),
            self.folder / f"{pid}.parquet",
            self.folder / STALE / f"{pid}.parquet",
        ]

    def _pending_path(self, pid: str) -> Path:
        return self.folder / f".{pid}.parquet.pending"

    # --- what a period run reads ---------------------------------------------------

    def periods(self) -> list[Period]:
        """The periods that stand (settled and not stale), in order."""
        return sorted(Period.parse(p) for p, e in self.index.items() if not e.stale)

    def stale(self) -> list[Period]:
        return sorted(Period.parse(p) for p, e in self.index.items() if e.stale)

    def path(self, period: Period) -> Path:
        return self.folder / f"{period.id}.parquet"

    def before(self, period: Period) -> pl.LazyFrame:
        """The entries of every standing period earlier than `period`."""
        paths = [self.path(p) for p in self.periods() if p < period]
        if not paths:
            return pl.DataFrame(schema=LEDGER_SCHEMA).lazy()
        return pl.scan_parquet(paths)

    def later(self, period: Period) -> list[Period]:
        return [p for p in self.periods() if p > period]

    def start(self, period: Period) -> dt.datetime:
        """The window start of the earliest period ever settled into the ledger (this
        period's when it is the first)."""
        known = [Period.parse(p) for p in self.index]
        return min([period, *known]).window_start

    def basis(self, period: Period) -> dict[str, str]:
        return {p.id: self.index[p.id].sha256 for p in self.periods() if p < period}

    def admit(self, period: Period, inputs: Callable[[], dict], *, resettle: bool) -> None:
        """Refuse (PeriodRefused, before anything is written) a run of `period` that
        would settle against stale entries, or change the entries later periods were
        settled from without `resettle`. A rerun from the very same files, policy and
        earlier entries gives the same entries, so later periods stay as they are."""
        stale = [p for p in self.stale() if p < period]
        if stale:
            names = ", ".join(p.id for p in stale)
            raise PeriodRefused(
                f"{period.id} cannot be settled yet: earlier periods are stale ({names}), "
                "settled from entries that have changed since",
                stale,
                f"nothing was written; settle {names} again first, in order",
            )
        later = self.later(period)
        if not later or resettle:
            return
        recorded = self.index.get(period.id)
        same = recorded is not None and (recorded.inputs, recorded.basis) == (
            inputs(),
            self.basis(period),
        )
        if not same:
            raise _followed(period, later)

    # --- writing a period ----------------------------------------------------------

    def prepare(self, period: Period, entries: pl.LazyFrame) -> Pending:
        """Write the period's entries (in the order of its statement lines) as a
        pending file and check them against the standing earlier periods."""
        path = self._pending_path(period.id)
        write_parquet(entries.select(list(LEDGER_SCHEMA)), path)
        try:
            _check_against(pl.scan_parquet(path), self.before(period), period)
            count = pl.scan_parquet(path).select(pl.len()).collect().item()
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return Pending(period, path, file_sha256(path), int(count), self.basis(period))

    def to_mark_stale(self, pending: Pending, *, resettle: bool) -> list[Period]:
        """The later periods that committing `pending` makes stale: those settled from
        this period's entries, when they change. Without `resettle` that refuses."""
        recorded = self.index.get(pending.period.id)
        if recorded is not None and recorded.sha256 == pending.sha256 and not recorded.stale:
            return []
        later = self.later(pending.period)
        if later and not resettle:
            pending.path.unlink(missing_ok=True)
            raise _followed(pending.period, later)
        return later

    def commit(self, pending: Pending, stale: list[Period], inputs: dict[str, Any]) -> None:
        """Record the period and mark `stale` stale in one replacement of the index,
        then move the files to the places the index says."""
        pid = pending.period.id
        index = dict(self.index)
        index[pid] = Entry(
            f"{pid}.parquet", pending.sha256, pending.entries, False, pending.basis, inputs
        )
        for p in stale:
            index[p.id] = Entry(**{**asdict(index[p.id]), "file": f"{STALE}/{p.id}.parquet", "stale": True})  # fmt: skip
        data = {"format": FORMAT, "periods": {p: asdict(e) for p, e in sorted(index.items())}}
        write_json(data, self.folder / INDEX)
        faults.point("ledger-committed")
        self.index = index
        self._recover()


def _followed(period: Period, later: list[Period]) -> PeriodRefused:
    names = ", ".join(p.id for p in later)
    return PeriodRefused(
        f"{period.id} is followed by settled periods ({names}) that were settled from its "
        "entries: settling it again with other files would settle some sub-orders twice",
        later,
        "nothing was written; pass {opt:resettle} to settle it again and mark the later periods "
        "stale",
    )


def _check_against(new: pl.LazyFrame, earlier: pl.LazyFrame, period: Period) -> None:
    """The ledger's constraint, checked on the entries about to be committed: a
    sub-order settles (sale or carry-over) at most once in the period and never when a
    standing earlier period settled it; a clawback is of a sub-order settled earlier.
    A failure is a fault of this program, never of the input: nothing is committed."""
    keyed = new.select("line_type", sub_order_key(pl.col("sub_order_id")))
    settled = keyed.filter(pl.col("line_type").is_in(SETTLED)).select(KEY)
    before = earlier.filter(pl.col("line_type").is_in(SETTLED)).select(
        sub_order_key(pl.col("sub_order_id"))
    )
    claws = keyed.filter(pl.col("line_type") == "clawback").select(KEY)
    twice, again, orphan = pl.collect_all([
        settled.group_by(KEY).len().filter(pl.col("len") > 1).select(pl.len()),
        settled.join(before, on=KEY, how="semi").select(pl.len()),
        claws.join(before, on=KEY, how="anti").select(pl.len()),
    ])  # fmt: skip
    problems = {
        "settled twice in the period": twice.item(),
        "already settled by an earlier period": again.item(),
        "clawed back without an earlier settlement": orphan.item(),
    }
    bad = {k: v for k, v in problems.items() if v}
    if bad:
        what = "; ".join(f"{n:,} sub-orders {k}" for k, n in bad.items())
        raise RuntimeError(
            f"ledger constraint broken for {period.id}: {what}; nothing was committed"
        )


def _read_index(path: Path) -> dict[str, Entry]:
    """The index, checked for its shape: any damage is a LedgerError naming it."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
        index = {}
        for pid, raw in data["periods"].items():
            Period.parse(pid)
            entry = Entry(**raw)
            if entry.file not in (f"{pid}.parquet", f"{STALE}/{pid}.parquet"):
                raise ValueError(f"{pid} has the file {entry.file!r}")
            index[pid] = entry
        return index
    except (OSError, ValueError, KeyError, TypeError, AttributeError, UsageError) as exc:
        detail = exc.message if isinstance(exc, UsageError) else str(exc)
        raise LedgerError(str(path), f"not a readable ledger index ({detail})") from None


def _input_sha256(path: str) -> str | None:
    """A regular input file's sha256; None for anything else (a missing file, a FIFO or
    a device): validation says what is wrong with it."""
    try:
        return file_sha256(Path(path)) if stat.S_ISREG(os.stat(path).st_mode) else None
    except OSError:
        return None


def _plain(value: Any) -> Any:
    """Sets in the policy (status words) as sorted lists, so their hash is stable."""
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} in a policy")


def input_hashes(files: dict[str, list[str]], policy: Any) -> dict[str, Any]:
    """What a period was settled from: each input file's sha256 (by kind, in the order
    given), the settlement policy's numbers and the program's version."""
    rates = json.dumps(asdict(policy), sort_keys=True, ensure_ascii=False, default=_plain).encode()
    return {
        "files": {kind: [_input_sha256(f) for f in paths] for kind, paths in files.items()},
        "policy": hashlib.sha256(rates).hexdigest(),
        "version": __version__,
    }
