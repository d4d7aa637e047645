"""订单导出 (order export, 商品维度: one row per sub-order).

Keys: 主订单编号 and 子订单编号. The other columns are needed only by the stages that
use them (`needs`); real exports have 21 to 75 columns, and some lack 商品ID or
支付完成时间. When a file has both 商家编码 and 货号, 货号 is kept as `item_no` (either
may key the merchant's cost file); with only 货号, it fills both.
"""

from __future__ import annotations

import pandera.polars as pa

from schemas import checks
from schemas.base import KindSpec, RowChecks, col, model_of

SPEC = KindSpec(
    name="orders",
    title="订单导出",
    columns=(
        col("order_id", "id", "主订单编号", required=True, nullable=False),
        col("sub_order_id", "id", "子订单编号", required=True, nullable=False),
        col("product_title", "text", "选购商品"),
        col("sku_spec", "text", "商品规格"),
        col("quantity", "int", "商品数量", nullable=False),
        col("product_id", "id", "商品ID", nullable=False),
        col("merchant_code", "text", "商家编码", "货号"),
        col("item_no", "text", "货号"),
        col("unit_price", "money", "商品单价", "商品金额"),
        col("payable", "money", "订单应付金额", nullable=False),
        col("freight", "money", "运费"),
        col("platform_discount", "money", "平台实际承担优惠金额", fallback=("平台优惠",)),
        col("creator_discount", "money", "达人实际承担优惠金额", fallback=("达人优惠",)),
        col("payment_discount", "money", "支付优惠"),
        col("created_at", "timestamp", "订单提交时间", nullable=False),
        col("paid_at", "timestamp", "支付完成时间"),
        col("promised_ship_at", "timestamp", "承诺发货时间"),
        col("shipped_at", "timestamp", "发货时间"),
        col("received_at", "timestamp", "订单完成时间"),
        col("order_status", "text", "订单状态", nullable=False),
        col("after_sale_status", "text", "售后状态"),
        col("traffic_source", "text", "流量来源"),
        col("creator_id", "id", "达人ID"),
        col("shop_id", "text", "店铺ID"),
    ),
    unique="sub_order_id",
    unique_code="duplicate-sub-order",
    status_words={"order_status": "order", "after_sale_status": "after_sale"},
    needs={
        "settle": ("payable", "freight", "received_at", "order_status", "after_sale_status"),
        "shipping-mode": ("paid_at", "promised_ship_at", "product_id"),
        "check tiered-shipping": ("paid_at", "promised_ship_at"),
        "check alliance": ("paid_at", "payable"),
    },
)  # fmt: skip


class _Checks(RowChecks):
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


Orders = model_of(SPEC, _Checks, "A valid order row. Money in fen, times in China time.")
