"""The finance close's generated exports, made from the generated bill.

- ``fund_flow.csv``     资金账单 / 动账明细 (the 30-column export, plus 店铺ID): every movement
                        of the settlement cycle the exports are taken in (from the last 1st
                        or 16th before the export day up to the export time): one
                        货款结算入账 row per bill row settled in it, the refund rows of the
                        refunds after settlement, and the other money of each shop.
- ``bill_refunds.csv``  结算账单 rows of the other 结算单类型 (结算后退款-原路退回 / -非原路退回,
                        保证金退款-支出退回), as a second bill file (pass both with --bill).
- ``account_flow.csv``  账户流水: the same movements, oldest first, with 账户余额 per shop and
                        动账账户.

Planted cases, each drawn with a small probability per bill row (so that every cycle of
a demo has a few of each): bill rows without their money (`missing-fund`), paid a few
fen to yuan off (`amount-mismatch`), paid twice (`multiple-candidates`), paid into
another account (`account-mismatch`), paid two days late (a time warning); settlement
money of sub-orders the bill does not hold (`fund-not-billed`); 保证金退款 bill rows
(`not-in-scope`); refunds after settlement matched, off, unpaid, paid twice under two
售后编号, spread over more than the group window, or without 售后编号; per shop a 提现,
a 消费者赔付, a 运费险 credit (empty scene, 备注), a 联合贴息 charge, an outgoing 货款结算入账
and a movement of an unknown scene; and two breaks in the balance chain (a row break and
a day break). The random numbers come from their own stream, so the other exports do not
change with these."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from pipeline.demo import generator as fx

FUND_HEADERS = [
    "动账时间", "动账流水号", "动账方向", "动账金额", "动账账户", "动账场景", "计费类型", "子订单号",
    "订单号", "售后编号", "下单时间", "商品ID", "订单类型", "订单实付应结", "运费实付", "实际平台补贴_运费",
    "实际平台补贴", "实际达人补贴", "实际抖音支付补贴", "实际抖音月付营销补贴", "订单退款", "平台服务费",
    "佣金", "渠道分成", "招商服务费", "站外推广费", "其他分成", "是否免佣", "免佣金额", "备注", "店铺ID",
]  # fmt: skip
ACCOUNT_HEADERS = [
    "动账时间", "动账流水号", "动账方向", "动账金额", "账户余额", "动账场景", "备注", "动账账户", "店铺ID",
]  # fmt: skip
ACCOUNTS = ("聚合账户", "支付宝", "微信")

SETTLE_SCENE = "货款结算入账"
USER_REFUND_SCENE = "退款-结算后退款-退用户"
FEE_BACK_SCENE = "退款-订单退款触发-退分账"
REFUND_TYPES = ("结算后退款-原路退回", "结算后退款-非原路退回")
DEPOSIT_TYPE = "保证金退款-支出退回"

#: per bill row of the cycle: missing-fund, amount-mismatch, multiple-candidates,
#: account-mismatch, late (matched with a time warning); the rest are paid exactly
SETTLE_CASES = (0.004, 0.004, 0.003, 0.003, 0.002)
_MISSING, _OFF, _TWICE, _ACCOUNT, _LATE, _PAID = range(6)
#: per bill row of the batch: a refund after settlement in the cycle
REFUND_SHARE = 0.015
#: per refund: amount-mismatch, missing-fund, multiple-candidates, outside-window,
#: not-comparable; the rest match
REFUND_CASES = (0.09, 0.09, 0.09, 0.09, 0.09)
_R_OFF, _R_MISSING, _R_TWICE, _R_SPREAD, _R_NO_ID, _R_MATCHED = range(6)
#: per paid sub-order the bill does not hold: settlement money for it (fund-not-billed)
NOT_BILLED_SHARE = 0.001
#: per bill row of the cycle: a 保证金退款 bill row (not-in-scope)
DEPOSIT_SHARE = 0.001
#: per shop: (动账场景, 备注, 动账方向, fen low, fen high, with a 子订单号)
OTHER_MONEY = (
    ("提现", None, "出账", 500_000, 2_000_000, False),
    ("消费者赔付", None, "出账", 500, 5_000, True),
    ("", "运费险理赔", "入账", 300, 1_500, True),
    ("抖音月付与商家联合贴息活动", None, "出账", 100, 3_000, False),
    (SETTLE_SCENE, "结算冲正", "出账", 1_000, 20_000, True),
    ("平台活动返现", None, "入账", 1_000, 10_000, False),
)

#: the columns of one movement before it is printed (money in fen, times in seconds,
#: null where the export prints an empty cell)
MOVEMENT_SCHEMA = {
    "time": pl.Int64, "flow_id": pl.Int64, "direction": pl.String, "signed": pl.Int64,
    "account": pl.String, "scene": pl.String, "billing": pl.String, "sub_order_id": pl.Int64,
    "order_id": pl.Int64, "after_sale_id": pl.Int64, "created": pl.Int64,
    "product_id": pl.Int64, "order_type": pl.String, "order_paid": pl.Int64,
    "freight_paid": pl.Int64, "platform_subsidy": pl.Int64, "creator_subsidy": pl.Int64,
    "payment_subsidy": pl.Int64, "order_refund": pl.Int64, "platform_fee": pl.Int64,
    "commission": pl.Int64, "remark": pl.String, "shop": pl.String,
}  # fmt: skip
#: the money cells the generator fills, in the export's order
MONEY_CELLS = (
    "order_paid", "freight_paid", "platform_subsidy", "creator_subsidy", "payment_subsidy",
    "order_refund", "platform_fee", "commission",
)  # fmt: skip
COMPACT = ("time", "flow_id", "direction", "signed", "account", "scene", "remark", "shop")


def cycle_start(end: _dt.date) -> _dt.date:
    """The last 1st or 16th before the export day `end`."""
    last = end - _dt.timedelta(days=1)
    return last.replace(day=16 if last.day >= 16 else 1)


@dataclass
class FundState:
    """What carries from batch to batch: the random stream, the last IDs handed out, the
    compact movements for the account flow, and a billed sub-order per shop."""

    rng: np.random.Generator
    cycle_s: int  # seconds: the cycle's first day, 00:00
    end_s: int  # seconds: the export time
    flow_id: int = 7_200_000_000_000_000_000
    after_sale_id: int = 1_460_000_000_000_000_000
    movements: list[pl.DataFrame] = field(default_factory=list)
    sub_order: dict[str, int] = field(default_factory=dict)

    def flow_ids(self, n: int) -> np.ndarray:
        ids = fx._increasing_ids(self.rng, n, self.flow_id, 1_000)
        if n:
            self.flow_id = int(ids[-1])
        return ids

    def after_sale_ids(self, n: int) -> np.ndarray:
        ids = fx._increasing_ids(self.rng, n, self.after_sale_id, 10**6)
        if n:
            self.after_sale_id = int(ids[-1])
        return ids


def _movements(state: FundState, frame: pl.DataFrame) -> pl.DataFrame:
    """`frame`'s columns of MOVEMENT_SCHEMA (the others null) with fresh flow numbers."""
    out = frame.select(
        (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in MOVEMENT_SCHEMA.items()
    )
    return out.with_columns(flow_id=pl.Series(state.flow_ids(out.height), dtype=pl.Int64))


def _pick(rng: np.random.Generator, n: int, shares: tuple[float, ...]) -> np.ndarray:
    """A case per row: i with probability shares[i], len(shares) for the rest."""
    return np.searchsorted(np.cumsum(shares), rng.random(n), side="right")


def _order_money(frame: pl.DataFrame) -> list[pl.Expr]:
    """The order columns of a settlement row, from a bill frame (fen, fees positive)."""
    return [
        pl.col("payable").alias("order_paid"),
        pl.col("freight").alias("freight_paid"),
        pl.col("platform_d").alias("platform_subsidy"),
        pl.col("creator_d").alias("creator_subsidy"),
        pl.col("payment_d").alias("payment_subsidy"),
        pl.lit(0).alias("order_refund"),
        (-pl.col("fee")).alias("platform_fee"),
        (-pl.col("commission")).alias("commission"),
        pl.lit("普通订单").alias("order_type"),
    ]


def _settlement(state: FundState, cycle: pl.DataFrame) -> pl.DataFrame:
    """The 货款结算入账 rows of the bill rows settled in the cycle, with the planted cases."""
    rng, n = state.rng, cycle.height
    case = _pick(rng, n, SETTLE_CASES)
    delay = rng.integers(60, 3_600, n) + np.where(case == _LATE, 2 * fx.DAY, 0)
    off = rng.integers(2, 50_000, n) * np.where(rng.random(n) < 0.5, -1, 1)
    net = cycle["net"].to_numpy()
    amount = np.where(case == _OFF, net + off, net)
    amount = np.where(amount < 1, net + np.abs(off), amount)
    other_account = pl.when(pl.col("account") == ACCOUNTS[0]).then(pl.lit(ACCOUNTS[1]))
    rows = cycle.with_columns(
        *_order_money(cycle),
        time=pl.Series(np.minimum(cycle["settled"].to_numpy() + delay, state.end_s - 1)),
        signed=pl.Series(amount),
        account=pl.when(pl.Series(case == _ACCOUNT))
        .then(other_account.otherwise(pl.lit(ACCOUNTS[0])))
        .otherwise(pl.col("account")),
        case=pl.Series(case),
        direction=pl.lit("入账"),
        scene=pl.lit(SETTLE_SCENE),
        billing=pl.lit("货款"),
    ).filter(pl.col("case") != _MISSING)
    again = rows.filter(pl.col("case") == _TWICE).with_columns(pl.col("time") + 600)
    return _movements(state, pl.concat([rows, again]))


def _not_billed(state: FundState, unbilled: pl.DataFrame) -> pl.DataFrame:
    """Settlement money for a few paid sub-orders the bill does not hold."""
    rng, n = state.rng, unbilled.height
    rows = unbilled.filter(pl.Series(rng.random(n) < NOT_BILLED_SHARE))
    at = state.cycle_s + 10 * 3_600 + rng.integers(60, 3_600, rows.height)
    rows = rows.with_columns(
        time=pl.Series(at),
        signed=fx._half_up_div_expr(pl.col("payable") * 95, 100).clip(1),
        direction=pl.lit("入账"),
        account=pl.lit(ACCOUNTS[0]),
        scene=pl.lit(SETTLE_SCENE),
        billing=pl.lit("货款"),
        order_paid=pl.col("payable"),
        order_type=pl.lit("普通订单"),
    ).filter(pl.col("time") < state.end_s)
    return _movements(state, rows)


def _refunds(state: FundState, settled: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Refunds after settlement in the cycle, of a few bill rows of the batch: (their
    bill rows, their fund rows), with the planted cases."""
    rng = state.rng
    s = settled["settled"].to_numpy()
    lo = np.maximum(s + fx.DAY, state.cycle_s)
    chosen = (rng.random(settled.height) < REFUND_SHARE) & (lo < state.end_s - fx.DAY)
    orig, lo = settled.filter(pl.Series(chosen)), lo[chosen]
    m = orig.height
    at = lo + (rng.random(m) * (state.end_s - fx.DAY - lo)).astype(np.int64)
    case = _pick(rng, m, REFUND_CASES)
    payable = orig["payable"].to_numpy()
    user = np.where(
        rng.random(m) < 0.6, payable, np.maximum(1, (payable * rng.uniform(0.2, 0.9, m)))
    ).astype(np.int64)
    fee = fx._half_up_div(orig["fee"].to_numpy() * user, payable)
    commission = fx._half_up_div(orig["commission"].to_numpy() * user, payable)
    zeros = ("freight", "platform_d", "creator_d", "payment_d")
    bill = orig.with_columns(
        *(pl.lit(0, pl.Int64).alias(c) for c in zeros),
        settled=pl.Series(at),
        bill_type=pl.Series(fx._pick(REFUND_TYPES, (rng.random(m) < 0.2).astype(np.int64))),
        net=pl.Series(fee + commission - user),
        goods=pl.Series(-user),
        payable=pl.Series(-user),
        income=pl.Series(-user),
        fee=pl.Series(-fee),
        commission=pl.Series(-commission),
    )
    t1 = at + rng.integers(0, 1_800, m)
    t2 = t1 + np.where(case == _R_SPREAD, rng.integers(301, 3_600, m), rng.integers(0, 120, m))
    paid = user + np.where(case == _R_OFF, rng.integers(2, 500, m), 0)
    ids = state.after_sale_ids(2 * m)
    group = orig.select("sub_order_id", "order_id", "created", "product_id", "shop", "account").with_columns(
        case=pl.Series(case),
        after_sale_id=pl.when(pl.Series(case == _R_NO_ID)).then(None).otherwise(pl.Series(ids[:m])),
        order_type=pl.lit("普通订单"),
    )  # fmt: skip
    user_rows = group.with_columns(
        time=pl.Series(t1), signed=pl.Series(-paid), order_refund=pl.Series(-paid),
        direction=pl.lit("出账"), scene=pl.lit(USER_REFUND_SCENE), billing=pl.lit("退款"),
    )  # fmt: skip
    fee_rows = group.with_columns(
        time=pl.Series(t2), signed=pl.Series(fee + commission), platform_fee=pl.Series(fee),
        commission=pl.Series(commission), direction=pl.lit("入账"), scene=pl.lit(FEE_BACK_SCENE),
        billing=pl.lit("退款"),
    )  # fmt: skip
    rows = pl.concat([user_rows, fee_rows], how="diagonal").filter(pl.col("case") != _R_MISSING)
    twice = pl.Series(ids[m:])
    again = rows.filter(pl.col("case") == _R_TWICE).with_columns(
        pl.col("time") + 600,
        after_sale_id=pl.col("after_sale_id").replace_strict(
            pl.Series(ids[:m]), twice, default=None
        ),
    )
    return bill, _movements(state, pl.concat([rows, again]).sort("time", "sub_order_id"))


def _deposits(state: FundState, cycle: pl.DataFrame) -> pl.DataFrame:
    """A few 保证金退款 bill rows of sub-orders settled in the cycle (not-in-scope)."""
    rng = state.rng
    rows = cycle.filter(pl.Series(rng.random(cycle.height) < DEPOSIT_SHARE))
    n = rows.height
    fen = pl.Series(rng.integers(1_000, 5_000, n))
    late = np.minimum(
        rows["settled"].to_numpy() + rng.integers(3_600, 2 * fx.DAY, n), state.end_s - 1
    )
    zeros = ("goods", "freight", "platform_d", "creator_d", "payment_d", "fee", "commission")
    return rows.with_columns(
        *(pl.lit(0, pl.Int64).alias(c) for c in zeros),
        settled=pl.Series(late),
        bill_type=pl.lit(DEPOSIT_TYPE),
        net=fen,
        payable=fen,
        income=fen,
    )


def batch(
    state: FundState, settled: pl.DataFrame, unbilled: pl.DataFrame
) -> dict[str, pl.DataFrame]:
    """The fund-flow and the extra bill rows of one batch (`settled`: its bill rows,
    `unbilled`: its paid sub-orders the bill does not hold)."""
    cycle = settled.filter(pl.col("settled").is_between(state.cycle_s, state.end_s - 1))
    refund_bill, refund_rows = _refunds(state, settled)
    moves = pl.concat([_settlement(state, cycle), _not_billed(state, unbilled), refund_rows])
    state.movements.append(moves.select(COMPACT))
    for shop, sub in (
        cycle.group_by("shop", maintain_order=True).agg(pl.col("sub_order_id").first()).iter_rows()
    ):
        state.sub_order.setdefault(shop, sub)
    bill = pl.concat([refund_bill, _deposits(state, cycle)]).sort("settled", "sub_order_id")
    return {"fund_flow": fund_cells(moves), "bill_refunds": fx._bill_cells(bill)}


def other_money(state: FundState, shop_ids: list[str]) -> pl.DataFrame:
    """Per shop one movement of each OTHER_MONEY line, at a random time of the cycle."""
    rng, k = state.rng, len(OTHER_MONEY)
    n = len(shop_ids) * k
    line = np.tile(np.arange(k), len(shop_ids))
    shop = np.repeat(np.arange(len(shop_ids)), k)
    span = max(1, state.end_s - state.cycle_s)
    low, high = (np.asarray([m[i] for m in OTHER_MONEY])[line] for i in (3, 4))
    amount = low + (rng.random(n) * (high - low)).astype(np.int64)
    sign = np.where(np.asarray([m[2] == "出账" for m in OTHER_MONEY])[line], -1, 1)
    with_sub = np.asarray([m[5] for m in OTHER_MONEY])[line]
    subs = pl.Series([state.sub_order.get(s) for s in shop_ids], dtype=pl.Int64).gather(shop)
    rows = pl.DataFrame({
        "time": state.cycle_s + rng.integers(0, span, n),
        "direction": fx._pick([m[2] for m in OTHER_MONEY], line),
        "signed": amount * sign,
        "account": pl.repeat(ACCOUNTS[0], n, eager=True),
        "scene": pl.Series([m[0] or None for m in OTHER_MONEY], dtype=pl.String).gather(line),
        "remark": pl.Series([m[1] for m in OTHER_MONEY], dtype=pl.String).gather(line),
        "sub_order_id": subs,
        "with_sub": with_sub,
        "shop": fx._pick(shop_ids, shop),
    }).sort("time")  # fmt: skip
    rows = rows.with_columns(pl.when("with_sub").then("sub_order_id").alias("sub_order_id"))
    rows = _movements(state, rows)
    state.movements.append(rows.select(COMPACT))
    return rows


def fund_cells(moves: pl.DataFrame) -> pl.DataFrame:
    """The fund flow's text cells of movement rows."""
    order = pl.col("sub_order_id").is_not_null() & pl.col("order_type").is_not_null()
    zero = pl.when(order).then(pl.lit("0.00"))
    yuan = [fx._yuan(pl.col(c)) for c in MONEY_CELLS]
    # 实际平台补贴_运费 and 实际抖音月付营销补贴, and 渠道分成 to 其他分成: none generated
    money = [*yuan[:2], zero, *yuan[2:5], zero, *yuan[5:], zero, zero, zero, zero]
    return fx._frame(
        moves,
        FUND_HEADERS,
        *_movement_cells(),
        pl.col("account"),
        pl.col("scene"),
        pl.col("billing"),
        _quoted("sub_order_id"),
        _quoted("order_id"),
        _quoted("after_sale_id"),
        fx._ts(pl.col("created").fill_null(-1)),
        _quoted("product_id"),
        pl.col("order_type"),
        *money,
        pl.when(order).then(pl.lit("否")),
        zero,
        pl.col("remark"),
        pl.col("shop"),
    )


def _movement_cells() -> list[pl.Expr]:
    """动账时间, 动账流水号, 动账方向 and 动账金额 (written positive) of movement rows."""
    return [
        fx._ts(pl.col("time")),
        _quoted("flow_id"),
        pl.col("direction"),
        fx._yuan(pl.col("signed").abs()),
    ]


def _quoted(name: str) -> pl.Expr:
    """An ID as the fund flow prints it: a `'` before the digits."""
    return pl.lit("'") + pl.col(name).cast(pl.String)


def account_flow(state: FundState) -> pl.DataFrame:
    """账户流水 of all movements, oldest first, 账户余额 chained per shop and 动账账户 from
    a random opening balance, with one row break and one day break planted."""
    moves = pl.concat(state.movements).sort("time", "flow_id")
    part = ["shop", "account"]
    parts = moves.select(part).unique().sort(part)
    parts = parts.with_columns(
        opening=pl.Series(state.rng.integers(5_000_000, 50_000_000, parts.height)),
        part=pl.int_range(pl.len()),
    )
    day = pl.col("time") // fx.DAY
    moves = moves.join(parts, on=part, how="left", maintain_order="left").with_columns(
        balance=pl.col("opening") + pl.col("signed").cum_sum().over(part),
        pos=pl.int_range(pl.len()).over(part),
        new_day=(day != day.shift(1)).over(part).fill_null(True),
        size=pl.len().over(part),
    )
    shift = pl.lit(0, pl.Int64)
    for p, new_day, fen in ((0, False, -1_000), (parts.height - 1, True, 2_500)):
        at = moves.filter(
            (pl.col("part") == p) & (pl.col("pos") > 0) & (pl.col("new_day") == new_day)
            & (pl.col("pos") >= pl.col("size") // 2 if not new_day else pl.lit(True))
        )["pos"].head(1)  # fmt: skip
        if at.len():
            shift = shift + pl.when((pl.col("part") == p) & (pl.col("pos") >= at[0])).then(
                fen
            ).otherwise(0)
    moves = moves.with_columns(pl.col("balance") + shift)
    return fx._frame(
        moves,
        ACCOUNT_HEADERS,
        *_movement_cells(),
        fx._yuan(pl.col("balance")),
        pl.col("scene"),
        pl.col("remark"),
        pl.col("account"),
        pl.col("shop"),
    )
