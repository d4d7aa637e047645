"""Closing a shop: the earliest reopening date and the deposit refund deadline
.

In:  closure dates (a frame with `closed_on`, a Date), the [shop] policy, a working-day
     calendar (weekends, plus an optional holidays file).
Out: the same rows with `reopen_on` (closed_on + N calendar months, clamped to the end
     of a shorter month: 31 Aug -> 28/29 Feb) and `refund_by` (the Mth working day after
     the closure day).

The holidays file (`--holidays FILE`), UTF-8 text, one date per line:

    # 2025 国庆: comments after #, blank lines ignored
    2025-10-01
    2025-10-02, holiday
    2025-09-28, workday     # 调休: a weekend day that is worked (补班)

A line is a date (`YYYY-MM-DD` or `YYYY/MM/DD`), optionally followed (after a comma or
spaces) by its kind: `holiday` / `休` (the default: not a working day) or `workday` /
`班` / `补班` (a working day even on a weekend). A first entry line starting `date` or
`日期` is a header and skipped.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipeline.errors import InputError
from pipeline.policy import Policy
from pipeline.stages.checks import policy_int

HOLIDAY_WORDS = {"holiday": False, "休": False, "workday": True, "班": True, "补班": True}


@dataclass(frozen=True)
class ShopRules:
    """The [shop] policy section (see pipeline/policies/default/shop.toml)."""

    reopen_after_months: int
    refund_working_days: int

    @classmethod
    def from_policy(cls, policy: Policy) -> ShopRules:
        return cls(
            policy_int(policy, "shop", "reopen_after_months", minimum=1),
            policy_int(policy, "shop", "refund_working_days", minimum=1),
        )


@dataclass(frozen=True)
class Calendar:
    """Working days: Monday to Friday, less `holidays`, plus `workdays` (调休)."""

    holidays: frozenset[dt.date] = field(default_factory=frozenset)
    workdays: frozenset[dt.date] = field(default_factory=frozenset)


def read_holidays(path: str) -> Calendar:
    """Parse a holidays file (format in the module doc). InputError names the line."""
    p = Path(path)
    if not p.is_file():
        raise InputError(path, "no such file")
    try:
        lines = p.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise InputError(path, "is not UTF-8 text", "save the holidays file as UTF-8") from None
    kinds: dict[dt.date, bool] = {}
    first = True
    for number, line in enumerate(lines, start=1):
        fields = [f for f in re.split(r"[,\s]+", line.split("#", 1)[0].strip()) if f]
        if not fields:
            continue
        header, first = first and fields[0].lower() in ("date", "日期"), False
        if header:
            continue
        where = f"line {number}: {line.strip()!r}"
        try:
            day = dt.date.fromisoformat(fields[0].replace("/", "-"))
        except ValueError:
            raise InputError(path, f"{where}: not a date (YYYY-MM-DD)") from None
        word = fields[1] if len(fields) > 1 else "holiday"
        if len(fields) > 2 or word.lower() not in HOLIDAY_WORDS:
            raise InputError(
                path, f"{where}: after the date, expected holiday or workday (休 / 班)"
            )
        worked = HOLIDAY_WORDS[word.lower()]
        if kinds.get(day, worked) != worked:
            raise InputError(path, f"{where}: {day} is listed both as a holiday and as a workday")
        kinds[day] = worked
    return Calendar(
        frozenset(d for d, w in kinds.items() if not w), frozenset(d for d, w in kinds.items() if w)
    )


def reopen_dates(shops: pl.LazyFrame, rules: ShopRules, calendar: Calendar) -> pl.LazyFrame:
    """Rows with `closed_on` (Date) -> the same rows plus `reopen_on` and `refund_by`."""
    reopen = pl.col("closed_on").dt.offset_by(f"{rules.reopen_after_months}mo")
    dated = shops.with_row_index("__shop").with_columns(reopen.alias("reopen_on"))
    refund = _working_day_after(
        dated.select("__shop", "closed_on"), rules.refund_working_days, calendar
    )
    return dated.join(refund, on="__shop", how="left").sort("__shop").drop("__shop")


def _working_day_after(rows: pl.LazyFrame, n: int, calendar: Calendar) -> pl.LazyFrame:
    """(__shop, closed_on) -> (__shop, refund_by): the nth working day after closed_on.

    A day table from the first closure to past the last one numbers the working days
    (k = working days up to and including the day); the answer for a closure on a day
    with number k0 is the working day numbered k0 + n. Long enough: every 7 days hold
    5 weekdays, and each listed holiday can take away at most one of them."""
    bounds = rows.select(
        pl.col("closed_on").min().alias("lo"), pl.col("closed_on").max().alias("hi")
    ).collect()
    lo, hi = bounds.row(0)
    if lo is None:
        return rows.select("__shop", pl.lit(None, pl.Date).alias("refund_by"))
    span = 7 * ((n + len(calendar.holidays)) // 5 + 2)
    days = pl.LazyFrame({"day": pl.date_range(lo, hi + dt.timedelta(days=span), "1d", eager=True)})
    weekday = pl.col("day").dt.weekday() <= 5
    working = (weekday & ~pl.col("day").is_in(sorted(calendar.holidays))) | pl.col("day").is_in(
        sorted(calendar.workdays)
    )
    days = days.with_columns(working.alias("working")).with_columns(
        pl.col("working").cast(pl.Int64).cum_sum().alias("k")
    )
    start = rows.join(
        days.select(pl.col("day").alias("closed_on"), "k"), on="closed_on", how="left"
    )
    target = days.filter("working").select(
        pl.col("k").alias("target"), pl.col("day").alias("refund_by")
    )
    return (
        start.with_columns((pl.col("k") + n).alias("target"))
        .join(target, on="target", how="left")
        .select("__shop", "refund_by")
    )
