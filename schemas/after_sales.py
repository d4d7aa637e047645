"""售后导出 (after-sales export, one row per after-sales application)."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from schemas import checks
from schemas.base import KindSpec, Timestamp, col

AFTER_SALE_STATUSES = frozenset(
    {
        "退款中",
        "退款成功",
        "已全额退款",
        "售后关闭",
        "换货成功",
        "待买家退货",
        "待商家收货",
        "待商家处理",
        "待买家处理",
        "补寄成功",
        "退款失败",
    }
)

SPEC = KindSpec(
    name="after-sales",
    title="售后导出",
    columns=(
        col("after_sale_id", "id", "售后单号", required=True, nullable=False),
        col("order_id", "id", "订单号", "主订单编号", required=True, nullable=False),
        col("sub_order_id", "id", "商品单号", "子订单编号", required=True, nullable=False),
        col("product_id", "id", "商品ID"),
        col("after_sale_type", "text", "售后类型"),
        col("after_sale_status", "text", "售后状态", required=True, nullable=False),
        col("applied_at", "timestamp", "售后申请时间"),
        col("refund_goods", "money", "退商品金额(元)", "退商品金额"),
        col("refund_freight", "money", "退运费金额(元)", "退运费金额"),
        col("refund_payment_discount", "money", "退支付优惠(元)", "退支付优惠"),
        col("refund_method", "text", "退款方式"),
        col("closed_at", "timestamp", "售后关闭时间"),
        col("completed_at", "timestamp", "售后完结时间"),
        col("shop_id", "text", "店铺ID"),
    ),
    unique="after_sale_id",
    unique_code="duplicate-after-sale",
    statuses={"after_sale_status": AFTER_SALE_STATUSES},
)


class AfterSales(pa.DataFrameModel):
    """A valid after-sales row. Refund amounts in fen."""

    after_sale_id: str = pa.Field(nullable=False)
    order_id: str = pa.Field(nullable=False)
    sub_order_id: str = pa.Field(nullable=False)
    product_id: str = pa.Field(nullable=True)
    after_sale_type: str = pa.Field(nullable=True)
    after_sale_status: str = pa.Field(nullable=False)
    applied_at: Timestamp = pa.Field(nullable=True)
    refund_goods: pl.Int64 = pa.Field(nullable=True)
    refund_freight: pl.Int64 = pa.Field(nullable=True)
    refund_payment_discount: pl.Int64 = pa.Field(nullable=True)
    refund_method: str = pa.Field(nullable=True)
    closed_at: Timestamp = pa.Field(nullable=True)
    completed_at: Timestamp = pa.Field(nullable=True)
    shop_id: str = pa.Field(nullable=True)

    @pa.check("after_sale_id", "order_id", "sub_order_id", "product_id", name="bad-id")
    def _ids(cls, data):
        return checks.is_id(data)

    @pa.check("shop_id", name="bad-shop-id")
    def _shop(cls, data):
        return checks.is_shop_id(data)

    @pa.check(
        "refund_goods", "refund_freight", "refund_payment_discount", name="money-out-of-range"
    )
    def _money(cls, data):
        return checks.money_unsigned(data)

    @pa.check("closed_at", name="time-order")
    def _closed_after_applied(cls, data):
        return checks.not_before(data, "applied_at")

    @pa.check("completed_at", name="time-order")
    def _completed_after_applied(cls, data):
        return checks.not_before(data, "applied_at")

    class Config:
        strict = True
        coerce = False
