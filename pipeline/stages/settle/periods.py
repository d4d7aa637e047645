"""Settlement periods (S1): `YYYY-MM-H1` is received from day 1 00:00 to day 16 00:00
and settles on the 16th; `YYYY-MM-H2` is day 16 00:00 to the 1st of next month 00:00
and settles on that 1st. Windows are half-open `[start, end)` in China time."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from pipeline.errors import UsageError

CHINA = ZoneInfo("Asia/Shanghai")
_PERIOD = re.compile(r"^(\d{4})-(\d{2})-H([12])$")


@dataclass(frozen=True, order=True)
class Period:
    year: int
    month: int
    half: int  # 1 or 2

    @classmethod
    def parse(cls, text: str) -> Period:
        m = _PERIOD.match(text)
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise UsageError(
                f"{{opt:period}} {text}: expected YYYY-MM-H1 or YYYY-MM-H2, e.g. 2026-10-H2"
            )
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3)))

    @classmethod
    def due_on(cls, day: dt.date) -> Period | None:
        """The period that settles on `day`: on the 1st the previous month's H2, on the
        16th this month's H1; None on any other day."""
        if day.day == 16:
            return cls(day.year, day.month, 1)
        if day.day == 1:
            prev = day - dt.timedelta(days=1)
            return cls(prev.year, prev.month, 2)
        return None

    @property
    def id(self) -> str:
        return f"{self.year:04d}-{self.month:02d}-H{self.half}"

    def __str__(self) -> str:
        return self.id

    @property
    def start_date(self) -> dt.date:
        return dt.date(self.year, self.month, 1 if self.half == 1 else 16)

    @property
    def end_date(self) -> dt.date:
        if self.half == 1:
            return dt.date(self.year, self.month, 16)
        return dt.date(self.year + self.month // 12, self.month % 12 + 1, 1)

    @property
    def settle_date(self) -> dt.date:
        return self.end_date

    @property
    def window_start(self) -> dt.datetime:
        return dt.datetime.combine(self.start_date, dt.time(), CHINA)

    @property
    def window_end(self) -> dt.datetime:
        return dt.datetime.combine(self.end_date, dt.time(), CHINA)

    def next(self) -> Period:
        if self.half == 1:
            return Period(self.year, self.month, 2)
        end = self.end_date
        return Period(end.year, end.month, 1)
