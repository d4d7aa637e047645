"""The demo's figures: `make demo`'s commands on its generated exports (3 shops, 20,000
order rows, seed 7), through the real CLI, with the profit totals checked to the fen."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from pipeline.cli import main


def doudian(*args: str) -> int:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    exports, out = root / "exports", root / "out"
    assert doudian("fixtures", "--shops", 3, "--orders", 20000, "--seed", 7, "--out", exports) == 0
    for period in ("2026-09-H2", "2026-10-H1"):
        code = doudian("settle", "--period", period, "--out", out, "--orders", exports / "orders.csv",
                       "--after-sales", exports / "after_sales.csv", "--products", exports / "products.csv",
                       "--commissions", exports / "commissions.csv")  # fmt: skip
        assert code == 0
    statement = out / "settlement" / "2026-10-H1"
    assert (
        doudian("reconcile", "--statement", statement, "--bill", exports / "bill.csv", "--out", out)
        == 3
    )
    code = doudian("profit", "--statement", statement, "--orders", exports / "orders.csv",
                   "--costs", exports / "costs.csv", "--out", out)  # fmt: skip
    assert code == 3  # some SKUs have no cost in the demo's cost file
    code = doudian(
        "report", "--out", out, "--period", "2026-10-H1", "--orders", exports / "orders.csv"
    )
    assert code == 0
    return out


def test_demo_profit_totals(demo):
    summary = json.loads((demo / "profit" / "2026-10-H1" / "summary.json").read_text("utf-8"))
    totals = summary["totals"]
    assert totals == DEMO_TOTALS
    # profit is counted over the lines with a cost: their net less their cost
    assert totals["profit"] == totals["net"] - totals["no_cost_net"] - totals["cost"]


def test_demo_report_files(demo):
    folder = demo / "report" / "2026-10-H1"
    assert (folder / "report.xlsx").stat().st_size > 5_000
    assert (folder / "report.html").stat().st_size > 1_000_000  # the chart library is inside


#: fen; 416 of the 4,563 lines have no cost (their net is no_cost_net, their profit empty)
DEMO_TOTALS = {
    "revenue": 86_676_074,
    "platform_fee": 4_128_152,
    "commission": 4_236_241,
    "net": 78_311_681,
    "cost": 45_337_694,
    "fulfilment": 0,
    "profit": 26_436_515,
    "margin_bp": 3327,
    "lines": 4563,
    "quantity": 5308,
    "no_cost_lines": 416,
    "no_cost_net": 6_537_472,
}
