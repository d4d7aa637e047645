"""The XLSX writer, report.xlsx read back with openpyxl, report.html in a real browser."""

from __future__ import annotations

import decimal
import re
import shutil
import subprocess
from html.parser import HTMLParser

import openpyxl
import polars as pl
import pytest

from pipeline.write.xlsx import Sheet, write_workbook

PERIOD = "2026-10-H1"


def test_xlsx_writer_formats(tmp_path):
    frame = pl.DataFrame(
        {
            "sub_order_id": ["6950098767660555540", "0012"],
            "title": ['=HYPERLINK("x")', "手冲咖啡壶"],
            "net": [123456, -295],
            "price": [decimal.Decimal("59.90"), None],
            "margin_bp": [3470, None],
            "lines": [3, 4],
        },
        schema_overrides={"price": pl.Decimal(20, 2)},
    )
    sheet = Sheet("明细", frame, {"sub_order_id": "子订单编号", "net": "应结金额"},
                  money={"net"}, bp={"margin_bp"}, free_text={"title"})  # fmt: skip
    write_workbook(tmp_path / "a.xlsx", [sheet])
    write_workbook(tmp_path / "b.xlsx", [sheet])
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()
    ws = openpyxl.load_workbook(tmp_path / "a.xlsx")["明细"]
    assert [c.value for c in ws[1]] == ["子订单编号", "title", "应结金额", "price", "margin_bp",
                                        "lines"]  # fmt: skip
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:F3"
    ids = [ws["A2"], ws["A3"]]
    assert [c.value for c in ids] == ["6950098767660555540", "0012"]
    assert all(c.data_type == "s" and c.number_format == "@" for c in ids)
    assert not any(c.quotePrefix for row in ws.iter_rows() for c in row)
    # formula-like text is a text cell, shown as it was, never a formula (no apostrophe)
    assert ws["B2"].value == '=HYPERLINK("x")' and ws["B2"].data_type == "s"
    assert (ws["C2"].value, ws["C3"].value) == (1234.56, -2.95)
    assert ws["C2"].number_format == "#,##0.00" and ws["D2"].number_format == "#,##0.00"
    assert ws["D2"].value == 59.9 and ws["D3"].value is None
    assert (ws["E2"].value, ws["E2"].number_format) == (0.347, "0.00%")
    assert ws["F2"].value == 3 and ws["F2"].number_format == "General"
    assert ws.column_dimensions["A"].width > 19  # a 19-digit ID fits


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Two generated shops settled, reconciled and priced at cost for 2026-10-H1."""
    from click.testing import CliRunner

    from pipeline.cli import main
    from pipeline.demo.generator import generate

    root = tmp_path_factory.mktemp("report")
    exports, out = root / "exports", root / "out"
    generate(exports, shops=2, orders=3000, seed=7)
    run = lambda *a: CliRunner().invoke(main, [str(x) for x in a])  # noqa: E731
    r = run("settle", "--period", PERIOD, "--out", out, "--orders", exports / "orders.csv",
            "--after-sales", exports / "after_sales.csv", "--products", exports / "products.csv",
            "--commissions", exports / "commissions.csv")  # fmt: skip
    assert r.exit_code == 0, r.output
    statement = out / "settlement" / PERIOD
    assert run("reconcile", "--statement", statement, "--bill", exports / "bill.csv",
               "--out", out).exit_code in (0, 3)  # fmt: skip
    assert run("profit", "--statement", statement, "--orders", exports / "orders.csv",
               "--costs", exports / "costs.csv", "--out", out).exit_code == 3  # fmt: skip
    r = run("report", "--out", out, "--period", PERIOD, "--orders", exports / "orders.csv")
    assert r.exit_code == 0, r.output
    return out


def test_report_workbook(outputs):
    book = openpyxl.load_workbook(outputs / "report" / PERIOD / "report.xlsx")
    assert book.sheetnames == ["汇总", "结算明细", "未结算", "对账差异", "利润", "亏损商品"]
    statement = pl.read_parquet(outputs / "settlement" / PERIOD / "statement.parquet")
    summary = book["汇总"]
    heads = [c.value for c in summary[1]]
    assert heads[:7] == [
        "店铺ID",
        "行数",
        "收入合计",
        "平台服务费",
        "佣金",
        "应结金额",
        "未确认收货笔数",
    ]
    assert {"对账差异笔数", "对账差异金额", "成本", "利润", "利润率", "有售后申请金额"} <= set(
        heads
    )
    net = statement.group_by("shop_id").agg(pl.col("net").sum()).sort("shop_id")
    rows = list(summary.iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in rows] == [*net["shop_id"].to_list(), "合计"]
    col = heads.index("应结金额")
    assert [r[col] for r in rows] == [*(v / 100 for v in net["net"]), net["net"].sum() / 100]
    profit = pl.read_csv(outputs / "profit" / PERIOD / "by_shop.csv").sort("shop_id")
    assert [r[heads.index("利润")] for r in rows[:-1]] == [v / 100 for v in profit["profit"]]
    for ws in book.worksheets:
        assert ws.freeze_panes == "A2", ws.title
    detail = book["结算明细"]
    dheads = [c.value for c in detail[1]]
    assert dheads[:6] == ["结算周期", "结算日", "类型", "店铺ID", "主订单编号", "子订单编号"]
    first = statement.row(0, named=True)
    cells = {h: c for h, c in zip(dheads, detail[2], strict=True)}
    assert cells["子订单编号"].value == first["sub_order_id"]
    assert cells["子订单编号"].data_type == "s" and cells["商品ID"].data_type == "s"
    assert cells["类型"].value == "销售"
    for head, name in (("应结金额", "net"), ("平台服务费", "platform_fee"), ("收入合计", "income")):
        assert cells[head].value == first[name] / 100 and cells[head].number_format == "#,##0.00"
    assert cells["平台服务费率"].number_format == "0.00%"
    held = book["未结算"]
    assert [c.value for c in held[1]][:4] == ["子订单编号", "店铺ID", "原因", "原因代码"]
    reasons = {(r[2], r[3]) for r in held.iter_rows(min_row=2, values_only=True)}
    assert ("未确认收货", "not-received") in reasons
    assert book["亏损商品"].max_row == 1 + 4


class _Charts(HTMLParser):
    """Per `section[data-chart]`: how many plotly marks (bar points, line paths) it holds."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: dict[str, int] = {}
        self.current: str | None = None
        self.depth = 0

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        a = dict(attrs)
        if tag == "section" and "data-chart" in a:
            self.current, self.depth = a["data-chart"], 0
            self.marks[self.current] = 0
        if self.current is None:
            return
        self.depth += tag == "section"
        classes = (a.get("class") or "").split()
        if (tag == "g" and "point" in classes) or (tag == "path" and "js-line" in classes):
            self.marks[self.current] += 1

    def handle_endtag(self, tag):  # noqa: ANN001
        if tag == "section" and self.current is not None:
            self.depth -= 1
            if self.depth <= 0:
                self.current = None


BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
OFFLINE = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
           "--disable-background-networking", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=20000"]  # fmt: skip


@pytest.mark.skipif(BROWSER is None, reason="no Chromium on this machine (apt-get install "
                    "chromium fonts-noto-cjk; .ci/run does it)")  # fmt: skip
def test_report_page_in_a_browser(outputs, tmp_path):
    page = outputs / "report" / PERIOD / "report.html"
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", text)  # everything embedded
    profile = tmp_path / "profile"
    url = page.as_uri()
    dom = subprocess.run(
        [BROWSER, *OFFLINE, f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True, text=True, timeout=180, check=True,
    )  # fmt: skip
    charts = _Charts()
    charts.feed(dom.stdout)
    assert list(charts.marks) == [
        "due",
        "daily",
        "fees",
        "held",
        "reconciliation",
        "losers",
        "spot",
    ]
    assert all(n > 0 for n in charts.marks.values()), charts.marks
    assert dom.stdout.count('class="main-svg"') >= 2 * len(charts.marks)
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line]
    assert console == []
    shot = tmp_path / "report.png"
    subprocess.run(
        [BROWSER, *OFFLINE, f"--user-data-dir={profile}", "--window-size=1200,3200",
         f"--screenshot={shot}", url],
        capture_output=True, timeout=180, check=True,
    )  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000


def test_report_refuses_an_unsettled_period(tmp_path, doudian):
    r = doudian("report", "--out", str(tmp_path), "--period", "2026-10-H2")
    assert r.exit_code == 1
    assert r.stderr.startswith(f"Error: {tmp_path / 'settlement' / '2026-10-H2'}: has no "
                               "statement.parquet: settle the period first")  # fmt: skip
