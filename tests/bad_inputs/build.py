"""Build the bad-input corpus of `tests/bad_inputs/` (see README.md there).

Every file is broken in one precise way (or is a tricky file that is in fact fine),
described next to the code that makes it. The output is byte-stable: random bytes come
from a seeded generator, XLSX creation times and ZIP entry times are pinned, so a fresh
build equals the committed files (tests/test_bad_inputs.py checks it).

One file is not committed, to keep the corpus small: `products_huge_cell.csv` (a 5 MB
商品名称); the test writes it with `build_huge_cell` at test time.

    .venv/bin/python tests/bad_inputs/build.py            # rewrite tests/bad_inputs/
    .venv/bin/python tests/bad_inputs/build.py OUT_DIR    # or write them elsewhere
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

from pipeline.read.sheets import column_letters

HERE = Path(__file__).resolve().parent

#: Pinned so that XLSX and ZIP bytes never change.
XLSX_CREATED = dt.datetime(2026, 11, 1, 9, 0, 0)
ZIP_TIME = (2026, 11, 1, 9, 0, 0)
BOM = "\ufeff"
HUGE_CELL = "products_huge_cell.csv"
HUGE_TITLE_BYTES = 5 * 1024 * 1024

# --- 订单导出 (orders) -------------------------------------------------------------------

# fmt: off
ORDER_HEADER = [
    "主订单编号", "子订单编号", "选购商品", "商品规格", "商品数量", "商品ID", "商家编码",
    "商品单价", "订单应付金额", "运费", "平台实际承担优惠金额", "达人实际承担优惠金额",
    "支付优惠", "买家留言", "收件人", "订单提交时间", "支付完成时间", "承诺发货时间", "发货时间",
    "订单完成时间", "订单状态", "售后状态", "流量来源", "达人ID",
]
ORDER_HEADER_EN = [
    "Order ID", "Sub Order ID", "Product", "SKU Spec", "Quantity", "Product ID", "Merchant Code",
    "Unit Price", "Payable", "Freight", "Platform Discount", "Creator Discount",
    "Payment Discount", "Buyer Note", "Receiver", "Created At", "Paid At", "Promised Ship At",
    "Shipped At", "Completed At", "Order Status", "After-sale Status", "Traffic Source",
    "Creator ID",
]

ORDERS: list[dict[str, str]] = [
    {"主订单编号": "\t6938812345678901231", "子订单编号": "\t6938812345678901232",
     "选购商品": "云南小粒咖啡豆 中度烘焙 500g", "商品规格": "中度烘焙;500g", "商品数量": "1",
     "商品ID": "\t3621547896541236547", "商家编码": "KF-YN-500M", "商品单价": "59.90",
     "订单应付金额": "54.90", "运费": "0.00", "平台实际承担优惠金额": "3.00",
     "达人实际承担优惠金额": "2.00", "支付优惠": "0.00", "买家留言": "请尽快发货，谢谢", "收件人": "张**",
     "订单提交时间": "2026-10-03 10:15:22", "支付完成时间": "2026-10-03 10:15:40",
     "承诺发货时间": "2026-10-05 10:15:40", "发货时间": "2026-10-04 09:02:11",
     "订单完成时间": "2026-10-09 18:30:05", "订单状态": "已完成", "售后状态": "-",
     "流量来源": "精选联盟", "达人ID": "\t1108829374650213"},
    {"主订单编号": "\t6938820011223344551", "子订单编号": "\t6938820011223344552",
     "选购商品": "手冲咖啡壶 不锈钢 600ml", "商品规格": "银色;600ml", "商品数量": "1",
     "商品ID": "\t3650011223344556677", "商家编码": "HC-600-S", "商品单价": "168.00",
     "订单应付金额": "176.00", "运费": "8.00", "平台实际承担优惠金额": "0.00",
     "达人实际承担优惠金额": "0.00", "支付优惠": "0.00", "买家留言": "送人的, 包装好一点", "收件人": "李**",
     "订单提交时间": "2026-10-12 21:47:03", "支付完成时间": "2026-10-12 21:48:15",
     "承诺发货时间": "2026-10-14 21:48:15", "发货时间": "2026-10-13 16:20:00",
     "订单完成时间": "-", "订单状态": "已发货", "售后状态": "-", "流量来源": "商品卡", "达人ID": "-"},
    {"主订单编号": "\t6938845566778899001", "子订单编号": "\t6938845566778899002",
     "选购商品": "咖啡滤纸 V60 100张", "商品规格": "V60;100张", "商品数量": "2",
     "商品ID": "\t3650099887766554433", "商家编码": "LZ-V60-100", "商品单价": "12.90",
     "订单应付金额": "31.80", "运费": "6.00", "平台实际承担优惠金额": "0.00",
     "达人实际承担优惠金额": "0.00", "支付优惠": "0.00", "买家留言": "", "收件人": "赵**",
     "订单提交时间": "2026-10-25 23:59:58", "支付完成时间": "2026-10-26 00:00:12",
     "承诺发货时间": "2026-10-28 00:00:12", "发货时间": "2026-10-26 14:10:00",
     "订单完成时间": "2026-10-31 09:00:00", "订单状态": "已完成", "售后状态": "售后关闭",
     "流量来源": "搜索", "达人ID": "-"},
]
# fmt: on


def order(i: int, n: int | None = None, **cells: str) -> dict[str, str]:
    """ORDERS[i], with fresh 主订单编号/子订单编号 when `n` is given, and some cells
    changed (keys are headers)."""
    row = dict(ORDERS[i])
    if n is not None:
        row["主订单编号"] = f"\t69388700004444{n:03d}1"
        row["子订单编号"] = f"\t69388700004444{n:03d}2"
    row.update(cells)
    return row


# --- 售后导出 (after-sales) ---------------------------------------------------------------

# fmt: off
AFTER_SALES_HEADER = [
    "售后单号", "订单号", "商品单号", "商品ID", "选购商品", "售后类型", "售后状态", "退款方式",
    "售后申请时间", "退商品金额（元）", "退运费金额（元）", "退支付优惠（元）", "售后关闭时间",
    "售后完结时间",
]
AFTER_SALES = [
    {"售后单号": "\t1465823310245678901", "订单号": "\t6938845566778899001",
     "商品单号": "\t6938845566778899002", "商品ID": "\t3650099887766554433", "选购商品": "咖啡滤纸 V60 100张",
     "售后类型": "仅退款", "售后状态": "售后关闭", "退款方式": "-", "售后申请时间": "2026-10-27 10:00:00",
     "退商品金额（元）": "0.00", "退运费金额（元）": "0.00", "退支付优惠（元）": "0.00",
     "售后关闭时间": "2026-10-28 10:00:00", "售后完结时间": "-"},
    {"售后单号": "\t1465823310245678902", "订单号": "\t6938820011223344551",
     "商品单号": "\t6938820011223344552", "商品ID": "\t3650011223344556677", "选购商品": "手冲咖啡壶 不锈钢 600ml",
     "售后类型": "退货退款", "售后状态": "退款成功", "退款方式": "原路退回", "售后申请时间": "2026-10-15 12:30:00",
     "退商品金额（元）": "168.00", "退运费金额（元）": "8.00", "退支付优惠（元）": "0.00",
     "售后关闭时间": "-", "售后完结时间": "2026-10-20 18:00:00"},
]
# fmt: on

# --- 结算账单 (bill): header row 1, a note in row 2, data from row 3 ----------------------

# fmt: off
BILL_HEADER = [
    "结算时间", "订单号", "子订单号", "结算金额", "结算账户", "结算单类型", "有结算前退款", "下单时间",
    "商品ID", "商品数量", "业务类型", "订单类型", "订单总价", "商品总价", "运费", "店铺劵",
    "结算前退款金额", "平台补贴", "达人补贴", "抖音支付补贴", "抖音月付营销补贴", "用户实付",
    "收入合计", "平台服务费", "佣金", "渠道分成", "招商服务费", "站外推广费", "其他分成",
    "其他分成说明", "支出合计", "是否免佣", "免佣金额", "备注",
]
# fmt: on
BILL_NOTE = "说明：金额单位为元；支出类费用以负数表示"


def bill(sub: str, amount: str, **cells: str) -> dict[str, str]:
    # fmt: off
    row = {
        "结算时间": "2026-10-16 02:13:45", "订单号": "\t6938812345678901231", "子订单号": sub,
        "结算金额": amount, "结算账户": "聚合账户", "结算单类型": "货款", "有结算前退款": "否",
        "下单时间": "2026-10-03 10:15:22", "商品ID": "\t3621547896541236547", "商品数量": "1",
        "业务类型": "小店自卖", "订单类型": "普通订单", "订单总价": "54.90", "商品总价": "59.90",
        "运费": "0.00", "店铺劵": "0.00", "结算前退款金额": "0.00", "平台补贴": "3.00",
        "达人补贴": "2.00", "抖音支付补贴": "0.00", "抖音月付营销补贴": "0.00", "用户实付": "54.90",
        "收入合计": "59.90", "平台服务费": "-2.99", "佣金": "-5.99", "渠道分成": "0.00",
        "招商服务费": "0.00", "站外推广费": "0.00", "其他分成": "0.00", "其他分成说明": "-",
        "支出合计": "-8.98", "是否免佣": "否", "免佣金额": "0.00", "备注": "",
    }
    # fmt: on
    row.update(cells)
    return row


# fmt: off
BILLS = [
    bill("\t6938812345678901232", "50.92"),
    bill("\t6938812345678901233", "50.87", 平台服务费="-2.95", 佣金="-5.98", 支出合计="-8.93"),
    bill("\t6938845566778899002", "18.25", 订单号="\t6938845566778899001", 平台服务费="-0.65",
         佣金="0.00", 支出合计="-0.65", 结算时间="2026-11-01 01:02:03"),
]

# --- 商品导出 (products), 成本价 (costs), 精选联盟 (commissions) ----------------------------

PRODUCTS_HEADER = [
    "商品ID", "商品名称", "SKU ID", "商家编码", "规格", "一级类目", "售价(元)", "库存", "发货模式",
    "承诺发货时间", "现货库存", "商品状态",
]
PRODUCTS = [
    {"商品ID": "\t3621547896541236547", "商品名称": "云南小粒咖啡豆 500g", "SKU ID": "\t1765432109876543201",
     "商家编码": "KF-YN-500M", "规格": "中度烘焙;500g", "一级类目": "休闲食品", "售价(元)": "59.90",
     "库存": "320", "发货模式": "现货发货", "承诺发货时间": "48小时", "现货库存": "-", "商品状态": "在售"},
    {"商品ID": "\t3650011223344556677", "商品名称": "手冲咖啡壶 不锈钢 600ml", "SKU ID": "\t1765432109876543301",
     "商家编码": "HC-600-S", "规格": "银色;600ml", "一级类目": "厨具", "售价(元)": "168.00", "库存": "45",
     "发货模式": "阶梯发货", "承诺发货时间": "15天", "现货库存": "20", "商品状态": "在售"},
]
COSTS_HEADER = ["SKU ID", "商家编码", "商品名称", "成本价(元)"]
COSTS = [
    {"SKU ID": "1765432109876543201", "商家编码": "KF-YN-500M", "商品名称": "云南小粒咖啡豆", "成本价(元)": "31.50"},
    {"SKU ID": "1765432109876543301", "商家编码": "HC-600-S", "商品名称": "手冲咖啡壶", "成本价(元)": "95.00"},
]
COMMISSIONS_HEADER = ["订单id", "商品id", "商品名称", "达人昵称", "佣金率", "预估佣金支出"]
COMMISSIONS = [
    {"订单id": "6938812345678901232", "商品id": "3621547896541236547", "商品名称": "云南小粒咖啡豆 500g",
     "达人昵称": "咖啡小王子", "佣金率": "10%", "预估佣金支出": "5.99"},
    {"订单id": "6938812345678901233", "商品id": "3621547896541236548", "商品名称": "挂耳咖啡 经典拼配 10包",
     "达人昵称": "咖啡小王子", "佣金率": "10%", "预估佣金支出": "5.98"},
]
# fmt: on


# --- helpers ---------------------------------------------------------------------------


def table(header: list[str], rows: list[dict[str, str]]) -> list[list[str]]:
    return [header] + [[r.get(h, "") for h in header] for r in rows]


def csv_text(rows: list[list[str]], *, delimiter: str = ",", eol: str = "\r\n") -> str:
    """CSV as the back office writes it: CRLF line ends, quotes only where needed."""
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator=eol).writerows(rows)
    return buf.getvalue()


def raw_csv(rows: list[list[str]]) -> str:
    """Cells joined with commas as they are, never quoted (to write broken quoting)."""
    return "".join(",".join(r) + "\r\n" for r in rows)


def export(header: list[str], rows: list[dict[str, str]], **kw: str) -> bytes:
    """UTF-8 with a BOM, CRLF: a normal export."""
    return (BOM + csv_text(table(header, rows), **kw)).encode("utf-8")


def bill_export(rows: list[dict[str, str]], *, note: bool = True) -> bytes:
    t = table(BILL_HEADER, rows)
    if note:
        t.insert(1, [BILL_NOTE] + [""] * (len(BILL_HEADER) - 1))
    return (BOM + csv_text(t)).encode("utf-8")


def _gb_row_bytes(row: dict[str, str]) -> bytes:
    return csv_text([[row.get(h, "") for h in ORDER_HEADER]]).encode("gb18030")


def png_bytes() -> bytes:
    """A real 1x1 red PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00", 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def zip_bytes(entries: dict[str, str]) -> bytes:
    """A ZIP with pinned entry times (so its bytes never change)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in entries.items():
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, text.encode("utf-8"))
    return buf.getvalue()


def ole_header_bytes() -> bytes:
    """The start of an old .xls (OLE2 compound file): its signature and a header block."""
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16) + struct.pack("<HHHH", 0x3E, 3, 0xFFFE, 9)
    )
    return header + bytes(512 - len(header)) + b"\xff" * 512


def workbook_without_sheets() -> bytes:
    """A well-formed XLSX package whose workbook lists no sheet at all."""
    ns = "http://schemas.openxmlformats.org"
    return zip_bytes(
        {
            "[Content_Types].xml": (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<Types xmlns="{ns}/package/2006/content-types">'
                '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                '<Override PartName="/xl/workbook.xml" '
                'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                "</Types>"
            ),
            "_rels/.rels": (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<Relationships xmlns="{ns}/package/2006/relationships">'
                f'<Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/officeDocument" '
                'Target="xl/workbook.xml"/></Relationships>'
            ),
            "xl/workbook.xml": (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<workbook xmlns="{ns}/spreadsheetml/2006/main" '
                f'xmlns:r="{ns}/officeDocument/2006/relationships"><sheets/></workbook>'
            ),
            "xl/_rels/workbook.xml.rels": (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<Relationships xmlns="{ns}/package/2006/relationships"></Relationships>'
            ),
        }
    )


def _cell_xml(ref: str, value: str | float) -> str:
    if isinstance(value, float):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(value)}</t></is></c>'


def minimal_xlsx(
    sheets: list[tuple[str, list[list[str | float]], bool]],
    *,
    far: str | None = None,
    merges: tuple[str, ...] = (),
) -> bytes:
    """A small hand-written workbook: sheets of (name, rows, hidden), text cells as
    inline strings and float cells as numbers (no styles part); `far` adds one text
    cell at that reference to the first sheet, `merges` merged ranges to it."""
    ns = "http://schemas.openxmlformats.org"
    rel = f"{ns}/officeDocument/2006/relationships"
    entries = {
        "[Content_Types].xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{ns}/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            + "".join(
                f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType='
                '"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                for i in range(1, len(sheets) + 1)
            )
            + "</Types>"
        ),
        "_rels/.rels": (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{ns}/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{ns}/spreadsheetml/2006/main" '
            f'xmlns:r="{rel}"><sheets>'
            + "".join(
                f'<sheet name="{name}" sheetId="{i}"{state} r:id="rId{i}"/>'
                for i, (name, _, hidden) in enumerate(sheets, start=1)
                for state in [' state="hidden"' if hidden else ""]
            )
            + "</sheets></workbook>"
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{ns}/package/2006/relationships">'
            + "".join(
                f'<Relationship Id="rId{i}" Type="{rel}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                for i in range(1, len(sheets) + 1)
            )
            + "</Relationships>"
        ),
    }
    for i, (_, rows, _) in enumerate(sheets, start=1):
        body = "".join(
            f'<row r="{r}">'
            + "".join(
                _cell_xml(f"{column_letters(c)}{r}", v)
                for c, v in enumerate(row, start=1)
                if v != ""
            )
            + "</row>"
            for r, row in enumerate(rows, start=1)
        )
        if far and i == 1:
            body += (
                f'<row r="{far.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")}">{_cell_xml(far, "x")}</row>'
            )
        merged = (
            f'<mergeCells count="{len(merges)}">'
            + "".join(f'<mergeCell ref="{m}"/>' for m in merges)
            + "</mergeCells>"
            if merges and i == 1
            else ""
        )
        entries[f"xl/worksheets/sheet{i}.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{ns}/spreadsheetml/2006/main">'
            f"<sheetData>{body}</sheetData>{merged}</worksheet>"
        )
    return zip_bytes(entries)


def _order_cells(rows: list[dict[str, str]]) -> list[list[str | float]]:
    return [list(ORDER_HEADER)] + [[r[h].lstrip("\t") for h in ORDER_HEADER] for r in rows]


def _xlsx(path: Path, sheets: dict[str, list[list[str]]]) -> None:
    """A workbook of text cells (an empty list of rows: an empty sheet)."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    book.set_properties({"created": XLSX_CREATED, "author": "抖店"})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value != "":
                    sheet.write_string(r, c, value.lstrip("\t"))
    book.close()


def _orders_parquet(rows: list[dict[str, str]], *, float_ids: bool = False) -> bytes:
    """The orders as a Parquet file of text columns (IDs as Float64 with `float_ids`: a
    file some tool wrote after reading the IDs as numbers)."""
    import polars as pl

    frame = pl.DataFrame(
        {h: [r[h].lstrip("\t") for r in rows] for h in ORDER_HEADER},
        schema=dict.fromkeys(ORDER_HEADER, pl.String),
    )
    if float_ids:
        frame = frame.with_columns(pl.col("主订单编号", "子订单编号", "商品ID").cast(pl.Float64))
    buf = io.BytesIO()
    frame.write_parquet(buf, compression="zstd", statistics=False)
    return buf.getvalue()


def _orders_parquet_utc() -> bytes:
    """The orders as Parquet with 订单提交时间 and 支付完成时间 as real time-zone-aware
    datetimes in UTC (the same instants as the China-time text: 10:15:22 CST is
    02:15:22 UTC)."""
    import polars as pl

    rows = [order(0), order(1), order(2)]
    frame = pl.DataFrame(
        {h: [r[h].lstrip("\t") for r in rows] for h in ORDER_HEADER},
        schema=dict.fromkeys(ORDER_HEADER, pl.String),
    ).with_columns(
        pl.col("订单提交时间", "支付完成时间")
        .str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="us", time_zone="Asia/Shanghai")
        .dt.convert_time_zone("UTC")
    )
    buf = io.BytesIO()
    frame.write_parquet(buf, compression="zstd", statistics=False)
    return buf.getvalue()


def _odd_cells_xlsx(path: Path, *, errors: bool) -> None:
    """Order rows 2-4 as a workbook, with odd cells. `errors`: row 2's 订单应付金额 is a
    formula whose cached result is the error #DIV/0!, row 3's a formula whose cached
    result carries binary-float residue (34.650000000000006, shown as 34.65), row 4's
    商品数量 a boolean TRUE. Otherwise: row 2's 子订单编号 is a date cell, row 3's
    订单提交时间 the number 1E+300, row 4's 商品数量 the number 1E+20."""
    import xlsxwriter

    rows = [order(0, 51), order(1, 52), order(2, 53)]
    book = xlsxwriter.Workbook(str(path))
    book.set_properties({"created": XLSX_CREATED, "author": "抖店"})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet = book.add_worksheet("订单")
    for c, header in enumerate(ORDER_HEADER):
        sheet.write_string(0, c, header)
    for r, row in enumerate(rows, start=1):
        for c, header in enumerate(ORDER_HEADER):
            value = row[header].lstrip("\t")
            cell = (r, header)
            if errors and cell == (1, "订单应付金额"):
                sheet.write_formula(r, c, "=1/0", None, "#DIV/0!")
            elif errors and cell == (2, "订单应付金额"):
                sheet.write_formula(r, c, "=31.5*1.1", None, 34.650000000000006)
            elif errors and cell == (3, "商品数量"):
                sheet.write_boolean(r, c, True)
            elif not errors and cell == (1, "子订单编号"):
                sheet.write_datetime(r, c, dt.datetime(2026, 10, 3), day)
            elif not errors and cell == (2, "订单提交时间"):
                sheet.write_number(r, c, 1e300)
            elif not errors and cell == (3, "商品数量"):
                sheet.write_number(r, c, 1e20)
            elif value:
                sheet.write_string(r, c, value)
    book.close()


def _commissions_parquet() -> bytes:
    import polars as pl

    frame = pl.DataFrame({h: [r[h] for r in COMMISSIONS] for h in COMMISSIONS_HEADER})
    buf = io.BytesIO()
    frame.write_parquet(buf, compression="zstd", statistics=False)
    return buf.getvalue()


def _cut_inside_char(data: bytes, char: str, encoding: str) -> bytes:
    """`data` cut after the first byte of the last `char` (a multi-byte character)."""
    return data[: data.rindex(char.encode(encoding)) + 1]


# --- the corpus ------------------------------------------------------------------------


def text_files() -> dict[str, bytes]:
    """File name -> bytes of every corpus file that is not a workbook or Parquet file."""
    rng = random.Random(7)
    garbage = rng.randbytes(4096)
    garbage_no_nul = bytes(b if b else 0xFF for b in rng.randbytes(4096))

    three = [order(0), order(1), order(2)]
    normal = csv_text(table(ORDER_HEADER, three))

    # Cut after the 6th cell of the third data row (a file copied while still written).
    lines = normal.split("\r\n")
    truncated_row = "\r\n".join(lines[:3]) + "\r\n" + ",".join(lines[3].split(",")[:6])

    # UTF-8 header, GB18030 rows: a file two tools appended to.
    header_utf8 = csv_text([ORDER_HEADER]).encode("utf-8")
    mixed = header_utf8 + b"".join(_gb_row_bytes(r) for r in three)
    # The same, but the GB18030 rows start after the first 64 KiB (where the encoding is
    # told from): 300 UTF-8 rows first.
    utf8_rows = [order(0, n) for n in range(300)]
    late = (BOM + csv_text(table(ORDER_HEADER, utf8_rows))).encode("utf-8")
    late += b"".join(_gb_row_bytes(order(1, 300 + n)) for n in range(3))

    # Quotes written raw (no cell below needs quoting): a quote opened in the last row's
    # 收件人 and never closed (the file ends inside it); and a stray quote at the start
    # of row 3's 买家留言 that a later cell (row 5's 买家留言) happens to close, so that
    # rows 3-5 read as one record with a 买家留言 spanning three lines.
    plain = [order(0, n) for n in range(41, 45)]
    unclosed = table(ORDER_HEADER, plain[:3])
    unclosed[3][ORDER_HEADER.index("收件人")] = '"赵**'
    stray = table(ORDER_HEADER, plain)
    stray[2][ORDER_HEADER.index("买家留言")] = '"请尽快发货'
    stray[4][ORDER_HEADER.index("买家留言")] = '好的"'

    # Rows that end in CR only (an old Mac "CSV"): the whole file, or the rows only.
    cr_rows = csv_text(table(ORDER_HEADER, three)[1:], eol="\r")

    extra = table(ORDER_HEADER, three)
    extra[2] = extra[2] + ["多出来的", "两格"]
    fewer = table(ORDER_HEADER, three)
    fewer[2] = fewer[2][:10]

    nul = normal.replace("请尽快发货，谢谢", "请尽快\x00发货").encode("utf-8")

    all_invalid = [
        order(0, 1, 订单应付金额="abc"),
        order(1, 2, 商品数量="0"),
        order(2, 3, 订单提交时间="昨天"),
        order(0, 4, 子订单编号=""),
        order(1, 5, 商品ID="12345"),
        order(2, 6, 支付完成时间="2026-10-25 23:00:00"),
        order(0, 7, 订单应付金额="20000000.00"),
    ]
    sci_every_row = [
        order(0, 子订单编号="6.9E+18", 主订单编号="6.93881E+18"),
        order(1, 子订单编号="6.93882E+18", 主订单编号="6.93882E+18"),
        order(2, 子订单编号="6.93885E+18", 主订单编号="6.93885E+18"),
    ]
    three_decimals = [
        order(0, 11, 订单应付金额="54.905"),
        order(1, 12, 运费="8.001"),
        order(2, 13, 订单应付金额="31.800"),  # zeros past the fen are fine
    ]
    bad_dates = [
        order(0, 21, 订单提交时间="2026-02-30 10:15:22", 支付完成时间="2026-02-30 10:15:40"),
        order(1, 22, 订单提交时间="2026-02-29 21:47:03"),  # 2026 is not a leap year
        order(2, 23, 支付完成时间="2026-10-26 24:00:12"),
        order(0, 24, 订单完成时间="2026-13-01 09:00:00"),
        order(1, 25),
    ]
    negative_quantity = [
        order(0, 31, 商品数量="-1"),
        order(1, 32, 商品数量="1.5"),
        order(2, 33, 商品数量="-0"),
        order(0, 34),
    ]
    newline_cell = [order(0), order(1, 买家留言="第一行\r\n第二行\n第三行"), order(2)]

    after_sales_bad_times = [
        {**AFTER_SALES[0], "售后关闭时间": "2026-10-26 10:00:00"},  # closed before applied
        {**AFTER_SALES[1], "售后申请时间": "2026-10-15 12:30"},  # fine
        {
            **AFTER_SALES[1],
            "售后单号": "\t1465823310245678903",
            "售后完结时间": "2026/10/40 18:00:00",
        },
    ]
    gb_after_sales = csv_text(table(AFTER_SALES_HEADER, AFTER_SALES)).encode("gb18030")

    bill_all_invalid = [
        bill("\t6938812345678901232", "50.923"),
        bill("\t6.9E+18", "50.87"),
        bill("\t6938845566778899002", "¥12,34.00"),
        bill("\t6938845566778899003", "-20000000.00"),
        bill("", "1.00"),
    ]

    # 买家留言 with 13 commas and a line break, properly quoted: a valid row.
    long_note = order(
        1, 61, 买家留言="送人的,包装好,一,二,三,四,五,六,七,八,九,十,十一,谢谢\r\n第二行"
    )
    price_at = ORDER_HEADER.index("商品单价") + 1
    two_aliases = ORDER_HEADER[:price_at] + ["商品金额"] + ORDER_HEADER[price_at:]
    aliases_rows = [{**r, "商品金额": r["商品单价"]} for r in three]
    zero_width = [h + "\u200b" if h == "运费" else h for h in ORDER_HEADER]
    bad_time_values = [
        order(0, 71, 订单完成时间="2026-10-15 23:59:60"),  # a leap second
        order(1, 72, 订单提交时间="0000-01-01 10:00:00", 支付完成时间="0000-01-01 10:01:00"),
        order(2, 73, 发货时间="46300"),  # an Excel serial as CSV text
        order(0, 74),
    ]
    resaved = [
        order(0, 81, 订单提交时间="2026/10/3 10:15", 支付完成时间="2026/10/3 10:16"),
        order(1, 82, 订单提交时间="2026/10/12 21:47"),
        order(2, 83),
    ]

    files: dict[str, bytes] = {
        # -- orders --
        "orders_truncated_mid_row.csv": (BOM + truncated_row).encode("utf-8"),
        "orders_truncated_mid_char.csv": _cut_inside_char(
            (BOM + normal).encode("utf-8"), "滤", "utf-8"
        ),
        "orders_binary_garbage.csv": garbage,
        "orders_png_renamed.csv": png_bytes(),
        "orders_xls_renamed.csv": ole_header_bytes(),
        "orders_duplicate_header.csv": export(
            ORDER_HEADER + ["子订单编号"], [{**r, "子订单编号": r["子订单编号"]} for r in three]
        ),
        "orders_all_invalid.csv": export(ORDER_HEADER, all_invalid),
        "orders_mixed_encoding.csv": mixed,
        "orders_mixed_encoding_late.csv": late,
        "orders_utf16.csv": ("\ufeff" + normal).encode("utf-16-le"),
        "orders_blank_lines_only.csv": b"\r\n\r\n\r\n\r\n",
        "orders_only_bom.csv": BOM.encode("utf-8"),
        "orders_lf.csv": (BOM + csv_text(table(ORDER_HEADER, three), eol="\n")).encode("utf-8"),
        "orders_cr_only.csv": (BOM + csv_text(table(ORDER_HEADER, three), eol="\r")).encode(
            "utf-8"
        ),
        "orders_mixed_line_ends.csv": (BOM + normal.replace("\r\n", "\n", 2)).encode("utf-8"),
        "orders_unterminated_quote.csv": (BOM + raw_csv(unclosed)).encode("utf-8"),
        "orders_stray_quote.csv": (BOM + raw_csv(stray)).encode("utf-8"),
        "orders_cr_rows.csv": (BOM + csv_text([ORDER_HEADER]) + cr_rows).encode("utf-8"),
        "orders_extra_cells.csv": (BOM + csv_text(extra)).encode("utf-8"),
        "orders_fewer_cells.csv": (BOM + csv_text(fewer)).encode("utf-8"),
        "orders_nul_bytes.csv": nul,
        "orders_english_header.csv": export(
            ORDER_HEADER_EN,
            [dict(zip(ORDER_HEADER_EN, (r[h] for h in ORDER_HEADER), strict=True)) for r in three],
        ),
        "orders_semicolon.csv": export(ORDER_HEADER, three, delimiter=";"),
        "orders_sci_ids_every_row.csv": export(ORDER_HEADER, sci_every_row),
        "orders_three_decimals.csv": export(ORDER_HEADER, three_decimals),
        "orders_impossible_dates.csv": export(ORDER_HEADER, bad_dates),
        "orders_negative_quantity.csv": export(ORDER_HEADER, negative_quantity),
        "orders_newline_in_cell.csv": export(ORDER_HEADER, newline_cell),
        "orders_long_quoted_note.csv": export(ORDER_HEADER, [order(0), long_note, order(2)]),
        "orders_trailing_blank_lines.csv": export(ORDER_HEADER, three) + b"\r\n" * 100_000,
        "orders_two_aliases.csv": export(two_aliases, aliases_rows),
        "orders_zero_width_header.csv": export(
            zero_width, [{**r, "运费\u200b": r["运费"]} for r in three]
        ),
        "orders_bad_time_values.csv": export(ORDER_HEADER, bad_time_values),
        "orders_excel_resave.csv": export(ORDER_HEADER, resaved),
        # -- after-sales --
        "after_sales_header_only.csv": export(AFTER_SALES_HEADER, []),
        "after_sales_orders_export.csv": export(ORDER_HEADER, three),
        "after_sales_bad_times.csv": export(AFTER_SALES_HEADER, after_sales_bad_times),
        "after_sales_gb18030_truncated.csv": _cut_inside_char(gb_after_sales, "间", "gb18030"),
        # -- bill --
        "bill_no_note_row.csv": bill_export(BILLS, note=False),
        "bill_note_only.csv": bill_export([]),
        "bill_no_note_row_no_order_id.csv": bill_export(
            [{**BILLS[0], "订单号": "-"}, *BILLS[1:]], note=False
        ),
        "bill_all_invalid.csv": bill_export(bill_all_invalid),
        # -- products --
        "products_zip_renamed.csv": zip_bytes(
            {"products.csv": csv_text(table(PRODUCTS_HEADER, PRODUCTS))}
        ),
        "products_negative_stock.csv": export(
            PRODUCTS_HEADER,
            [
                {**PRODUCTS[0], "库存": "-5"},
                {**PRODUCTS[1], "现货库存": "-1"},
            ],
        ),
        # -- costs --
        "costs_empty.csv": b"",
        "costs_missing_key.csv": export(
            COSTS_HEADER,
            [
                {**COSTS[0], "SKU ID": "", "商家编码": ""},
                {**COSTS[1], "SKU ID": "-", "商家编码": "-"},
            ],
        ),
        "costs_garbage_text.csv": garbage_no_nul,
        "costs_trailing_blank_lines.csv": export(COSTS_HEADER, COSTS) + b"\r\n\r\n",
        "costs_multiline_header.csv": (
            BOM
            + csv_text(
                [[*COSTS_HEADER[:3], "成本价\n(元)"]]
                + [[r[h] for h in COSTS_HEADER] for r in COSTS]
            )
        ).encode("utf-8"),
        # -- commissions --
        "commissions_bom_header_only.csv": (BOM + ",".join(COMMISSIONS_HEADER)).encode("utf-8"),
        "commissions_duplicate_header.csv": export(
            COMMISSIONS_HEADER + ["预估佣金支出"], COMMISSIONS
        ),
        "commissions_tab_separated.csv": export(COMMISSIONS_HEADER, COMMISSIONS, delimiter="\t"),
    }
    return files


def binary_files() -> dict[str, Callable[[Path], None]]:
    """File name -> a function writing a workbook or Parquet file to the given path."""

    def bytes_of(data: bytes) -> Callable[[Path], None]:
        return lambda p: p.write_bytes(data)

    def corrupt_xlsx(p: Path) -> None:
        _xlsx(p, {"订单": table(ORDER_HEADER, [order(0), order(1), order(2)])})
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])

    # 订单提交时间 and 支付完成时间 as number cells (Excel serials): 2026-10-03 10:15:22
    # and 10:15:40 China time.
    three = [order(0), order(1), order(2)]
    serial_cells = _order_cells(three)
    created, paid = ORDER_HEADER.index("订单提交时间"), ORDER_HEADER.index("支付完成时间")
    serial_cells[1][created] = 46298.427337962964
    serial_cells[1][paid] = 46298.42754629629

    def truncated_parquet(p: Path) -> None:
        data = _orders_parquet([order(0), order(1), order(2)])
        p.write_bytes(data[: len(data) * 2 // 3])

    return {
        "orders_products_export.xlsx": lambda p: _xlsx(
            p, {"商品": table(PRODUCTS_HEADER, PRODUCTS)}
        ),
        "orders_no_sheets.xlsx": bytes_of(workbook_without_sheets()),
        "orders_empty_sheet.xlsx": lambda p: _xlsx(p, {"订单": []}),
        "orders_corrupt.xlsx": corrupt_xlsx,
        "orders_truncated.parquet": truncated_parquet,
        "orders_float_ids.parquet": bytes_of(
            _orders_parquet([order(0), order(1), order(2)], float_ids=True)
        ),
        "products_commissions_export.parquet": bytes_of(_commissions_parquet()),
        "orders_utc_times.parquet": bytes_of(_orders_parquet_utc()),
        "orders_error_cells.xlsx": lambda p: _odd_cells_xlsx(p, errors=True),
        "orders_odd_number_cells.xlsx": lambda p: _odd_cells_xlsx(p, errors=False),
        "bill_header_only.xlsx": lambda p: _xlsx(p, {"结算账单": [BILL_HEADER]}),
        "orders_far_cell.xlsx": bytes_of(
            minimal_xlsx([("订单", _order_cells(three), False)], far="XFD1048576")
        ),
        "orders_stray_cell.xlsx": bytes_of(
            minimal_xlsx([("订单", _order_cells(three), False)], far="A1000000")
        ),
        "orders_merged_header.xlsx": bytes_of(
            minimal_xlsx([("订单", _order_cells(three), False)], merges=("J1:K1",))
        ),
        "orders_hidden_first_sheet.xlsx": bytes_of(
            minimal_xlsx(
                [
                    ("旧数据", _order_cells([order(0, 91), order(1, 92)]), True),
                    ("订单", _order_cells(three), False),
                ]
            )
        ),
        "orders_serial_times.xlsx": bytes_of(minimal_xlsx([("订单", serial_cells, False)])),
    }


def build_huge_cell(path: Path) -> Path:
    """products with a 5 MB 商品名称 in row 2 (a title pasted from a web page): a file
    that is fine, only big. Written at test time, not committed."""
    title = ("超长商品标题" * (HUGE_TITLE_BYTES // len("超长商品标题".encode()) + 1)).encode(
        "utf-8"
    )
    title = title[: HUGE_TITLE_BYTES - HUGE_TITLE_BYTES % 3].decode("utf-8")
    rows = [{**PRODUCTS[0], "商品名称": title}, PRODUCTS[1]]
    path.write_bytes(export(PRODUCTS_HEADER, rows))
    return path


def names() -> list[str]:
    """Every committed corpus file, sorted."""
    return sorted([*text_files(), *binary_files()])


def build(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in text_files().items():
        (out / name).write_bytes(data)
        written.append(out / name)
    for name, writer in binary_files().items():
        writer(out / name)
        written.append(out / name)
    return sorted(written)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    for p in build(target):
        print(p)
