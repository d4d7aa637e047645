"""订单导出 (order export, 商品维度: one row per sub-order)."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from schemas import checks
from schemas.base import KindSpec, Timestamp, col

ORDER_STATUSES = frozenset({"待支付", "备货中", "已发货", "已完成", "已关闭"})

SPEC = KindSpec(
    name="orders",
    title="订单导出",
    columns=(
        col("order_id", "id", "主订单编号", required=True, nullable=False),
        col("sub_order_id", "id", "子订单编号", required=True, nullable=False),
        col("product_title", "text", "选购商品"),
        col("sku_spec", "text", "商品规格"),
        col("quantity", "int", "商品数量", required=True, nullable=False),
        col("product_id", "id", "商品ID", required=True, nullable=False),
        col("merchant_code", "text", "商家编码", "货号"),
        col("unit_price", "money", "商品单价", "商品金额"),
        col("payable", "money", "订单应付金额", required=True, nullable=False),
        col("freight", "money", "运费"),
        col("platform_discount", "money", "平台实际承担优惠金额", "平台优惠"),
        col("creator_discount", "money", "达人实际承担优惠金额", "达人优惠"),
        col("payment_discount", "money", "支付优惠"),
        col("created_at", "timestamp", "订单提交时间", required=True, nullable=False),
        col("paid_at", "timestamp", "支付完成时间", required=True),
        col("promised_ship_at", "timestamp", "承诺发货时间"),
        col("shipped_at", "timestamp", "发货时间"),
        col("received_at", "timestamp", "订单完成时间", required=True),
        col("order_status", "text", "订单状态", required=True, nullable=False),
        col("after_sale_status", "text", "售后状态"),
        col("traffic_source", "text", "流量来源"),
        col("creator_id", "id", "达人ID"),
        col("shop_id", "text", "店铺ID"),
    ),
    unique="sub_order_id",
    unique_code="duplicate-sub-order",
    statuses={"order_status": ORDER_STATUSES},
)


class Orders(pa.DataFrameModel):
    """A valid order row. Money in fen, times in China time."""

    order_id: str = pa.Field(nullable=False)
    sub_order_id: str = pa.Field(nullable=False)
    product_title: str = pa.Field(nullable=True)
    sku_spec: str = pa.Field(nullable=True)
    quantity: pl.Int64 = pa.Field(nullable=False)
    product_id: str = pa.Field(nullable=False)
    merchant_code: str = pa.Field(nullable=True)
    unit_price: pl.Int64 = pa.Field(nullable=True)
    payable: pl.Int64 = pa.Field(nullable=False)
    freight: pl.Int64 = pa.Field(nullable=True)
    platform_discount: pl.Int64 = pa.Field(nullable=True)
    creator_discount: pl.Int64 = pa.Field(nullable=True)
    payment_discount: pl.Int64 = pa.Field(nullable=True)
    created_at: Timestamp = pa.Field(nullable=False)
    paid_at: Timestamp = pa.Field(nullable=True)
    promised_ship_at: Timestamp = pa.Field(nullable=True)
    shipped_at: Timestamp = pa.Field(nullable=True)
    received_at: Timestamp = pa.Field(nullable=True)
    order_status: str = pa.Field(nullable=False)
    after_sale_status: str = pa.Field(nullable=True)
    traffic_source: str = pa.Field(nullable=True)
    creator_id: str = pa.Field(nullable=True)
    shop_id: str = pa.Field(nullable=True)

    @pa.check("order_id", "sub_order_id", "product_id", "creator_id", name="bad-id")
    def _ids(cls, data):
        return checks.is_id(data)

    @pa.check("shop_id", name="bad-shop-id")
    def _shop(cls, data):
        return checks.is_shop_id(data)

    @pa.check("quantity", name="quantity-not-positive")
    def _quantity(cls, data):
        return checks.positive(data)

    @pa.check(
        "unit_price",
        "payable",
        "freight",
        "platform_discount",
        "creator_discount",
        "payment_discount",
        name="money-out-of-range",
    )
    def _money(cls, data):
        return checks.money_unsigned(data)

    @pa.check("paid_at", name="time-order")
    def _paid_after_created(cls, data):
        return checks.not_before(data, "created_at")

    @pa.check("received_at", name="time-order")
    def _received_after_paid(cls, data):
        return checks.not_before(data, "paid_at")

    class Config:
        strict = True
        coerce = False
