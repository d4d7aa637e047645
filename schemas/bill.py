"""结算账单 (the platform's settlement bill). Header in row 1, a note in row 2, data from
row 3. Fee columns may be negative; refund-after-settlement rows (结算后退款-原路退回,
结算后退款-非原路退回) are negative. The key is (子订单号, 结算单类型). Older bills name the
off-site promotion fee 直播间站外推广. A column this tool does not know whose cells look
like money is a warning (`unknown-money-column`): a fee under a new name is not dropped
silently."""

from __future__ import annotations

import pandera.polars as pa

from schemas import checks
from schemas.base import KindSpec, RowChecks, col, model_of

_SIGNED_MONEY = (
    ("order_total", "订单总价"),
    ("goods_total", "商品总价"),
    ("freight", "运费"),
    ("shop_coupon", "店铺劵", "店铺券"),
    ("pre_settle_refund", "结算前退款金额"),
    ("platform_subsidy", "平台补贴"),
    ("creator_subsidy", "达人补贴"),
    ("payment_subsidy", "抖音支付补贴"),
    ("monthly_pay_subsidy", "抖音月付营销补贴"),
    ("buyer_paid", "用户实付"),
    ("income_total", "收入合计"),
    ("platform_fee", "平台服务费"),
    ("commission", "佣金"),
    ("channel_share", "渠道分成"),
    ("recruiter_fee", "招商服务费"),
    ("offsite_promotion_fee", "站外推广费", "直播间站外推广"),
    ("other_share", "其他分成"),
    ("expense_total", "支出合计"),
    ("commission_waived", "免佣金额"),
)

SPEC = KindSpec(
    name="bill",
    title="结算账单",
    columns=(
        col("settled_at", "timestamp", "结算时间", nullable=False),
        col("order_id", "id", "订单号", "主订单编号", required=True, nullable=False),
        col("sub_order_id", "id", "子订单号", "子订单编号", required=True, nullable=False),
        col("settle_amount", "money", "结算金额", nullable=False, signed=True),
        col("settle_account", "text", "结算账户"),
        col("bill_type", "text", "结算单类型"),
        col("refund_before_settle", "text", "有结算前退款"),
        col("created_at", "timestamp", "下单时间"),
        col("product_id", "id", "商品ID"),
        col("quantity", "int", "商品数量"),
        col("business_type", "text", "业务类型"),
        col("order_type", "text", "订单类型"),
        *(col(name, "money", *headers, signed=True) for name, *headers in _SIGNED_MONEY),
        col("other_share_note", "text", "其他分成说明"),
        col("commission_free", "text", "是否免佣"),
        col("remark", "text", "备注"),
        col("shop_id", "text", "店铺ID"),
    ),
    skip_after_header=1,
    # A sub-order may have one row of each 结算单类型 (已结算, 结算后退款-原路退回, ...); a bill
    # without 结算单类型 is not checked for repeats (its rows are summed per 子订单号).
    unique=("sub_order_id", "bill_type"),
    unique_code="duplicate-bill-row",
    needs={"reconcile": ("settled_at", "settle_amount")},
    unknown_money=True,
)


class _Checks(RowChecks):
    @pa.check("order_id", "sub_order_id", "product_id", name="bad-id")
    def _ids(cls, data):
        return checks.is_id(data)

    @pa.check("shop_id", name="bad-shop-id")
    def _shop(cls, data):
        return checks.is_shop_id(data)

    @pa.check("quantity", name="quantity-not-positive")
    def _quantity(cls, data):
        return checks.positive(data)

    @pa.check("settle_amount", *(m[0] for m in _SIGNED_MONEY), name="money-out-of-range")
    def _money(cls, data):
        return checks.money_signed(data)


Bill = model_of(SPEC, _Checks, """A valid settlement-bill row. Amounts in fen, signed.""")
