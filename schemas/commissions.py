"""精选联盟 order export: the estimated commission (预估佣金支出) per sub-order."""

from __future__ import annotations

import pandera.polars as pa

from schemas import checks
from schemas.base import KindSpec, RowChecks, col, model_of

SPEC = KindSpec(
    name="commissions",
    title="精选联盟订单",
    columns=(
        col(
            "sub_order_id", "id", "订单id", "子订单编号", "子订单号", required=True, nullable=False
        ),
        col("product_id", "id", "商品id", "商品ID"),
        col("commission", "money", "预估佣金支出", required=True, nullable=False),
        col("shop_id", "text", "店铺ID"),
    ),
    unique="sub_order_id",
    unique_code="duplicate-sub-order",
)


class _Checks(RowChecks):
    @pa.check("sub_order_id", "product_id", name="bad-id")
    def _ids(cls, data):
        return checks.is_id(data)

    @pa.check("shop_id", name="bad-shop-id")
    def _shop(cls, data):
        return checks.is_shop_id(data)

    @pa.check("commission", name="money-out-of-range")
    def _money(cls, data):
        return checks.money_unsigned(data)


Commissions = model_of(SPEC, _Checks, """A valid commission row, in fen.""")
