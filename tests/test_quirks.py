"""Every hand-made quirk fixture of `fixtures/` through the real `doudian validate`.

The expected values below are written out by hand from the fixture rows (see
fixtures/README.md), not computed by the code under test: IDs without their tab or
apostrophe, money in integer fen, timestamps in China time, rows numbered as a
spreadsheet shows them (header = row 1; the bill's data starts at row 3).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import polars as pl
import pytest
from conftest import FIXTURES, REPO, read_findings
from hypothesis import given, settings
from hypothesis import strategies as st

import pipeline.read.exports as read
import pipeline.read.transcode as transcode
from pipeline.errors import InputError
from pipeline.read.exports import _row_end, open_export
from schemas import KINDS

CST = ZoneInfo("Asia/Shanghai")
CHINA_TIME = pl.Datetime("us", "Asia/Shanghai")


def t(text: str) -> dt.datetime:
    """A China-time timestamp."""
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CST)


def rows_of(frame: pl.DataFrame, *columns: str) -> list[tuple]:
    return frame.select(columns).rows()


# --- The five orders of the "same rows" files, as canonical values -------------------

# fmt: off
BASE = [
    {
        "order_id": "6938812345678901231", "sub_order_id": "6938812345678901232",
        "product_title": "云南小粒咖啡豆 中度烘焙 500g", "sku_spec": "中度烘焙;500g", "quantity": 1,
        "product_id": "3621547896541236547", "merchant_code": "KF-YN-500M", "item_no": None, "unit_price": 5990,
        "payable": 5490, "freight": 0, "platform_discount": 300, "creator_discount": 200,
        "payment_discount": 0, "created_at": t("2026-10-03 10:15:22"),
        "paid_at": t("2026-10-03 10:15:40"), "promised_ship_at": t("2026-10-05 10:15:40"),
        "shipped_at": t("2026-10-04 09:02:11"), "received_at": t("2026-10-09 18:30:05"),
        "order_status": "已完成", "after_sale_status": None, "traffic_source": "精选联盟",
        "creator_id": "1108829374650213", "shop_id": None, "source_row": 2,
    },
    {
        "order_id": "6938812345678901231", "sub_order_id": "6938812345678901233",
        "product_title": "挂耳咖啡 经典拼配 10包", "sku_spec": "经典拼配;10包", "quantity": 2,
        "product_id": "3621547896541236548", "merchant_code": "KF-GE-10", "item_no": None, "unit_price": 2990,
        "payable": 5880, "freight": 0, "platform_discount": 0, "creator_discount": 0,
        "payment_discount": 100, "created_at": t("2026-10-03 10:15:22"),
        "paid_at": t("2026-10-03 10:15:40"), "promised_ship_at": t("2026-10-05 10:15:40"),
        "shipped_at": t("2026-10-04 09:02:11"), "received_at": t("2026-10-09 18:30:05"),
        "order_status": "已完成", "after_sale_status": None, "traffic_source": "精选联盟",
        "creator_id": "1108829374650213", "shop_id": None, "source_row": 3,
    },
    {
        "order_id": "6938820011223344551", "sub_order_id": "6938820011223344552",
        "product_title": "手冲咖啡壶 不锈钢 600ml", "sku_spec": "银色;600ml", "quantity": 1,
        "product_id": "3650011223344556677", "merchant_code": "HC-600-S", "item_no": None, "unit_price": 16800,
        "payable": 17600, "freight": 800, "platform_discount": 0, "creator_discount": 0,
        "payment_discount": 0, "created_at": t("2026-10-12 21:47:03"),
        "paid_at": t("2026-10-12 21:48:15"), "promised_ship_at": t("2026-10-14 21:48:15"),
        "shipped_at": t("2026-10-13 16:20:00"), "received_at": None,
        "order_status": "已发货", "after_sale_status": None, "traffic_source": "商品卡",
        "creator_id": None, "shop_id": None, "source_row": 4,
    },
    {
        "order_id": "6938833300112233441", "sub_order_id": "6938833300112233442",
        "product_title": "云南小粒咖啡豆 深度烘焙 500g", "sku_spec": "深度烘焙;500g", "quantity": 3,
        "product_id": "3621547896541236547", "merchant_code": "KF-YN-500D", "item_no": None, "unit_price": 5990,
        "payable": 17970, "freight": 0, "platform_discount": 0, "creator_discount": 0,
        "payment_discount": 0, "created_at": t("2026-10-20 08:05:59"),
        "paid_at": t("2026-10-20 08:06:30"), "promised_ship_at": t("2026-10-22 08:06:30"),
        "shipped_at": None, "received_at": None,
        "order_status": "备货中", "after_sale_status": None, "traffic_source": "直播",
        "creator_id": None, "shop_id": None, "source_row": 5,
    },
    {
        "order_id": "6938845566778899001", "sub_order_id": "6938845566778899002",
        "product_title": "咖啡滤纸 V60 100张", "sku_spec": "V60;100张", "quantity": 1,
        "product_id": "3650099887766554433", "merchant_code": "LZ-V60-100", "item_no": None, "unit_price": 1290,
        "payable": 1890, "freight": 600, "platform_discount": 0, "creator_discount": 0,
        "payment_discount": 0, "created_at": t("2026-10-25 23:59:58"),
        "paid_at": t("2026-10-26 00:00:12"), "promised_ship_at": t("2026-10-28 00:00:12"),
        "shipped_at": t("2026-10-26 14:10:00"), "received_at": t("2026-10-31 09:00:00"),
        "order_status": "已完成", "after_sale_status": "售后关闭", "traffic_source": "搜索",
        "creator_id": None, "shop_id": None, "source_row": 6,
    },
]

# fmt: on
ORDER_COLUMNS = list(BASE[0])[:-1]  # canonical order, without source_row
SAME_ROWS = [
    "orders_utf8_bom.csv",
    "orders_utf8_nobom.csv",
    "orders_gb18030.csv",
    "orders.xlsx",
    "orders_apostrophe_ids.csv",
]
REQUIRED_ORDER_COLUMNS = "主订单编号, 子订单编号"  # the keys


def valid_dicts(frame: pl.DataFrame) -> list[dict]:
    return frame.drop("source_file").to_dicts()


# --- The fixture files are what they claim -------------------------------------------


def test_builder_is_byte_stable(tmp_path):
    """fixtures/build_quirks.py rewrites every committed fixture byte for byte, and
    nothing in fixtures/ is hand-edited outside it."""
    out = tmp_path / "build"
    subprocess.run(
        [sys.executable, str(FIXTURES / "build_quirks.py"), str(out)],
        check=True,
        capture_output=True,
    )
    built = sorted(p.name for p in out.iterdir())
    committed = sorted(
        p.name for p in FIXTURES.iterdir() if p.is_file() and p.suffix in (".csv", ".xlsx")
    )
    assert built == committed
    for name in built:
        assert (out / name).read_bytes() == (FIXTURES / name).read_bytes(), name


def test_text_fixture_encodings():
    bom = (FIXTURES / "orders_utf8_bom.csv").read_bytes()
    nobom = (FIXTURES / "orders_utf8_nobom.csv").read_bytes()
    gb = (FIXTURES / "orders_gb18030.csv").read_bytes()
    assert bom.startswith(codecs.BOM_UTF8) and bom[3:] == nobom
    assert not nobom.startswith(codecs.BOM_UTF8)
    with pytest.raises(UnicodeDecodeError):
        gb.decode("utf-8")
    assert gb.decode("gb18030") == nobom.decode("utf-8")
    text = nobom.decode("utf-8")
    assert "\r\n" in text and "\t6938812345678901231," in text
    assert "'6938812345678901231," in (FIXTURES / "orders_apostrophe_ids.csv").read_text(
        "utf-8-sig"
    )
    assert (FIXTURES / "orders_empty.csv").stat().st_size == 0
    header_only = (FIXTURES / "orders_header_only.csv").read_bytes().decode("utf-8-sig")
    assert header_only.count("\r\n") == 1 and header_only.startswith("主订单编号,子订单编号,")
    missing = (FIXTURES / "orders_missing_column.csv").read_text("utf-8-sig").splitlines()[0]
    assert "子订单编号" not in missing.split(",") and "收件人" in missing.split(",")
    old = (FIXTURES / "orders_old_headers.csv").read_text("utf-8-sig").splitlines()[0].split(",")
    assert {"平台优惠", "达人优惠", "商品金额", "货号"} <= set(old)
    assert not {"平台实际承担优惠金额", "达人实际承担优惠金额", "商品单价", "商家编码"} & set(old)
    bill = list(csv.reader(io.StringIO((FIXTURES / "bill_note_row.csv").read_text("utf-8-sig"))))
    assert bill[0][:4] == ["结算时间", "订单号", "子订单号", "结算金额"]
    assert bill[1][0].startswith("说明") and not any(bill[1][1:])
    assert "-2.95" in bill[3]
    full = (FIXTURES / "after_sales.csv").read_text("utf-8-sig").splitlines()[0]
    half = (FIXTURES / "after_sales_halfwidth.csv").read_text("utf-8-sig").splitlines()[0]
    assert "退商品金额（元）" in full and "(元)" not in full
    assert "退商品金额(元)" in half and "（元）" not in half


def test_xlsx_fixture_with_openpyxl():
    book = openpyxl.load_workbook(FIXTURES / "orders.xlsx")
    assert book.sheetnames == ["订单", "说明"]
    assert book.properties.created == dt.datetime(2026, 11, 1, 9, 0, 0)
    sheet = book["订单"]
    header = [c.value for c in sheet[1]]
    with open(FIXTURES / "orders_utf8_nobom.csv", encoding="utf-8", newline="") as fh:
        csv_rows = list(csv.reader(fh))
    assert header == csv_rows[0]
    assert sheet.max_row == 6
    col = {h: i for i, h in enumerate(header)}
    body = [list(r) for r in sheet.iter_rows(min_row=2)]
    for cells, csv_row in zip(body, csv_rows[1:], strict=True):
        for name in ("主订单编号", "子订单编号", "商品ID"):
            cell = cells[col[name]]
            assert cell.data_type == "s" and cell.value == csv_row[col[name]].lstrip("\t")
        assert cells[col["订单应付金额"]].data_type == "n"  # a number cell: 54.9, 176, ...
        assert float(cells[col["订单应付金额"]].value) == float(csv_row[col["订单应付金额"]])
        assert isinstance(cells[col["商品数量"]].value, int)
    created = [cells[col["订单提交时间"]] for cells in body]
    # rows 2-4 hold real Excel datetimes, rows 5-6 text
    assert [c.is_date for c in created] == [True, True, True, False, False]
    assert created[0].value == dt.datetime(2026, 10, 3, 10, 15, 22)
    assert created[0].number_format == "yyyy-mm-dd hh:mm:ss"
    assert created[3].value == "2026-10-20 08:05:59"
    # row 2's 支付完成时间 is a bare serial number (General format): 2026-10-03 10:15:40
    paid = body[0][col["支付完成时间"]]
    assert not paid.is_date and isinstance(paid.value, float)
    assert round(paid.value * 86400) == round(
        (dt.datetime(2026, 10, 3, 10, 15, 40) - dt.datetime(1899, 12, 30)).total_seconds()
    )
    assert body[2][col["订单完成时间"]].value is None  # a blank cell, not ""
    notes = [r[0] for r in book["说明"].iter_rows(values_only=True)]
    assert notes[0] == "导出说明" and len(notes) == 4


def test_numeric_ids_xlsx_fixture_holds_numbers():
    sheet = openpyxl.load_workbook(FIXTURES / "orders_numeric_ids.xlsx").active
    assert sheet.cell(2, 1).data_type == "n" and sheet.cell(3, 1).data_type == "s"
    # a number cell cannot hold 19 digits: Excel shows 6.93881E+18
    assert isinstance(sheet.cell(2, 2).value, int | float)
    assert float(sheet.cell(2, 2).value) == float(6938812345678901232)


def test_bill_xlsx_fixture_layout():
    sheet = openpyxl.load_workbook(FIXTURES / "bill_note_row.xlsx").active
    assert sheet.cell(1, 1).value == "结算时间"
    assert sheet.cell(2, 1).value.startswith("说明") and "A2:AH2" in {
        str(r) for r in sheet.merged_cells.ranges
    }
    assert sheet.cell(3, 3).value == "6938812345678901232"
    assert sheet.cell(4, 24).value == -2.95  # 平台服务费, a negative number cell
    assert sheet.max_row == 6


# --- The same five orders from every format ------------------------------------------


@pytest.mark.parametrize("name", SAME_ROWS)
def test_same_rows_exact_values(doudian, name):
    run = doudian.validate("orders", f"fixtures/{name}", "--json")
    assert run.exit_code == 0, run.stderr
    assert run.stderr == ""
    valid = run.valid("orders")
    assert valid.schema["created_at"] == CHINA_TIME
    for column in ("paid_at", "promised_ship_at", "shipped_at", "received_at"):
        assert valid.schema[column] == CHINA_TIME
    for column in ("unit_price", "payable", "freight", "platform_discount", "quantity"):
        assert valid.schema[column] == pl.Int64
    assert valid.columns == ORDER_COLUMNS + ["source_file", "source_row"]
    assert valid.get_column("source_file").to_list() == [f"fixtures/{name}"] * 5
    assert valid_dicts(valid) == BASE
    # China time, not UTC: 10:15:22 in Shanghai is 02:15:22 UTC
    first = valid.get_column("created_at")[0]
    assert first.utcoffset() == dt.timedelta(hours=8)
    assert first.astimezone(dt.UTC) == dt.datetime(2026, 10, 3, 2, 15, 22, tzinfo=dt.UTC)
    assert run.rejected("orders") == [] and run.warnings("orders") == []
    summary = run.json()
    assert (summary["rows"], summary["valid"], summary["rejected"], summary["exit_code"]) == (
        5,
        5,
        0,
        0,
    )


def test_bom_nobom_gb18030_xlsx_give_one_table(doudian):
    tables = {}
    for name in SAME_ROWS:
        run = doudian.validate("orders", f"fixtures/{name}")
        assert run.exit_code == 0
        tables[name] = run.valid("orders").drop("source_file")
    first = tables[SAME_ROWS[0]]
    for name, table in tables.items():
        assert table.equals(first), name


def test_formats_and_encodings_reported(doudian):
    files = ["orders_utf8_bom.csv", "orders_utf8_nobom.csv", "orders_gb18030.csv", "orders.xlsx"]
    run = doudian.validate("orders", *(f"fixtures/{f}" for f in files), "--json")
    got = [(f["file"], f["format"], f["encoding"]) for f in run.json()["files"]]
    assert got == [
        ("fixtures/orders_utf8_bom.csv", "csv", "utf-8"),
        ("fixtures/orders_utf8_nobom.csv", "csv", "utf-8"),
        ("fixtures/orders_gb18030.csv", "csv", "gb18030"),
        ("fixtures/orders.xlsx", "xlsx", None),
    ]


def test_text_summary(doudian):
    run = doudian.validate("orders", "fixtures/orders_gb18030.csv")
    lines = run.stdout.splitlines()
    assert lines[0] == "orders: 5 rows in 1 file: 5 valid, 0 rejected (0 findings), 0 warnings"
    assert lines[1].split() == [
        "fixtures/orders_gb18030.csv",
        "csv",
        "gb18030",
        "5",
        "rows,",
        "5",
        "valid,",
        "0",
        "rejected",
    ]


def test_shop_id_from_the_command_line(doudian):
    run = doudian.validate("orders", "fixtures/orders_utf8_bom.csv", "--shop-id", "4463798")
    assert run.exit_code == 0
    assert run.valid("orders").get_column("shop_id").to_list() == ["4463798"] * 5


# --- One quirk per file --------------------------------------------------------------


def test_sci_notation_ids_rejected(doudian):
    run = doudian.validate("orders", "fixtures/orders_sci_ids.csv", "--json")
    assert run.exit_code == 3
    f = "fixtures/orders_sci_ids.csv"
    assert run.rejected("orders") == [
        (f, 2, "主订单编号", "6.93881E+18", "id-scientific-notation"),
        (f, 2, "子订单编号", "6.9E+18", "id-scientific-notation"),
        (f, 3, "子订单编号", "6.91234E+18", "id-scientific-notation"),
        (f, 4, "商品ID", "3.62155E+18", "id-scientific-notation"),
    ]
    assert valid_dicts(run.valid("orders")) == [{**BASE[4], "source_row": 5}]
    summary = run.json()
    assert summary["findings"] == {"id-scientific-notation": 4}
    assert (summary["rows"], summary["valid"], summary["rejected"]) == (4, 1, 3)


def test_sci_notation_message_says_what_to_do(doudian):
    run = doudian.validate("orders", "fixtures/orders_sci_ids.csv")
    with open(run.out / "rejected" / "orders.csv", encoding="utf-8-sig", newline="") as fh:
        message = list(csv.DictReader(fh))[0]["message"]
    assert message.startswith("主订单编号: the ID was turned into a number by Excel (like 6.9E+18)")


def test_thousands_separators_and_yuan_signs(doudian):
    run = doudian.validate("orders", "fixtures/orders_thousands.csv")
    assert run.exit_code == 0
    assert rows_of(
        run.valid("orders"),
        "sub_order_id",
        "unit_price",
        "payable",
        "freight",
        "platform_discount",
        "creator_discount",
        "quantity",
    ) == [
        ("6938850000111122222", 123400, 124200, 800, 0, 0, 1),  # "1,234.00", "1,242.00"
        ("6938850000111133332", 5990, 5490, 0, 300, 200, 1),  # "¥59.90", "¥54.90", "¥3.00"
        ("6938850000111144442", 129950, 259900, 0, 0, 0, 2),  # "￥1,299.50", " 2,599.00 "
    ]


def test_dash_means_none(doudian):
    run = doudian.validate("orders", "fixtures/orders_dash_none.csv")
    assert run.exit_code == 0
    valid = run.valid("orders")
    assert rows_of(
        valid,
        "sub_order_id",
        "platform_discount",
        "creator_discount",
        "payment_discount",
        "shipped_at",
        "received_at",
        "after_sale_status",
        "creator_id",
    ) == [
        ("6938833300112233442", None, None, None, None, None, None, None),
        ("6938820011223344552", None, None, None, t("2026-10-13 16:20:00"), None, None, None),
        (
            "6938845566778899002",
            None,
            None,
            None,
            t("2026-10-26 14:10:00"),
            t("2026-10-31 09:00:00"),
            None,
            None,
        ),
    ]
    assert valid.get_column("payable").to_list() == [17970, 17600, 1890]


def test_slash_dates_to_the_minute(doudian):
    run = doudian.validate("orders", "fixtures/orders_slash_dates.csv")
    assert run.exit_code == 0
    assert rows_of(
        run.valid("orders"),
        "created_at",
        "paid_at",
        "promised_ship_at",
        "shipped_at",
        "received_at",
    ) == [
        (
            t("2026-10-03 10:15:00"),
            t("2026-10-03 10:15:00"),
            t("2026-10-05 10:15:00"),
            t("2026-10-04 09:02:00"),
            t("2026-10-09 18:30:00"),
        ),
        (
            t("2026-10-12 21:47:00"),
            t("2026-10-12 21:48:00"),
            t("2026-10-14 21:48:00"),
            t("2026-10-13 16:20:00"),
            None,
        ),
        (
            t("2026-10-25 23:59:00"),
            t("2026-10-26 00:00:00"),
            t("2026-10-28 00:00:00"),
            t("2026-10-26 14:10:00"),
            t("2026-10-31 09:00:00"),
        ),
    ]


def test_duplicate_sub_order_later_copy_rejected(doudian):
    run = doudian.validate("orders", "fixtures/orders_duplicate.csv", "--json")
    assert run.exit_code == 3
    # the value is the cell as exported, tab included
    assert run.rejected("orders") == [
        (
            "fixtures/orders_duplicate.csv",
            5,
            "子订单编号",
            "\t6938860000222233332",
            "duplicate-sub-order",
        ),
    ]
    valid = run.valid("orders")
    assert rows_of(valid, "sub_order_id", "order_status", "source_row") == [
        ("6938860000222211112", "已完成", 2),
        ("6938860000222233332", "已发货", 3),  # the first copy is kept
        ("6938860000222244442", "备货中", 4),
    ]
    assert run.json()["findings"] == {"duplicate-sub-order": 1}


def test_missing_required_column_rejects_the_file(doudian):
    run = doudian.validate("orders", "fixtures/orders_missing_column.csv")
    assert run.exit_code == 1
    assert run.stdout == ""
    assert run.stderr == (
        "Error: fixtures/orders_missing_column.csv: missing required column 子订单编号 "
        "(is this a 订单导出 export?)\n"
    )
    assert not (run.out / "valid" / "orders.parquet").exists()
    assert not (run.out / "rejected" / "orders.csv").exists()


def test_empty_file(doudian):
    run = doudian.validate("orders", "fixtures/orders_empty.csv")
    assert run.exit_code == 1
    assert (
        run.stderr
        == "Error: fixtures/orders_empty.csv: the file is empty (0 bytes): export it again\n"
    )


def test_no_such_file(doudian):
    run = doudian.validate("orders", "fixtures/orders_nowhere.csv")
    assert run.exit_code == 1
    assert run.stderr == "Error: fixtures/orders_nowhere.csv: no such file\n"


def test_header_only_is_zero_rows(doudian):
    run = doudian.validate("orders", "fixtures/orders_header_only.csv", "--json")
    assert run.exit_code == 0
    summary = run.json()
    assert (summary["rows"], summary["valid"], summary["rejected"]) == (0, 0, 0)
    valid = run.valid("orders")
    assert valid.height == 0
    assert valid.columns == ORDER_COLUMNS + ["source_file", "source_row"]
    assert valid.schema["created_at"] == CHINA_TIME and valid.schema["payable"] == pl.Int64
    assert run.rejected("orders") == [] and run.warnings("orders") == []


def test_old_header_aliases(doudian):
    run = doudian.validate("orders", "fixtures/orders_old_headers.csv")
    assert run.exit_code == 0
    # an older export has 货号 and no 商家编码: it is both the merchant code and the 货号
    assert valid_dicts(run.valid("orders")) == [
        {**row, "item_no": row["merchant_code"]} for row in BASE[:3]
    ]


def test_findings_name_the_header_the_file_uses(doudian, tmp_path):
    """A bad value under an old alias header is reported under that header (商品金额)."""
    text = (FIXTURES / "orders_old_headers.csv").read_text("utf-8-sig")
    bad = tmp_path / "old.csv"
    bad.write_text(text.replace(",29.90,", ",29.9O,", 1), encoding="utf-8-sig", newline="")
    run = doudian.validate("orders", str(bad))
    assert run.exit_code == 3
    assert run.rejected("orders") == [(str(bad), 3, "商品金额", "29.9O", "bad-money")]


def test_bad_values_one_finding_per_row(doudian):
    run = doudian.validate("orders", "fixtures/orders_bad_values.csv", "--json")
    assert run.exit_code == 3
    f = "fixtures/orders_bad_values.csv"
    assert run.rejected("orders") == [
        (f, 3, "订单应付金额", "12.3.4", "bad-money"),
        (f, 4, "订单提交时间", "2026-10-32 21:47:03", "bad-timestamp"),
        (f, 5, "商品数量", "0", "quantity-not-positive"),
        (f, 6, "支付完成时间", "2026-10-26 00:00:12", "time-order"),
        (f, 7, "商品ID", "362154789654", "bad-id"),
        (f, 8, "子订单编号", "", "missing-value"),
    ]
    # an unknown 订单状态 is a warning: the row stays valid
    assert run.warnings("orders") == [(f, 9, "订单状态", "已取消", "unknown-status")]
    valid = run.valid("orders")
    assert rows_of(valid, "sub_order_id", "order_status", "source_row") == [
        ("6938812345678901232", "已完成", 2),
        ("6938870000333300062", "已取消", 9),
    ]
    summary = run.json()
    assert (summary["rows"], summary["valid"], summary["rejected"]) == (8, 2, 6)
    assert summary["findings"] == {
        "bad-id": 1,
        "bad-money": 1,
        "bad-timestamp": 1,
        "missing-value": 1,
        "quantity-not-positive": 1,
        "time-order": 1,
    }
    assert summary["warnings"] == {"unknown-status": 1}
    assert run.stdout and summary["exit_code"] == 3


def test_bill_note_row_and_negative_fees(doudian):
    run = doudian.validate("bill", "fixtures/bill_note_row.csv", "--json")
    assert run.exit_code == 3
    assert run.rejected("bill") == [
        ("fixtures/bill_note_row.csv", 6, "结算金额", "18.255", "bad-money")
    ]
    valid = run.valid("bill")
    assert valid.schema["settled_at"] == CHINA_TIME
    assert rows_of(
        valid,
        "source_row",
        "order_id",
        "sub_order_id",
        "product_id",
        "settle_amount",
        "income_total",
        "platform_fee",
        "commission",
        "expense_total",
        "freight",
        "quantity",
        "settled_at",
        "created_at",
        "other_share_note",
        "remark",
    ) == [
        (
            3,
            "6938812345678901231",
            "6938812345678901232",
            "3621547896541236547",
            5092,
            5990,
            -299,
            -599,
            -898,
            0,
            1,
            t("2026-10-16 02:13:45"),
            t("2026-10-03 10:15:22"),
            None,
            None,
        ),
        (
            4,
            "6938812345678901231",
            "6938812345678901233",
            "3621547896541236548",
            5087,
            5980,
            -295,
            -598,
            -893,
            0,
            2,
            t("2026-10-16 02:13:45"),
            t("2026-10-03 10:15:22"),
            None,
            None,
        ),
        (
            5,
            "6938845566778899001",
            "6938845566778899002",
            "3650099887766554433",
            1825,
            1890,
            -65,
            0,
            -65,
            600,
            1,
            t("2026-11-01 01:02:03"),
            t("2026-10-25 23:59:58"),
            None,
            None,
        ),
    ]
    summary = run.json()
    assert (summary["rows"], summary["valid"], summary["rejected"]) == (4, 3, 1)


@pytest.mark.parametrize(
    "fee",
    [
        "¥-0.65",
        "-¥0.65",
    ],
    ids=["yuan-minus", "minus-yuan"],
)
def test_negative_fee_with_yuan_sign(doudian, tmp_path, fee):
    """Excel's Chinese currency formats write a negative fee as ¥-0.65 or -¥0.65."""
    text = (FIXTURES / "bill_note_row.csv").read_bytes().decode("utf-8-sig")
    assert text.count(",-0.65,") == 4  # 平台服务费 and 支出合计 of rows 5 and 6
    path = tmp_path / "bill.csv"
    path.write_bytes(("\ufeff" + text.replace(",-0.65,", f",{fee},", 1)).encode("utf-8"))
    run = doudian.validate("bill", str(path))
    assert run.rejected("bill") == [(str(path), 6, "结算金额", "18.255", "bad-money")]
    assert rows_of(run.valid("bill"), "source_row", "platform_fee", "expense_total")[-1] == (
        5,
        -65,
        -65,
    )


def test_bill_note_row_xlsx(doudian):
    run = doudian.validate("bill", "fixtures/bill_note_row.xlsx", "--json")
    assert run.rejected("bill") == [
        ("fixtures/bill_note_row.xlsx", 6, "结算金额", "18.255", "bad-money")
    ]
    assert rows_of(
        run.valid("bill"), "source_row", "sub_order_id", "settle_amount", "platform_fee"
    ) == [
        (3, "6938812345678901232", 5092, -299),
        (4, "6938812345678901233", 5087, -295),
        (5, "6938845566778899002", 1825, -65),
    ]
    assert run.exit_code == 3


# fmt: off
AFTER_SALES = [
    ("1465823310245678901", "6938845566778899001", "6938845566778899002", "仅退款", "售后关闭", None,
     0, 0, 0, t("2026-10-27 10:00:00"), t("2026-10-28 10:00:00"), None),
    ("1465823310245678902", "6938820011223344551", "6938820011223344552", "退货退款", "退款成功", "原路退回",
     16800, 800, 0, t("2026-10-15 12:30:00"), None, t("2026-10-20 18:00:00")),
    ("1465823310245678903", "6938833300112233441", "6938833300112233442", "仅退款", "待商家处理", None,
     17970, 0, 0, t("2026-10-21 09:00:00"), None, None),
    ("1465823310245678904", "6938812345678901231", "6938812345678901233", "换货", "换货成功", "无需退款",
     0, 0, 0, t("2026-10-10 20:05:00"), None, t("2026-10-14 11:30:00")),
]
AFTER_SALES_COLUMNS = (
    "after_sale_id", "order_id", "sub_order_id", "after_sale_type", "after_sale_status", "refund_method",
    "refund_goods", "refund_freight", "refund_payment_discount", "applied_at", "closed_at", "completed_at",
)
# fmt: on


@pytest.mark.parametrize("name", ["after_sales.csv", "after_sales_halfwidth.csv"])
def test_after_sales_brackets(doudian, name):
    run = doudian.validate("after-sales", f"fixtures/{name}")
    assert run.exit_code == 0, run.stderr
    assert rows_of(run.valid("after-sales"), *AFTER_SALES_COLUMNS) == AFTER_SALES


def test_after_sales_full_and_half_width_same_table(doudian):
    a = doudian.validate("after-sales", "fixtures/after_sales.csv").valid("after-sales")
    b = doudian.validate("after-sales", "fixtures/after_sales_halfwidth.csv").valid("after-sales")
    assert a.drop("source_file").equals(b.drop("source_file"))


def test_products(doudian):
    run = doudian.validate("products", "fixtures/products.csv")
    assert run.exit_code == 0, run.stderr
    assert rows_of(
        run.valid("products"),
        "product_id",
        "sku_id",
        "merchant_code",
        "category",
        "price",
        "stock",
        "ship_mode",
        "promise",
        "spot_stock",
        "status",
    ) == [
        (
            "3621547896541236547",
            "1765432109876543201",
            "KF-YN-500M",
            "休闲食品",
            5990,
            320,
            "现货发货",
            "48小时",
            None,
            "在售",
        ),
        (
            "3621547896541236547",
            "1765432109876543202",
            "KF-YN-500D",
            "休闲食品",
            5990,
            0,
            "现货发货",
            "7天",
            None,
            "在售",
        ),
        (
            "3650011223344556677",
            "1765432109876543301",
            "HC-600-S",
            "厨具",
            16800,
            45,
            "阶梯发货",
            "15天",
            20,
            "在售",
        ),
        (
            "3650022233344455566",
            "1765432109876543401",
            "YS-JY-01",
            "厨房电器",
            123400,
            8,
            "全款预售",
            "20天",
            None,
            "下架",
        ),
    ]


def test_costs(doudian):
    run = doudian.validate("costs", "fixtures/costs.csv")
    assert run.exit_code == 0, run.stderr
    assert rows_of(run.valid("costs"), "sku_id", "merchant_code", "cost", "source_row") == [
        ("1765432109876543201", "KF-YN-500M", 3150, 2),
        ("1765432109876543202", "KF-YN-500D", 3200, 3),
        (None, "HC-600-S", 9500, 4),
    ]


def test_commissions(doudian):
    run = doudian.validate("commissions", "fixtures/commissions.csv")
    assert run.exit_code == 0, run.stderr
    assert rows_of(
        run.valid("commissions"), "sub_order_id", "product_id", "commission", "shop_id"
    ) == [
        ("6938812345678901232", "3621547896541236547", 599, None),
        ("6938812345678901233", "3621547896541236548", 598, None),
    ]


def test_numeric_id_cells_in_xlsx_rejected(doudian):
    run = doudian.validate("orders", "fixtures/orders_numeric_ids.xlsx")
    f = "fixtures/orders_numeric_ids.xlsx"
    assert [(r[1], r[2], r[4]) for r in run.rejected("orders")] == [
        (2, "主订单编号", "id-scientific-notation"),
        (2, "子订单编号", "id-scientific-notation"),
        (2, "商品ID", "id-scientific-notation"),
    ]
    assert all(r[0] == f for r in run.rejected("orders"))
    assert run.valid("orders").get_column("sub_order_id").to_list() == ["6938820011223344552"]
    assert run.exit_code == 3


# --- Options: --sheet, --encoding, usage errors --------------------------------------


@pytest.mark.parametrize("sheet", ["1", "订单"])
def test_sheet_first_by_number_and_name(doudian, sheet):
    run = doudian.validate("orders", "fixtures/orders.xlsx", "--sheet", sheet)
    assert run.exit_code == 0
    assert valid_dicts(run.valid("orders")) == BASE


@pytest.mark.parametrize("sheet", ["2", "说明"])
def test_sheet_second_by_number_and_name(doudian, sheet):
    """The second sheet holds notes, not orders: reading it is refused, naming what is missing."""
    run = doudian.validate("orders", "fixtures/orders.xlsx", "--sheet", sheet)
    assert run.exit_code == 1
    assert run.stderr == (
        f"Error: fixtures/orders.xlsx: missing required columns {REQUIRED_ORDER_COLUMNS} "
        "(sheet '说明') (is this a 订单导出 export?)\n"
    )


@pytest.mark.parametrize("sheet", ["2", "订单"])
def test_sheet_picks_data_on_the_second_sheet(doudian, tmp_path, sheet):
    """A workbook with the notes first and the orders second: the default (first) sheet
    is refused, --sheet 2 / --sheet 订单 read the orders."""
    book = openpyxl.load_workbook(FIXTURES / "orders.xlsx")
    book.move_sheet("说明", offset=-1)
    assert book.sheetnames == ["说明", "订单"]
    path = tmp_path / "notes_first.xlsx"
    book.save(path)
    default = doudian.validate("orders", str(path))
    assert default.exit_code == 1 and "missing required columns" in default.stderr
    run = doudian.validate("orders", str(path), "--sheet", sheet)
    assert run.exit_code == 0, run.stderr
    assert valid_dicts(run.valid("orders")) == BASE


@pytest.mark.parametrize("sheet", ["3", "汇总", "0"])
def test_missing_sheet_lists_the_sheets(doudian, sheet):
    run = doudian.validate("orders", "fixtures/orders.xlsx", "--sheet", sheet)
    assert run.exit_code == 1
    assert (
        run.stderr == f"Error: fixtures/orders.xlsx: has no sheet '{sheet}' (sheets: 订单, 说明)\n"
    )


@pytest.mark.parametrize("name", ["orders_utf8_bom.csv", "orders_utf8_nobom.csv"])
def test_forced_gb18030_on_utf8_fails_cleanly(doudian, name):
    raw = (FIXTURES / name).read_bytes()
    with pytest.raises(UnicodeDecodeError) as err:
        raw.decode("gb18030")
    run = doudian.validate("orders", f"fixtures/{name}", "--encoding", "gb18030")
    assert run.exit_code == 1
    assert run.stderr == (
        f"Error: fixtures/{name}: is not valid GB18030 text near byte {err.value.start}\n"
        "  hint: pass --encoding utf-8 or --encoding gb18030 to say which it is\n"
    )
    assert "Traceback" not in run.stderr and not (run.out / "valid" / "orders.parquet").exists()


def test_forced_utf8_on_gb18030_fails_cleanly(doudian):
    run = doudian.validate("orders", "fixtures/orders_gb18030.csv", "--encoding", "utf-8")
    assert run.exit_code == 1
    assert run.stderr.startswith("Error: fixtures/orders_gb18030.csv: ")
    assert len(run.stderr.splitlines()) <= 2 and "Traceback" not in run.stderr


def test_gbk_alias_reads_gb18030(doudian):
    run = doudian.validate("orders", "fixtures/orders_gb18030.csv", "--encoding", "gbk")
    assert run.exit_code == 0
    assert valid_dicts(run.valid("orders")) == BASE


@pytest.mark.parametrize(
    "args, says",
    [
        (["validate", "orders", "fixtures/orders.xlsx"], "Missing option '--out'"),
        (["validate", "bogus", "fixtures/orders.xlsx", "--out", "x"], "'bogus' is not one of"),
        (["validate", "orders", "--out", "x"], "Missing argument 'FILES...'"),
        (
            [
                "validate",
                "orders",
                "fixtures/orders_utf8_bom.csv",
                "--out",
                "x",
                "--encoding",
                "latin1",
            ],
            "'latin1' is not one of",
        ),
        (
            ["validate", "orders", "fixtures/orders.xlsx", "--out", "x", "--sheet"],
            "requires an argument",
        ),
    ],
)
def test_usage_errors_exit_2(doudian, tmp_path, args, says):
    args = [str(tmp_path / "x") if a == "x" else a for a in args]
    run = doudian(*args)
    assert run.exit_code == 2
    assert run.stderr.splitlines()[-1].startswith("Error: ") and says in run.stderr
    assert not (tmp_path / "x").exists()


# --- Several files as one table ------------------------------------------------------


@pytest.mark.parametrize(
    "first, second",
    [
        ("orders_utf8_bom.csv", "orders_apostrophe_ids.csv"),
        ("orders_apostrophe_ids.csv", "orders_utf8_bom.csv"),
    ],
)
def test_duplicates_across_files_rejected_in_the_later_file(doudian, first, second):
    run = doudian.validate("orders", f"fixtures/{first}", f"fixtures/{second}", "--json")
    assert run.exit_code == 3
    prefix = "'" if second == "orders_apostrophe_ids.csv" else "\t"
    assert run.rejected("orders") == [
        (
            f"fixtures/{second}",
            row["source_row"],
            "子订单编号",
            prefix + row["sub_order_id"],
            "duplicate-sub-order",
        )
        for row in BASE
    ]
    valid = run.valid("orders")
    assert valid.get_column("source_file").to_list() == [f"fixtures/{first}"] * 5
    assert valid_dicts(valid) == BASE
    files = [(f["file"], f["rows"], f["valid"], f["rejected"]) for f in run.json()["files"]]
    assert files == [(f"fixtures/{first}", 5, 5, 0), (f"fixtures/{second}", 5, 0, 5)]


def test_mixed_formats_one_table(doudian):
    run = doudian.validate(
        "orders",
        "fixtures/orders_gb18030.csv",
        "fixtures/orders.xlsx",
        "fixtures/orders_duplicate.csv",
        "--json",
    )
    assert run.exit_code == 3
    summary = run.json()
    assert (summary["rows"], summary["valid"], summary["rejected"]) == (14, 8, 6)
    assert summary["findings"] == {"duplicate-sub-order": 6}
    rejected = run.rejected("orders")
    assert [(r[0], r[1]) for r in rejected] == [
        ("fixtures/orders.xlsx", n) for n in range(2, 7)
    ] + [("fixtures/orders_duplicate.csv", 5)]
    # the XLSX value is the text cell as read (no tab in the workbook)
    assert rejected[0][3] == "6938812345678901232"
    valid = run.valid("orders")
    assert rows_of(valid, "source_file", "source_row") == [
        ("fixtures/orders_gb18030.csv", n) for n in range(2, 7)
    ] + [("fixtures/orders_duplicate.csv", n) for n in (2, 3, 4)]


def test_one_unusable_file_stops_the_batch(doudian):
    run = doudian.validate(
        "orders", "fixtures/orders_utf8_bom.csv", "fixtures/orders_missing_column.csv"
    )
    assert run.exit_code == 1
    assert run.stderr == (
        "Error: fixtures/orders_missing_column.csv: missing required column 子订单编号 "
        "(is this a 订单导出 export?)\n"
    )
    assert not (run.out / "valid" / "orders.parquet").exists()


# --- Counts add up: every input row ends in exactly one place ------------------------


def data_rows(path: Path, skip_after_header: int = 0) -> int:
    """Data rows of a fixture, counted without the pipeline."""
    if path.suffix == ".xlsx":
        sheet = openpyxl.load_workbook(path).worksheets[0]
        rows = [r for r in sheet.iter_rows(values_only=True) if any(v not in (None, "") for v in r)]
    else:
        raw = path.read_bytes()
        encoding = "gb18030" if "gb18030" in path.name else "utf-8-sig"
        rows = list(csv.reader(io.StringIO(raw.decode(encoding), newline="")))
    return len(rows) - 1 - skip_after_header


COUNTED = [
    ("orders", name, 0)
    for name in SAME_ROWS
    + [
        "orders_sci_ids.csv",
        "orders_thousands.csv",
        "orders_dash_none.csv",
        "orders_slash_dates.csv",
        "orders_duplicate.csv",
        "orders_header_only.csv",
        "orders_old_headers.csv",
        "orders_bad_values.csv",
        "orders_numeric_ids.xlsx",
    ]
] + [
    ("bill", "bill_note_row.csv", 1),
    ("bill", "bill_note_row.xlsx", 1),
    ("after-sales", "after_sales.csv", 0),
    ("after-sales", "after_sales_halfwidth.csv", 0),
    ("products", "products.csv", 0),
    ("costs", "costs.csv", 0),
    ("commissions", "commissions.csv", 0),
]


@pytest.mark.parametrize("kind, name, skip", COUNTED)
def test_counts_add_up(doudian, kind, name, skip):
    expected_rows = data_rows(FIXTURES / name, skip)
    run = doudian.validate(kind, f"fixtures/{name}", "--json")
    summary = run.json()
    (file,) = summary["files"]
    assert file["rows"] == expected_rows == summary["rows"]
    assert file["valid"] + file["rejected"] == file["rows"]
    assert run.exit_code == (3 if file["rejected"] else 0) == summary["exit_code"]
    valid = run.valid(kind)
    rejected_rows = {r[1] for r in run.rejected(kind)}
    assert valid.height == file["valid"] and len(rejected_rows) == file["rejected"]
    assert sum(file["findings"].values()) == len(run.rejected(kind))
    # each input row is either valid or rejected, never both, never neither
    first = 2 + skip
    valid_rows = set(valid.get_column("source_row").to_list())
    assert not valid_rows & rejected_rows
    assert valid_rows | rejected_rows == set(range(first, first + expected_rows))


def test_counts_add_up_across_files(doudian):
    names = ["orders_bad_values.csv", "orders_utf8_bom.csv", "orders_sci_ids.csv", "orders.xlsx"]
    run = doudian.validate("orders", *(f"fixtures/{n}" for n in names), "--json")
    summary = run.json()
    assert (
        [f["rows"] for f in summary["files"]]
        == [data_rows(FIXTURES / n) for n in names]
        == [8, 5, 4, 5]
    )
    for f in summary["files"]:
        assert f["valid"] + f["rejected"] == f["rows"]
    assert summary["rows"] == 22 and summary["valid"] + summary["rejected"] == 22
    # orders_bad_values row 2 is BASE[0]: later copies of it in the next files are duplicates
    assert summary["valid"] == run.valid("orders").height


def test_outputs_are_deterministic(doudian):
    a = doudian.validate("orders", "fixtures/orders_bad_values.csv", "fixtures/orders_gb18030.csv")
    b = doudian.validate("orders", "fixtures/orders_bad_values.csv", "fixtures/orders_gb18030.csv")
    for part in ("rejected/orders.csv", "warnings/orders.csv", "valid/orders.parquet"):
        assert (a.out / part).read_bytes() == (b.out / part).read_bytes(), part


# --- The installed command, in a real process ----------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DOUDIAN_DEBUG", None)
    return env


def test_console_script_subprocess(tmp_path):
    script = shutil.which("doudian", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "pipeline"]
    proc = subprocess.run(
        [
            *command,
            "validate",
            "orders",
            "fixtures/orders_gb18030.csv",
            "fixtures/orders_sci_ids.csv",
            "--out",
            str(tmp_path),
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr == ""
    summary = json.loads(proc.stdout)
    assert [
        (f["file"], f["encoding"], f["rows"], f["valid"], f["rejected"]) for f in summary["files"]
    ] == [
        ("fixtures/orders_gb18030.csv", "gb18030", 5, 5, 0),
        ("fixtures/orders_sci_ids.csv", "utf-8", 4, 0, 4),
    ]
    assert summary["findings"] == {"duplicate-sub-order": 1, "id-scientific-notation": 4}
    # rows 4 and 5 of the sci file repeat sub-orders of the GB18030 file; row 4 is rejected
    # for its mangled 商品ID, and duplicates are judged only among otherwise valid rows
    f = "fixtures/orders_sci_ids.csv"
    assert read_findings(tmp_path / "rejected" / "orders.csv") == [
        (f, 2, "主订单编号", "6.93881E+18", "id-scientific-notation"),
        (f, 2, "子订单编号", "6.9E+18", "id-scientific-notation"),
        (f, 3, "子订单编号", "6.91234E+18", "id-scientific-notation"),
        (f, 4, "商品ID", "3.62155E+18", "id-scientific-notation"),
        (f, 5, "子订单编号", "6938845566778899002", "duplicate-sub-order"),
    ]
    valid = pl.read_parquet(tmp_path / "valid" / "orders.parquet")
    assert valid.drop("source_file").to_dicts() == BASE


def test_python_m_pipeline_subprocess_unusable_file(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "validate",
            "orders",
            "fixtures/orders_missing_column.csv",
            "--out",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == (
        "Error: fixtures/orders_missing_column.csv: missing required column 子订单编号 "
        "(is this a 订单导出 export?)\n"
    )


@settings(deadline=None)
@given(st.lists(st.sampled_from([b"a", b",", b'"', b"\n"]), max_size=40))
def test_row_end_finds_line_ends_outside_quotes(parts):
    """The first and last line end with an even number of quotes before it, as a
    plain count from the start would find them."""
    data = b"".join(parts)
    ends = [i + 1 for i, c in enumerate(data) if c == 10 and data.count(b'"', 0, i) % 2 == 0]
    assert _row_end(data) == (ends[0] if ends else -1)
    assert _row_end(data, last=True) == (ends[-1] if ends else -1)


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_blocks_of_any_size_read_the_same_rows(tmp_path, monkeypatch, encoding):
    """A CSV transcoded in blocks of a few bytes (cut after line ends, read on when a
    block holds none), and in worker processes that each take a span of lines, gives
    exactly the rows read in one block: quoted cells with commas and line ends (a span
    may start inside one), a cell longer than a block, short and long rows."""
    spec = KINDS["orders"].spec
    header = [c.headers[0] for c in spec.columns]
    lines = []
    for i in range(40):
        cells = [f"\t69000000000000{i:05d}", f"\t69500000000000{i:05d}"] + [""] * (len(header) - 2)
        cells[2] = ['"芒果干, 250g\n礼盒"', "x" * (300 if i == 7 else 1), '"引号""里"'][i % 3]
        cells[8] = f"{i}.90"
        lines.append(",".join(cells))
    path = tmp_path / "orders.csv"
    path.write_bytes(("\n".join([",".join(header), *lines]) + "\n").encode(encoding))

    def rows(block_bytes: int, workers: int = 1) -> pl.DataFrame:
        monkeypatch.setattr(transcode, "BLOCK_BYTES", block_bytes)
        monkeypatch.setattr(transcode, "SPLIT_BYTES", 1 if workers > 1 else 1 << 26)
        monkeypatch.setattr(read, "WORKERS", workers)
        raw = open_export(spec, path, encoding=encoding)
        with raw.scan(tmp_path, {}) as cells:
            return cells.collect()

    whole = rows(1 << 26)
    assert whole.height == 40
    assert whole.get_column("__row").to_list() == list(range(2, 42))
    assert whole.get_column("product_title").to_list()[:3] == ["芒果干, 250g\n礼盒", "x", '引号"里']
    for block_bytes in (64, 150, 1000, 4096):
        assert rows(block_bytes).equals(whole), block_bytes
    if encoding != "utf-8":  # a UTF-8 file is read as it is, never transcoded
        for workers in (2, 3, 7):
            assert rows(100, workers).equals(whole), workers
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.csv"]  # no part file left


def test_worker_processes_report_the_first_bad_byte(tmp_path, monkeypatch):
    """A GB18030 file decoded in three processes: a bad byte in the last span is named
    by its offset in the file, as the one-process decode names it; with bad bytes in
    two spans, the earlier one is named; a worker that cannot run has its span decoded
    in this process, with the same rows."""
    spec = KINDS["orders"].spec
    header = [c.headers[0] for c in spec.columns]
    lines = [
        ",".join(
            [f"\t69000000000000{i:05d}", "\t6950000000000001", "芒果干"] + [""] * (len(header) - 3)
        )
        for i in range(300)
    ]
    good = ("\n".join([",".join(header), *lines]) + "\n").encode("gb18030")
    monkeypatch.setattr(transcode, "SPLIT_BYTES", 1)
    monkeypatch.setattr(transcode, "BLOCK_BYTES", 512)
    monkeypatch.setattr(read, "WORKERS", 3)

    def error(data: bytes) -> str:
        path = tmp_path / "orders.csv"
        path.write_bytes(data)
        with (
            pytest.raises(InputError) as err,
            open_export(spec, path, encoding="gb18030").scan(tmp_path, {}) as cells,
        ):
            cells.collect()
        assert err.value.path == str(path)
        return err.value.message.removeprefix(f"{path}: ")

    def spoiled(data: bytes, at: int) -> bytes:
        at = data.index("芒".encode("gb18030"), at)
        return data[:at] + b"\xff" + data[at + 1 :]

    late = spoiled(good, len(good) * 9 // 10)
    with pytest.raises(UnicodeDecodeError) as whole:
        late.decode("gb18030")
    assert error(late) == f"is not valid GB18030 text near byte {whole.value.start}"
    both = spoiled(late, len(good) // 2)
    with pytest.raises(UnicodeDecodeError) as whole:
        both.decode("gb18030")
    assert whole.value.start < len(good) * 9 // 10
    assert error(both) == f"is not valid GB18030 text near byte {whole.value.start}"

    path = tmp_path / "orders.csv"
    path.write_bytes(good)
    spans_here = []
    span = transcode.transcode_span

    def counted(src, start, end, *args, **kwargs):
        spans_here.append((start, end))
        return span(src, start, end, *args, **kwargs)

    monkeypatch.setattr(transcode, "transcode_span", counted)
    with open_export(spec, path, encoding="gb18030").scan(tmp_path, {}) as cells:
        split = cells.collect()
    assert len(spans_here) == 1  # the other two spans were decoded by the workers
    monkeypatch.setattr(transcode.sys, "executable", str(tmp_path / "no-python"))
    with open_export(spec, path, encoding="gb18030").scan(tmp_path, {}) as cells:
        here = cells.collect()
    assert len(spans_here) == 4 and spans_here[1][1] == spans_here[2][0]
    assert split.height == 300 and split.equals(here)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.csv"]


#: In a fresh interpreter (the heap of a long test run may already hold a free block
#: big enough): the page faults of a 48 MB block made again after it was freed, before,
#: inside and after `kept_memory`, and the block's pages.
_FAULTS = """
import resource
from pipeline.read.transcode import kept_memory
size = 48 << 20
def again():
    block = b"\\x01" * size
    del block
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = b"\\x01" * size
    del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
first = again()
with kept_memory():
    kept = again()
print(first, kept, again(), size // resource.getpagesize())
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc settings")
def test_a_decode_keeps_freed_blocks_and_gives_them_back_after():
    """While a span is decoded, a block of 48 MB freed and made again reuses the same
    memory (no page is faulted in afresh); before and after, glibc's default maps and
    faults in every page of it again."""
    done = subprocess.run(
        [sys.executable, "-c", _FAULTS], cwd=REPO, capture_output=True, text=True, check=True
    )
    before, kept, after, pages = map(int, done.stdout.split())
    assert before >= pages and after >= pages
    assert kept < pages // 100


# --- Real header rows: the exports as the back office writes them ----------------------


#: Sub-order n of the real-header order fixtures (fixtures/build_exports.py).
def sub(n: int) -> str:
    return f"69388300000000000{n:02d}"


REAL_ORDERS = ["orders_75_columns.csv", "orders_74_columns.csv", "orders_21_columns.csv"]


def statement(folder: Path) -> list[tuple[str, ...]]:
    """(line_type, sub_order_id, product_id, payable, fee rate, platform_fee, net)."""
    rows = list(csv.DictReader(io.StringIO((folder / "statement.csv").read_text("utf-8-sig"))))
    keys = ("line_type", "sub_order_id", "product_id", "payable", "platform_fee_rate_bp",
            "platform_fee", "net")  # fmt: skip
    return [tuple(r[k] for k in keys) for r in rows]


def excluded(folder: Path) -> list[tuple[str, str]]:
    rows = (folder / "excluded.csv").read_text("utf-8-sig").splitlines()[1:]
    return [(line.split(",")[0], line.split(",")[2]) for line in rows]


def settle_two_periods(doudian, tmp_path: Path, *files: str) -> Path:
    out = tmp_path / "settled"
    for period in ("2026-10-H1", "2026-10-H2"):
        run = doudian("settle", "--period", period, "--shop-id", "1001", "--out", out, *files)
        assert run.exit_code == 3, run.stderr  # the 商品数量 -2 row is rejected
    return out / "settlement"


@pytest.mark.parametrize(
    "name, width, not_read",
    [("orders_75_columns.csv", 75, 52), ("orders_74_columns.csv", 74, 52),
     ("orders_21_columns.csv", 21, 4)],
)  # fmt: skip
def test_real_order_exports_validate(doudian, name, width, not_read):
    header = (FIXTURES / name).read_text("utf-8-sig").splitlines()[0].split(",")
    assert len(header) == width
    run = doudian.validate("orders", f"fixtures/{name}", "--json")
    assert run.exit_code == 3, run.stderr
    summary = run.json()
    assert (summary["rows"], summary["valid"], summary["rejected"]) == (12, 11, 1)
    assert summary["warnings"] == {}  # 待发货, 已支付 and the real 售后状态 words are known
    assert run.rejected("orders") == [
        (f"fixtures/{name}", 12, "商品数量", "-2", "quantity-not-positive")
    ]
    (file,) = summary["files"]
    assert len(file["not_read"]) == not_read
    valid = run.valid("orders")
    first = valid.row(0, named=True)
    assert (first["merchant_code"], first["payable"], first["order_status"]) == (
        "YX-01",
        1990,
        "已完成",
    )
    statuses = valid.get_column("order_status").to_list()
    assert statuses.count("待发货") == statuses.count("已支付") == 1
    if name == "orders_75_columns.csv":  # both 商家编码 and 货号: 货号 kept as item_no
        assert valid.get_column("item_no").to_list()[:2] == ["HH-01", "HH-02"]
        assert "平台优惠" in file["not_read"] and "平台实际承担优惠金额" not in file["not_read"]
    else:
        assert valid.get_column("item_no").null_count() == 11
    if name == "orders_21_columns.csv":  # no 商品ID, no 支付完成时间: validated without them
        assert file["not_read"] == ["收件人", "省", "市", "买家留言"]
        assert valid.get_column("product_id").null_count() == 11
        assert valid.get_column("paid_at").null_count() == 11
        assert valid.get_column("platform_discount").to_list()[1] == 200  # 平台优惠


H2_LINES = [
    # 补寄/换货成功, 售后已拒绝 and 售后关闭 closed without refund: carried over
    ("carry-over", sub(2), "3660000000000000002", "2790", "500", "150", "2840"),
    ("carry-over", sub(3), "3660000000000000003", "3900", "500", "195", "3705"),
    ("carry-over", sub(8), "3660000000000000008", "1500", "500", "75", "1425"),
    ("sale", sub(9), "3660000000000000009", "2300", "500", "120", "2280"),
]
H2_EXCLUDED = [
    (sub(1), "already-settled"),
    (sub(4), "refunded"),  # 同意退款，退款成功: the goods refunded in full
    (sub(5), "after-sale"),  # 待买家退货处理
    (sub(6), "after-sale"),  # 待商家收货
    (sub(7), "after-sale"),  # 退款中
    (sub(10), "not-received"),  # 待发货
    (sub(12), "not-received"),  # 已支付
]


@pytest.mark.parametrize("name", REAL_ORDERS[:2])
def test_real_exports_settle_with_the_real_status_words(doudian, tmp_path, name):
    """75 or 74 columns with the 50-column after-sales export: H1, then H2."""
    folder = settle_two_periods(
        doudian, tmp_path, "--orders", f"fixtures/{name}",
        "--after-sales", "fixtures/after_sales_50_columns.csv",
    )  # fmt: skip
    assert statement(folder / "2026-10-H1") == [
        ("sale", sub(1), "3660000000000000001", "1990", "500", "100", "1890")
    ]
    assert excluded(folder / "2026-10-H1") == [
        (sub(2), "after-sale"), (sub(3), "after-sale"), (sub(4), "refunded"),
        (sub(5), "after-sale"), (sub(6), "received-after-window"),
        (sub(7), "received-after-window"), (sub(8), "after-sale"),
        (sub(9), "received-after-window"), (sub(10), "not-received"), (sub(12), "not-received"),
    ]  # fmt: skip
    assert statement(folder / "2026-10-H2") == H2_LINES
    assert excluded(folder / "2026-10-H2") == H2_EXCLUDED
    rejected = read_findings(folder / "2026-10-H2" / "rejected" / "orders.csv")
    assert rejected == [(f"fixtures/{name}", 12, "商品数量", "-2", "quantity-not-positive")]
    assert read_findings(folder / "2026-10-H2" / "warnings" / "after-sales.csv") == []


def test_21_column_export_settles_from_the_order_statuses(doudian, tmp_path):
    """No 商品ID: every line takes the default rate; no after-sales file: each order's
    售后状态 counts as one after-sale, read with the same words."""
    folder = settle_two_periods(doudian, tmp_path, "--orders", "fixtures/orders_21_columns.csv")
    assert statement(folder / "2026-10-H2") == [(*line[:2], "", *line[3:]) for line in H2_LINES]
    assert excluded(folder / "2026-10-H2") == H2_EXCLUDED


@pytest.mark.parametrize(
    "command",
    [["check", "tiered-shipping", "--as-of", "2026-11-01"],
     ["shipping-mode", "--products", "fixtures/products.csv", "--as-of", "2026-11-01"]],
)  # fmt: skip
def test_a_missing_column_refuses_only_the_stages_that_need_it(doudian, tmp_path, command):
    run = doudian(
        *command, "--orders", "fixtures/orders_21_columns.csv", "--shop-id", "1001",
        "--out", tmp_path / "o",
    )  # fmt: skip
    stage = " ".join(command[:2]) if command[0] == "check" else command[0]
    assert run.exit_code == 1
    assert run.stderr == (
        "Error: fixtures/orders_21_columns.csv: missing columns 支付完成时间, 承诺发货时间"
        + (", 商品ID" if command[0] == "shipping-mode" else "")
        + f", which {stage} needs\n"
        f"  hint: export the 订单导出 again with those columns for {stage}\n"
    )


def test_after_sales_50_columns(doudian):
    run = doudian.validate("after-sales", "fixtures/after_sales_50_columns.csv", "--json")
    assert run.exit_code == 0 and run.warnings("after-sales") == []
    valid = run.valid("after-sales")
    assert valid.get_column("after_sale_status").to_list() == [
        "补寄/换货成功", "售后已拒绝", "同意退款，退款成功", "待买家退货处理", "待商家收货",
        "退款中", "售后关闭",
    ]  # fmt: skip
    assert valid.get_column("refund_goods").to_list() == [0, 0, 2500, 0, 0, 0, 0]
    assert valid.get_column("refund_freight").to_list() == [0, 0, 600, 0, 0, 0, 0]
    assert len(run.json()["files"][0]["not_read"]) == 37


def _with_word(tmp_path: Path, word: str) -> str:
    """The 50-column after-sales export with sub-order 8's 售后关闭 replaced by `word`."""
    text = (FIXTURES / "after_sales_50_columns.csv").read_text("utf-8-sig")
    assert text.count(",售后关闭,") == 1
    path = tmp_path / "after_sales.csv"
    path.write_text("\ufeff" + text.replace(",售后关闭,", f",{word},"), encoding="utf-8")
    return str(path)


def test_an_unknown_after_sale_word_warns_and_holds_the_sub_order_back(doudian, tmp_path):
    after_sales = _with_word(tmp_path, "平台介入中")
    folder = settle_two_periods(
        doudian,
        tmp_path,
        "--orders",
        "fixtures/orders_75_columns.csv",
        "--after-sales",
        after_sales,
    )
    lines = statement(folder / "2026-10-H2")
    assert [line[1] for line in lines] == [sub(2), sub(3), sub(9)]
    assert (sub(8), "after-sale") in excluded(folder / "2026-10-H2")
    assert read_findings(folder / "2026-10-H2" / "warnings" / "after-sales.csv") == [
        (after_sales, 8, "售后状态", "平台介入中", "unknown-status")
    ]


def test_status_words_are_changed_in_the_policy(doudian, tmp_path):
    """docs/settlement.md: a word is added to the policy's table, not to code."""
    after_sales = _with_word(tmp_path, "平台介入中")
    policy = tmp_path / "policy.toml"
    policy.write_text(
        '[statuses.after_sale]\nclosed = ["售后关闭", "补寄/换货成功", "售后已拒绝", "平台介入中"]\n',
        encoding="utf-8",
    )
    folder = settle_two_periods(
        doudian, tmp_path, "--orders", "fixtures/orders_75_columns.csv",
        "--after-sales", after_sales, "--policy", str(policy),
    )  # fmt: skip
    assert statement(folder / "2026-10-H2") == H2_LINES
    assert read_findings(folder / "2026-10-H2" / "warnings" / "after-sales.csv") == []
    bad = tmp_path / "bad.toml"
    bad.write_text('[statuses.after_sale]\nclosd = ["x"]\n', encoding="utf-8")
    run = doudian("settle", "--period", "2026-10-H2", "--orders", "fixtures/orders_75_columns.csv",
                  "--shop-id", "1001", "--policy", str(bad), "--out", tmp_path / "x")  # fmt: skip
    assert run.exit_code == 2
    assert "[statuses.after_sale] has unknown key 'closd'" in run.stderr


def test_older_bill_names_the_offsite_fee_differently(doudian):
    run = doudian.validate("bill", "fixtures/bill_old_offsite.csv", "--json")
    assert run.exit_code == 0 and run.warnings("bill") == []
    valid = run.valid("bill")
    assert valid.get_column("offsite_promotion_fee").to_list() == [-60, 0]
    assert valid.get_column("platform_fee").to_list() == [-99, -140]
    assert run.json()["files"][0]["not_read"] == []


def test_unknown_money_columns_of_a_bill_are_warned(doudian):
    run = doudian.validate("bill", "fixtures/bill_unknown_money.csv", "--json")
    assert run.exit_code == 0
    summary = run.json()
    assert summary["warnings"] == {"unknown-money-column": 2}
    assert summary["files"][0]["not_read"] == ["商品名称", "以旧换新抵扣", "银行补贴"]
    assert run.warnings("bill") == [
        (
            "fixtures/bill_unknown_money.csv",
            1,
            "以旧换新抵扣",
            "以旧换新抵扣",
            "unknown-money-column",
        ),
        ("fixtures/bill_unknown_money.csv", 1, "银行补贴", "银行补贴", "unknown-money-column"),
    ]
    assert (
        "3 columns not read: 商品名称, 以旧换新抵扣, 银行补贴"
        in doudian.validate("bill", "fixtures/bill_unknown_money.csv").stdout
    )


def test_unknown_money_columns_of_a_zipped_bill_are_warned_too(doudian, tmp_path):
    """The columns are looked at in the pass that checks the rows, so a bill inside a
    zip archive is looked at as the file itself is."""
    import zipfile

    archive = tmp_path / "bills.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(FIXTURES / "bill_unknown_money.csv", "bill_unknown_money.csv")
    run = doudian.validate("bill", str(archive), "--json")
    assert run.exit_code == 0
    assert run.json()["warnings"] == {"unknown-money-column": 2}
    member = f"{archive}!bill_unknown_money.csv"
    assert run.warnings("bill") == [
        (member, 1, "以旧换新抵扣", "以旧换新抵扣", "unknown-money-column"),
        (member, 1, "银行补贴", "银行补贴", "unknown-money-column"),
    ]


def test_cost_file_keyed_by_model(doudian, tmp_path):
    run = doudian.validate("costs", "fixtures/costs_model.csv")
    assert run.exit_code == 0
    assert rows_of(run.valid("costs"), "sku_id", "merchant_code", "cost") == [
        (None, "A-WY-01", 6000), (None, "A-WY-02", 5000), (None, "A-BAG-01", 7000),
        (None, "A-TX-01", 2000),
    ]  # fmt: skip
    # as the price's cost key: the same prices as the same costs keyed by 商家编码
    text = (FIXTURES / "costs_model.csv").read_text("utf-8-sig")
    by_code = tmp_path / "costs_by_code.csv"
    by_code.write_text("\ufeff" + text.replace("型号,", "商家编码,", 1), encoding="utf-8")
    outs = []
    for costs in (str(by_code), "fixtures/costs_model.csv"):
        out = tmp_path / Path(costs).stem
        price = doudian(
            "price", "--products", "fixtures/price/products.csv", "--costs", costs,
            "--rules", "fixtures/price/rules.toml", "--out", out, "--json",
        )  # fmt: skip
        assert price.exit_code == 3, price.stderr
        outs.append((out / "price" / "upload.csv").read_bytes())
    assert outs[0] == outs[1]


# --- One verdict per row: every stage rejects what `doudian validate` rejects ---------

P = "2026-10-H2"
#: stage -> (the stage's own files besides the fixture, the option the fixture goes to,
#: where the stage writes its findings); per kind, the stages that read that kind.
STAGES = {
    "settle": (["settle", "--period", P, "--shop-id", "1001"], "settlement/" + P),
    "check tiered-shipping": (
        ["check", "tiered-shipping", "--as-of", "2026-11-01", "--shop-id", "1001"],
        "tiered_shipping",
    ),
    "shipping-mode": (
        ["shipping-mode", "--as-of", "2026-11-01", "--shop-id", "1001"],
        "shipping_mode",
    ),
    "price": (["price", "--rules", "fixtures/price/rules.toml"], "price"),
}
READERS = {  # kind -> (stage, option for the fixture, the other files the stage needs)
    "orders": [
        ("settle", "--orders", []),
        ("check tiered-shipping", "--orders", []),
        ("shipping-mode", "--orders", ["--products", "fixtures/shipping/products_ok.csv"]),
    ],
    "after-sales": [("settle", "--after-sales", ["--orders", "fixtures/orders_utf8_bom.csv"])],
    "products": [
        ("settle", "--products", ["--orders", "fixtures/orders_utf8_bom.csv"]),
        ("shipping-mode", "--products", ["--orders", "fixtures/shipping/orders.csv"]),
        ("price", "--products", ["--costs", "fixtures/price/costs.csv"]),
    ],
    "costs": [("price", "--costs", ["--products", "fixtures/price/products.csv"])],
    "commissions": [("settle", "--commissions", ["--orders", "fixtures/orders_utf8_bom.csv"])],
}
KIND_OF = {"orders": "orders", "after": "after-sales", "products": "products", "costs": "costs",
           "commissions": "commissions", "bill": "bill"}  # fmt: skip
VERDICT_CASES = [
    (name, kind, *reader)
    for name in sorted(p.name for p in FIXTURES.iterdir() if p.suffix in (".csv", ".xlsx"))
    for kind in [KIND_OF[name.split("_")[0].split(".")[0]]]
    for reader in READERS.get(kind, [])
]


def _findings_or_refusal(run, folder: Path, kind: str):
    if run.exit_code == 1:
        return run.stderr.splitlines()[0]
    assert run.exit_code in (0, 3, 4), run.stderr
    return (
        read_findings(folder / "rejected" / f"{kind}.csv"),
        read_findings(folder / "warnings" / f"{kind}.csv"),
    )


@pytest.mark.parametrize("name, kind, stage, option, others", VERDICT_CASES)
def test_every_stage_rejects_the_rows_validate_rejects(
    doudian, tmp_path, name, kind, stage, option, others
):
    check = doudian.validate(kind, f"fixtures/{name}", "--shop-id", "1001")
    expected = _findings_or_refusal(check, check.out, kind)
    command, folder = STAGES[stage]
    out = tmp_path / "stage"
    run = doudian(*command, *others, option, f"fixtures/{name}", "--out", out)
    got = _findings_or_refusal(run, out / folder, kind)
    if name == "orders_21_columns.csv" and stage != "settle":  # lacks what the stage needs
        assert got.endswith(f", which {stage} needs"), got
        return
    assert got == expected


def test_bills_reconcile_with_the_rows_validate_accepts(doudian, tmp_path):
    out = tmp_path / "o"
    settled = doudian(
        "settle", "--period", P, "--shop-id", "1001", "--orders", "fixtures/orders_utf8_bom.csv",
        "--out", out,
    )  # fmt: skip
    assert settled.exit_code == 0, settled.stderr
    names = sorted(p.name for p in FIXTURES.iterdir() if p.name.startswith("bill_"))
    assert len(names) == 4
    for name in (n for n in names if not n.endswith(".py")):
        check = doudian.validate("bill", f"fixtures/{name}")
        run = doudian(
            "reconcile", "--statement", out / "settlement" / P, "--bill", f"fixtures/{name}",
            "--out", tmp_path / name,
        )  # fmt: skip
        folder = tmp_path / name / "reconciliation" / P
        assert _findings_or_refusal(run, folder, "bill") == _findings_or_refusal(
            check, check.out, "bill"
        ), name
