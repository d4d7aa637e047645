"""The service provider's own shop lists for the batch shop checks (`--shops FILE`):
one row per shop. Not platform exports, but read the same way (headers by name,
UTF-8/GB18030/XLSX, `-` = none) and validated with the same finding codes.

- `deposit-shops` (`check deposit --shops`): 店铺ID, 主体类型 (个人 / 个体工商户 / 企业),
  类目 (one or more first-level categories in one cell, separated by `;` `,` `、` `|` or
  their full-width forms), 上月成交金额 (yuan; for a GMV-tiered policy).
- `closed-shops` (`check reopen --shops`): 店铺ID, 关店日期 (a date, or a date and time in
  China time: only its date counts).

The metrics of many shops (`check alliance --shops`) are the `metrics` kind.
"""

from __future__ import annotations

import pandera.polars as pa

from schemas import checks
from schemas.base import KindSpec, RowChecks, col, model_of

DEPOSIT_SHOPS = KindSpec(
    name="deposit-shops",
    title="店铺主体与类目",
    columns=(
        col("shop_id", "text", "店铺ID", required=True, nullable=False),
        col(
            "entity",
            "text",
            "主体类型",
            "主体",
            "入驻主体",
            "开店主体",
            required=True,
            nullable=False,
        ),
        col("categories", "text", "类目", "一级类目", "经营类目", "主营类目"),
        col("last_month_gmv", "money", "上月成交金额", "上月成交金额(元)", "上月GMV"),
    ),
    unique="shop_id",
    unique_code="duplicate-shop",
)

CLOSED_SHOPS = KindSpec(
    name="closed-shops",
    title="关店日期",
    columns=(
        col("shop_id", "text", "店铺ID", required=True, nullable=False),
        col(
            "closed_on",
            "timestamp",
            "关店日期",
            "关店时间",
            "关闭日期",
            required=True,
            nullable=False,
        ),
    ),
    unique="shop_id",
    unique_code="duplicate-shop",
)


class _DepositShopsChecks(RowChecks):
    @pa.check("shop_id", name="bad-shop-id")
    def _shop(cls, data):
        return checks.is_shop_id(data)

    @pa.check("last_month_gmv", name="money-out-of-range")
    def _money(cls, data):
        return checks.money_unsigned(data)


DepositShops = model_of(
    DEPOSIT_SHOPS, _DepositShopsChecks, """A valid deposit-shops row; 上月成交金额 in fen."""
)


class _ClosedShopsChecks(RowChecks):
    @pa.check("shop_id", name="bad-shop-id")
    def _shop(cls, data):
        return checks.is_shop_id(data)


ClosedShops = model_of(
    CLOSED_SHOPS, _ClosedShopsChecks, """A valid closed-shops row; 关店日期 in China time."""
)
