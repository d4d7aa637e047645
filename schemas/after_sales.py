"""售后导出 (after-sales export, one row per after-sales application).

Keys: 售后单号, 订单号 and 商品单号. The 售后状态 words, and what each means (refunded,
closed without refund, open), are the policy's (`[statuses.after_sale]`). Money headers
come as `退商品金额（元）` and `退商品金额(元)`: the same header once folded."""

from __future__ import annotations

import pandera.polars as pa

from schemas import checks
from schemas.base import KindSpec, RowChecks, col, model_of

SPEC = KindSpec(
    name="after-sales",
    title="售后导出",
    columns=(
        col("after_sale_id", "id", "售后单号", required=True, nullable=False),
        col("order_id", "id", "订单号", "主订单编号", required=True, nullable=False),
        col("sub_order_id", "id", "商品单号", "子订单编号", required=True, nullable=False),
        col("product_id", "id", "商品ID"),
        col("after_sale_type", "text", "售后类型"),
        col("after_sale_status", "text", "售后状态", nullable=False),
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
    status_words={"after_sale_status": "after_sale"},
    needs={"settle": ("after_sale_status", "refund_goods", "refund_freight")},
)


class _Checks(RowChecks):
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


AfterSales = model_of(SPEC, _Checks, "A valid after-sales row. Refund amounts in fen.")
