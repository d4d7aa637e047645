"""资金账单 / 动账明细 (the fund flow: one row per movement of the shop's account).

Two variants are exported: 30 columns, and 39 with 商品名称, 达人ID, 达人名称, 其他平台补贴,
以旧换新抵扣, 政府补贴平台垫资, 银行补贴, 服务商佣金, 商户主体名称 added. 动账金额 is written
as a positive number; its sign is 动账方向's (入账 +, 出账 -): `signed_amount()`. IDs may
carry a leading `'` (stripped like every ID). The flow number (动账流水号, also spelled
动帐流水号) is unique: a later copy is rejected `duplicate-flow`. Rows without a 子订单号 are
not order money (提现, insurance, compensation, deposits...)."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from schemas import checks
from schemas.base import KindSpec, RowChecks, col, model_of

#: 动账方向 -> the sign of 动账金额
DIRECTIONS = {"入账": 1, "出账": -1}

_MONEY = (
    ("order_paid", "订单实付应结"),
    ("freight_paid", "运费实付"),
    ("platform_freight_subsidy", "实际平台补贴_运费"),
    ("platform_subsidy", "实际平台补贴"),
    ("creator_subsidy", "实际达人补贴"),
    ("payment_subsidy", "实际抖音支付补贴"),
    ("monthly_pay_subsidy", "实际抖音月付营销补贴"),
    ("order_refund", "订单退款"),
    ("platform_fee", "平台服务费"),
    ("commission", "佣金"),
    ("channel_share", "渠道分成"),
    ("recruiter_fee", "招商服务费"),
    ("offsite_promotion_fee", "站外推广费"),
    ("other_share", "其他分成"),
    ("commission_waived", "免佣金额"),
    # the 39-column variant
    ("other_platform_subsidy", "其他平台补贴"),
    ("trade_in_deduction", "以旧换新抵扣"),
    ("government_subsidy_advance", "政府补贴平台垫资"),
    ("bank_subsidy", "银行补贴"),
    ("provider_commission", "服务商佣金"),
)

#: The columns of a movement, in the fund flow and the account flow alike
MOVEMENT = (
    col("flow_time", "timestamp", "动账时间", required=True, nullable=False),
    col("flow_id", "id", "动账流水号", "动帐流水号", required=True, nullable=False),
    col("direction", "text", "动账方向", required=True, nullable=False),
    col("amount", "money", "动账金额", required=True, nullable=False, signed=True),
)

SPEC = KindSpec(
    name="fund-flow",
    title="资金账单",
    columns=(
        *MOVEMENT,
        col("account", "text", "动账账户"),
        col("scene", "text", "动账场景", required=True),
        col("billing_type", "text", "计费类型"),
        col("sub_order_id", "id", "子订单号", required=True),
        col("order_id", "id", "订单号"),
        col("after_sale_id", "id", "售后编号"),
        col("created_at", "timestamp", "下单时间"),
        col("product_id", "id", "商品ID"),
        col("order_type", "text", "订单类型"),
        *(col(name, "money", header, signed=True) for name, header in _MONEY),
        col("commission_free", "text", "是否免佣"),
        col("remark", "text", "备注"),
        col("product_name", "text", "商品名称"),
        col("creator_id", "id", "达人ID"),
        col("creator_name", "text", "达人名称"),
        col("merchant_name", "text", "商户主体名称"),
        col("shop_id", "text", "店铺ID"),
    ),
    unique="flow_id",
    unique_code="duplicate-flow",
)


def signed_amount(amount: str = "amount", direction: str = "direction") -> pl.Expr:
    """动账金额 with the sign of 动账方向 (入账 +|x|, 出账 -|x|), in fen."""
    sign = pl.col(direction).replace_strict(DIRECTIONS, default=None, return_dtype=pl.Int64)
    return pl.col(amount).abs() * sign


class _Checks(RowChecks):
    @pa.check(
        "sub_order_id", "order_id", "after_sale_id", "product_id", "creator_id", name="bad-id"
    )
    def _ids(cls, data):
        return checks.is_id(data)

    @pa.check("direction", name="bad-direction")
    def _direction(cls, data):
        return checks.one_of(data, DIRECTIONS)

    @pa.check("shop_id", name="bad-shop-id")
    def _shop(cls, data):
        return checks.is_shop_id(data)

    @pa.check("amount", *(m[0] for m in _MONEY), name="money-out-of-range")
    def _money(cls, data):
        return checks.money_signed(data)


FundFlow = model_of(
    SPEC,
    _Checks,
    """A valid fund-flow row: money in fen (动账金额 as written, positive), times in China time.""",
)
