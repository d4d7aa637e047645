"""The cell parsers, on exact inputs and exact outputs."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.canonical.cells import PARSERS, canonicalize, code_column
from schemas import KINDS
from schemas.base import ColumnSpec

CN = ZoneInfo("Asia/Shanghai")


def run(value_type, cells):
    """Canonicalize one column of `value_type`: [(value, finding code)] per cell."""
    spec = ColumnSpec("x", value_type, ("x",))
    out = canonicalize(pl.DataFrame({"x": cells}, schema={"x": pl.String}), (spec,))
    return list(zip(out["x"].to_list(), out[code_column("x")].to_list(), strict=True))


parse_money, parse_id, parse_int, parse_timestamp = "money", "id", "int", "timestamp"


@pytest.mark.parametrize(
    ("cell", "fen"),
    [
        ("59.90", 5990),
        ("1,234.50", 123450),
        ("¥1,234.00", 123400),
        ("￥0.01", 1),
        ("-2.95", -295),
        ("¥-2.95", -295),
        ("12.5", 1250),
        ("12", 1200),
        ("12.500", 1250),
        (" 3.00 ", 300),
        ("+7.10", 710),
        ("0.07", 7),
        ("9999999999999.99", 999999999999999),
    ],
)
def test_money_to_exact_fen(cell, fen):
    assert run(parse_money, [cell]) == [(fen, None)]


@pytest.mark.parametrize(
    "cell", ["12.505", "abc", "1.2.3", "12,5", "(12.00)", "1e3", "99999999999999.00"]
)
def test_money_rejects_what_is_not_exact(cell):
    assert run(parse_money, [cell]) == [(None, "bad-money")]


@pytest.mark.parametrize("cell", ["", "-", "--", "  ", None])
def test_none_markers_are_null_not_errors(cell):
    for value_type in ("money", "id", "int", "timestamp", "text"):
        assert run(value_type, [cell]) == [(None, None)]


def test_money_has_no_float_drift():
    cells = [f"{y}.{f:02d}" for y in (0, 1, 19, 1234567) for f in range(100)]
    got = [v for v, _ in run(parse_money, cells)]
    assert got == [y * 100 + f for y in (0, 1, 19, 1234567) for f in range(100)]


@pytest.mark.parametrize(
    ("cell", "value", "code"),
    [
        ("\t6912345678901234567", "6912345678901234567", None),
        ("'6912345678901234567", "6912345678901234567", None),
        ('="6912345678901234567"', "6912345678901234567", None),
        ("6912345678901234567 ", "6912345678901234567", None),
        ("6.9E+18", None, "id-scientific-notation"),
        ("6.91234E+18", None, "id-scientific-notation"),
        ("1.2e18", None, "id-scientific-notation"),
        ("12345", "12345", None),  # wrong length: the pandera model rejects it (bad-id)
    ],
)
def test_ids(cell, value, code):
    assert run(parse_id, [cell]) == [(value, code)]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("2026-10-16 12:30:05", dt.datetime(2026, 10, 16, 12, 30, 5, tzinfo=CN)),
        ("2026/10/16 12:30", dt.datetime(2026, 10, 16, 12, 30, tzinfo=CN)),
        ("2026/9/1 8:05", dt.datetime(2026, 9, 1, 8, 5, tzinfo=CN)),
        ("2026-10-16", dt.datetime(2026, 10, 16, tzinfo=CN)),
        ("2026-10-16T12:00:00", dt.datetime(2026, 10, 16, 12, tzinfo=CN)),
        ("2026-10-16 23:59:59", dt.datetime(2026, 10, 16, 23, 59, 59, tzinfo=CN)),
        ("2000-01-01 00:00:00", dt.datetime(2000, 1, 1, tzinfo=CN)),
        ("2099-12-31 23:59:59", dt.datetime(2099, 12, 31, 23, 59, 59, tzinfo=CN)),
        ("2026/1/3 20:11", dt.datetime(2026, 1, 3, 20, 11, tzinfo=CN)),  # an Excel re-save
    ],
)
def test_timestamps_are_china_time(cell, expected):
    assert run(parse_timestamp, [cell]) == [(expected, None)]


@pytest.mark.parametrize(
    "cell",
    [
        "2026-13-01 00:00:00",
        "yesterday",
        "2026-02-30 10:00:00",
        "16/10/2026",
        # a leap second is not the next day (it would cross a settlement window)
        "2026-10-15 23:59:60",
        "2026-10-15 10:15:60",
        "2026-10-15 23:59:60.5",
        "2026-10-15 23:59:61",
        # years outside 2000-2099
        "0000-01-01 10:00:00",
        "1999-12-31 23:59:59",
        "2100-01-01 00:00:00",
        # a serial number is a date only in an XLSX number cell (pipeline.read.exports)
        "46300",
        "46311.520891204",
    ],
)
def test_bad_timestamps(cell):
    assert run(parse_timestamp, [cell]) == [(None, "bad-timestamp")]


@pytest.mark.parametrize(
    ("cell", "value"), [("1", 1), ("2.0", 2), ("-1", -1), ("1,000", 1000), ("0", 0)]
)
def test_integers(cell, value):
    assert run(parse_int, [cell]) == [(value, None)]


@pytest.mark.parametrize("cell", ["1.5", "x", "2 件"])
def test_bad_integers(cell):
    assert run(parse_int, [cell]) == [(None, "bad-integer")]


def test_each_timestamp_format_is_parsed_once_per_column():
    """The fallback chain is written as steps over columns: a nested expression would
    repeat the first parse 2^n times in the plan (and in the time it takes)."""
    spec = KINDS["orders"].spec
    columns = tuple(c for c in spec.columns if c.type == "timestamp")
    frame = pl.LazyFrame({c.name: ["2026-10-01 10:00:00"] for c in columns})
    plan = canonicalize(frame, columns, keep_raw=True).explain(optimized=False)
    # the quick read in the first format, then one parse per format for the other cells
    assert plan.count("str.strptime") == (1 + 5) * len(columns)


TIME_CELLS = st.one_of(
    st.sampled_from(["", "-", "--", " ", "2026/10/01 10:00:00", "45200.5", "2026-02-30 10:00:00"]),
    st.builds(
        "{}-{:02d}-{:02d}{}{:02d}:{:02d}{}{}".format,
        st.integers(1999, 2031), st.integers(0, 13), st.integers(0, 32),
        st.sampled_from([" ", "T", "  ", "/"]), st.integers(0, 25), st.integers(0, 61),
        st.sampled_from(["", ":00", ":59", ":60", ".5", ":07.123"]),
        st.sampled_from(["", " ", "\t", "Z"]),
    ),
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(TIME_CELLS, min_size=1, max_size=30))
def test_quick_timestamps_are_the_values_the_steps_give(cells):
    """A cell the quick read takes gets the value the steps would give it, whether the
    whole column is read quickly (a DataFrame of clean cells), only some cells (a
    LazyFrame, or a DataFrame with one odd cell), or none (no quick read at all)."""
    spec = (ColumnSpec("x", "timestamp", ("x",)),)
    frame = pl.DataFrame({"x": cells}, schema={"x": pl.String})
    eager = canonicalize(frame, spec)
    lazy = canonicalize(frame.lazy(), spec).collect()
    slow = dict(PARSERS)
    slow["timestamp"] = replace(PARSERS["timestamp"], quick=None)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("pipeline.canonical.cells.PARSERS", slow)
        steps = canonicalize(frame, spec)
    assert eager.equals(steps)
    assert lazy.equals(steps)
    clean = frame.filter(pl.col("x").str.contains(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("pipeline.canonical.cells.PARSERS", slow)
        clean_steps = canonicalize(clean, spec)
    assert canonicalize(clean, spec).equals(clean_steps)
