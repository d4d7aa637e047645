"""Formula-like text never reaches a file people open as something a spreadsheet would
run: every CSV and XLSX that `doudian run` (all stages) and the shop checks write is
scanned cell by cell, after exports whose text cells start like formulas."""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.demo.generator import generate, shops_config, split_by_shop

REPO = Path(__file__).resolve().parent.parent
#: what a spreadsheet would run: =, +, -, @ or their full-width forms, after blanks
RISKY = re.compile(r"^[ \t\r]*[=+\-@＝＋－＠]")
NUMBER = re.compile(r"^[ \t\r]*[+-]?[0-9][0-9,]*(\.[0-9]+)?$")
HOSTILE = [
    '=HYPERLINK("http://x","点我")',
    "+cmd|' /C calc'!A0",
    "@SUM(A1:A9)",
    "-2+3",
    " =1+1",
    "\t=1+1",
    "＝1+1",
]


def poison(csv: Path, columns: list[str]) -> None:
    """Put a formula-like text into `columns` of every third row of an export."""
    frame = pl.read_csv(csv, infer_schema=False)
    n = frame.height
    text = pl.Series([HOSTILE[i % len(HOSTILE)] for i in range(n)])
    every_third = pl.Series([i % 3 == 0 for i in range(n)])
    frame = frame.with_columns(
        pl.when(every_third).then(pl.lit(text)).otherwise(pl.col(c)).alias(c) for c in columns
    )
    csv.write_bytes(b"\xef\xbb\xbf" + frame.write_csv().encode("utf-8"))


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("formulas")
    exports = root / "exports"
    generate(exports, shops=1, orders=2000, seed=9)
    split_by_shop(exports)
    shop = exports / "1000001"
    poison(shop / "orders.csv", ["选购商品", "商品规格", "商家编码"])
    poison(shop / "products.csv", ["商品名称", "规格", "商家编码"])
    config = root / "pipeline.toml"
    rules = REPO / "fixtures" / "price" / "rules.toml"
    config.write_text('output = "out"\n' + shops_config(exports, ["1000001"], rules), "utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["run", "--config", str(config), "--on", "2026-11-01"])
    assert result.exit_code in (0, 3), result.output
    shops = root / "shops.csv"
    shops.write_text(
        '店铺ID,主体类型,类目,上月成交金额\n1000001,企业,=HYPERLINK("x"),100\n'
        "1000002,个人,@SUM(A1),100\n",
        encoding="utf-8",
    )
    checks = runner.invoke(
        main, ["check", "deposit", "--shops", str(shops), "--out", str(root / "out" / "checks")]
    )
    assert checks.exit_code in (0, 3, 4), checks.output
    return root / "out"


def test_every_csv_cell_is_safe(outputs):
    files = sorted(outputs.rglob("*.csv"))
    assert len(files) > 20
    for path in files:
        frame = pl.read_csv(path, infer_schema=False)
        for name in frame.columns:
            for value in frame.get_column(name).drop_nulls().unique().to_list():
                assert not (RISKY.match(value) and not NUMBER.match(value)), (path, name, value)


def test_xlsx_cells_are_text_never_formulas(outputs):
    files = sorted(outputs.rglob("*.xlsx"))
    assert len(files) >= 3
    seen_hostile = False
    for path in files:
        book = openpyxl.load_workbook(path)
        for sheet in book.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", (path, cell.coordinate, cell.value)
                    if isinstance(cell.value, str) and RISKY.match(cell.value):
                        seen_hostile = True  # written as a text cell: shown, never run
    assert seen_hostile, "the poisoned titles reached no workbook: the test saw nothing"
