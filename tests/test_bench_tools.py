"""The benchmark's own tools: the floor of checking every cell counts what it reads,
and the per-rows results keep the jobs a partial run did not measure."""

from __future__ import annotations

import json

from tests.bench.cells_floor import cells
from tests.bench.run_bench import kept_jobs


def test_the_cells_floor_reads_every_cell_of_the_known_columns(tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "\ufeff主订单编号,子订单编号,订单应付金额,订单完成时间,收件人\n"
        "\t6900012347181121096,\t6950098766034534783,34.90,2026-10-22 06:49:30,陈**\n"
        "\t6900012347181121097,\t6950098766034534784,12.345,2026-10-22 06:49,胡**\n"
        '\t6900012347181121098,\t6950098766034534785,"¥1,234.50",2026-13-01 00:00:00,-\n',
        encoding="utf-8",
    )
    row = cells(str(orders)).collect(engine="streaming").row(0, named=True)
    # 收件人 is not a column doudian reads; 12.345 and month 13 are text with no value;
    # ¥1,234.50 and a time without seconds are read, as doudian reads them
    assert row == {"rows": 3, "values": 10, "unparsed": 2, "columns": 4}


def test_a_partial_run_keeps_the_jobs_it_did_not_measure(tmp_path):
    path = tmp_path / "results-1000.json"
    path.write_text(
        json.dumps(
            {
                "created": "2026-11-30T10:00:00+00:00",
                "jobs": [
                    {"key": "settle/csv", "median_s": 9.0},
                    {"key": "duckdb/csv", "median_s": 4.0, "measured": "2026-11-29T08:00:00+00:00"},
                ],
            }
        )
    )
    now = [{"key": "settle/csv", "median_s": 8.0, "measured": "2026-12-01T12:00:00+00:00"}]
    assert kept_jobs(path, now) == [
        {"key": "settle/csv", "median_s": 8.0, "measured": "2026-12-01T12:00:00+00:00"},
        {"key": "duckdb/csv", "median_s": 4.0, "measured": "2026-11-29T08:00:00+00:00"},
    ]
    assert kept_jobs(tmp_path / "none.json", now) == now
    path.write_text('{"jobs": [{"key": "validate/csv", "median_s": 3.0}]}')
    assert kept_jobs(path, now) == [
        *now,
        {"key": "validate/csv", "median_s": 3.0, "measured": None},
    ]
