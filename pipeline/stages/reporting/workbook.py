"""report.xlsx: 汇总, 结算明细, 未结算, 对账差异, 利润, 亏损商品 (Chinese headers, money in
yuan as numbers, IDs as text), by the project's one XLSX writer."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipeline.stages.reporting.data import HELD_REASONS, ReportData
from pipeline.write.xlsx import Sheet, write_workbook

HEADERS = {
    "period": "结算周期", "settle_date": "结算日", "line_type": "类型", "shop_id": "店铺ID",
    "order_id": "主订单编号", "sub_order_id": "子订单编号", "product_id": "商品ID",
    "received_at": "订单完成时间", "payable": "订单应付金额", "freight": "运费",
    "platform_discount": "平台实际承担优惠金额", "creator_discount": "达人实际承担优惠金额",
    "payment_discount": "支付优惠", "income": "收入合计", "fee_basis": "计费基数",
    "platform_fee_rate_bp": "平台服务费率", "platform_fee": "平台服务费", "commission": "佣金",
    "net": "应结金额", "sku_id": "SKU ID", "merchant_code": "商家编码", "item_no": "货号",
    "product_title": "选购商品", "sku_spec": "商品规格", "quantity": "商品数量",
    "line_quantity": "计入数量", "cost_key": "成本匹配", "unit_cost": "成本价", "cost": "成本",
    "fulfilment": "履约成本", "profit": "利润", "revenue": "收入", "lines": "行数",
    "margin_bp": "利润率", "no_cost_lines": "无成本行数", "no_cost_net": "无成本行应结金额",
    "avg_price": "平均售价", "min_margin_bp": "最低毛利率", "min_price": "达到最低毛利率的售价",
    "sku": "SKU", "reason": "原因", "reason_code": "原因代码", "status": "对账状态",
    "expected_net": "应结金额", "billed_net": "账单结算金额", "difference": "差异(账单-应结)",
    "held_lines": "未结算笔数", "held_amount": "未结算金额", "diff_rows": "对账差异笔数",
    "diff_amount": "对账差异金额",
}  # fmt: skip
LINE_TYPES_ZH = {
    "sale": "销售",
    "carry-over": "补结",
    "clawback": "结算后退款",
    "refunded": "全额退款",
}
REASONS_ZH = {
    "already-settled": "已在之前结算", "not-received": "未确认收货",
    "received-after-window": "本期之后收货", "refunded": "已全额退款",
    "after-sale": "有售后申请",
}  # fmt: skip
STATUS_ZH = {"match": "一致", "amount-mismatch": "金额不符", "missing-in-bill": "账单中没有",
             "unexpected-in-bill": "账单多出"}  # fmt: skip
COST_KEYS_ZH = {"sku_id": "SKU ID", "merchant_code": "商家编码", "item_no": "货号",
                "no-cost": "无成本"}  # fmt: skip
MONEY = {"payable", "freight", "platform_discount", "creator_discount", "payment_discount",
         "income", "fee_basis", "platform_fee", "commission", "net", "unit_cost", "cost",
         "fulfilment", "profit", "revenue", "no_cost_net", "avg_price", "min_price",
         "expected_net", "billed_net", "difference", "held_amount", "diff_amount",
         "to_be_paid"}  # fmt: skip
BP = {"platform_fee_rate_bp", "margin_bp", "min_margin_bp"}
FREE_TEXT = {"product_title", "sku_spec", "merchant_code", "item_no", "sku"}


def _zh(column: str, table: dict[str, str]) -> pl.Expr:
    return pl.col(column).replace(table)


def summary_frame(data: ReportData) -> pl.DataFrame:
    """Per shop, then 合计: to be paid, held back by reason, reconciliation differences,
    profit. Money in fen."""
    shops = pl.DataFrame({"shop_id": data.shops}, schema={"shop_id": pl.String})
    paid = data.statement.group_by("shop_id").agg(
        pl.len().alias("lines"), pl.col("income").sum(), pl.col("platform_fee").sum(),
        pl.col("commission").sum(), pl.col("net").sum(),
    )  # fmt: skip
    frame = shops.join(paid, on="shop_id", how="left")
    has_amount = "payable" in data.excluded.columns
    for reason in HELD_REASONS:
        rows = data.excluded.filter(pl.col("reason") == reason)
        aggs = [pl.len().alias(f"held:{reason}")]
        if has_amount:
            aggs.append(pl.col("payable").sum().alias(f"held_amount:{reason}"))
        frame = frame.join(rows.group_by("shop_id").agg(aggs), on="shop_id", how="left")
    if data.reconciliation is not None:
        diff = (
            data.reconciliation.filter(pl.col("status") != "match")
            .group_by("shop_id")
            .agg(pl.len().alias("diff_rows"), pl.col("difference").sum().alias("diff_amount"))
        )
        frame = frame.join(diff, on="shop_id", how="left")
    if data.profit_shops is not None:
        kept = ["shop_id", "cost", "fulfilment", "profit", "margin_bp", "no_cost_lines"]
        frame = frame.join(data.profit_shops.select(kept), on="shop_id", how="left")
    frame = frame.with_columns(pl.exclude("shop_id", "margin_bp").fill_null(0))
    total = frame.select(pl.lit("合计").alias("shop_id"), pl.exclude("shop_id", "margin_bp").sum())
    if "margin_bp" in frame.columns:
        total = total.with_columns(_margin(data).alias("margin_bp"))
    return pl.concat([frame, total.select(frame.columns)], how="vertical_relaxed")


def _margin(data: ReportData) -> pl.Expr:
    """The overall margin of the chosen shops (as profit/summary.json computes it)."""
    from pipeline.stages.profit.outputs import by_shop

    lines = data.profit_lines.with_columns(pl.lit("all").alias("shop_id"))
    return pl.lit(by_shop(lines.lazy()).collect()["margin_bp"][0], pl.Int64)


def _summary_headers(frame: pl.DataFrame) -> dict[str, str]:
    heads = dict(HEADERS)
    for reason in HELD_REASONS:
        heads[f"held:{reason}"] = f"{REASONS_ZH[reason]}笔数"
        heads[f"held_amount:{reason}"] = f"{REASONS_ZH[reason]}金额"
    return {c: heads.get(c, c) for c in frame.columns}


def sheets(data: ReportData) -> list[Sheet]:
    summary = summary_frame(data)
    money = MONEY | {c for c in summary.columns if c.startswith("held_amount:")}

    def sheet(name: str, frame: pl.DataFrame, headers: dict[str, str] | None = None) -> Sheet:
        return Sheet(name, frame, headers or HEADERS, money=money, bp=BP, free_text=FREE_TEXT)

    statement = data.statement.with_columns(_zh("line_type", LINE_TYPES_ZH))
    held = data.excluded.select(
        "sub_order_id", "shop_id", _zh("reason", REASONS_ZH),
        pl.col("reason").alias("reason_code"), pl.exclude("sub_order_id", "shop_id", "reason"),
    )  # fmt: skip
    empty_rec = pl.DataFrame(schema={"sub_order_id": pl.String, "shop_id": pl.String,
                                     "status": pl.String, "expected_net": pl.Int64,
                                     "billed_net": pl.Int64, "difference": pl.Int64})  # fmt: skip
    rec = data.reconciliation if data.reconciliation is not None else empty_rec
    rec = rec.filter(pl.col("status") != "match").select(
        "sub_order_id", "shop_id", _zh("status", STATUS_ZH), "expected_net", "billed_net",
        "difference",
    )  # fmt: skip
    lines = data.profit_lines if data.profit_lines is not None else pl.DataFrame()
    if lines.width:
        lines = lines.with_columns(_zh("line_type", LINE_TYPES_ZH), _zh("cost_key", COST_KEYS_ZH))
    losers = data.loss_makers if data.loss_makers is not None else pl.DataFrame()
    return [
        sheet("汇总", summary, _summary_headers(summary)),
        sheet("结算明细", statement),
        sheet("未结算", held),
        sheet("对账差异", rec),
        sheet("利润", lines),
        sheet("亏损商品", losers),
    ]


def write(data: ReportData, path: Path) -> None:
    write_workbook(path, sheets(data))
