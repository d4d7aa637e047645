"""账户流水 (the account flow: one row per movement, with the balance after it).

Headers: 动账时间, 动账流水号 (动帐流水号), 动账方向 (入账 / 出账), 动账金额 (written positive;
signed by 动账方向 as in the fund flow), 账户余额 (the balance after the movement), 动账场景,
备注, and optionally 动账账户 and 店铺ID. The flow number is unique (`duplicate-flow`).
Each row's balance must be the previous row's balance plus its signed amount, and each
day's closing balance the next day's opening balance (`pipeline.stages.close.balance`)."""

from __future__ import annotations

import pandera.polars as pa

from schemas import checks
from schemas.base import KindSpec, RowChecks, col, model_of
from schemas.fund_flow import DIRECTIONS, MOVEMENT

SPEC = KindSpec(
    name="account-flow",
    title="账户流水",
    columns=(
        *MOVEMENT,
        col("balance", "money", "账户余额", required=True, nullable=False, signed=True),
        col("scene", "text", "动账场景"),
        col("remark", "text", "备注"),
        col("account", "text", "动账账户"),
        col("shop_id", "text", "店铺ID"),
    ),
    unique="flow_id",
    unique_code="duplicate-flow",
)


class _Checks(RowChecks):
    @pa.check("direction", name="bad-direction")
    def _direction(cls, data):
        return checks.one_of(data, DIRECTIONS)

    @pa.check("shop_id", name="bad-shop-id")
    def _shop(cls, data):
        return checks.is_shop_id(data)

    @pa.check("amount", name="money-out-of-range")
    def _money(cls, data):
        return checks.money_signed(data)

    @pa.check("balance", name="money-out-of-range")
    def _balance(cls, data):
        return checks.balance(data)


AccountFlow = model_of(
    SPEC, _Checks, """A valid account-flow row: money in fen, times in China time."""
)
