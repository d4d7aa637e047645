"""The semi-monthly settlement as one lazy polars plan.

Every valid order row (one sub-order) gets exactly one outcome in a period run: a
statement line (`sale`, `carry-over`, `clawback`) or an exclusion with one of the five
reason codes. Nothing here reads or writes files, and no shop's result depends on
another shop's rows (every join is by sub-order or product).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from pipeline.policy import StatusWords
from pipeline.stages.settle.money import fee, share
from pipeline.stages.settle.periods import Period
from pipeline.stages.settle.policy import SettlementPolicy

REASONS = ("already-settled", "not-received", "received-after-window", "refunded", "after-sale")
LINE_TYPES = ("sale", "carry-over", "clawback")

#: A statement line (money in fen).
STATEMENT_COLUMNS = (
    "period", "settle_date", "line_type", "shop_id", "order_id", "sub_order_id", "product_id",
    "received_at", "payable", "freight", "platform_discount", "creator_discount",
    "payment_discount", "income", "fee_basis", "platform_fee_rate_bp", "platform_fee",
    "commission", "net",
)  # fmt: skip

#: One ledger entry per statement line: what was settled, and how much refund it has
#: accounted for (deducted on a carry-over line, or clawed back).
LEDGER_SCHEMA: dict[str, pl.DataType] = {
    "period": pl.String(),
    "shop_id": pl.String(),
    "sub_order_id": pl.String(),
    "line_type": pl.String(),
    "payable": pl.Int64(),
    "freight": pl.Int64(),
    "platform_fee_rate_bp": pl.Int64(),
    "platform_fee": pl.Int64(),
    "commission": pl.Int64(),
    "refund_goods": pl.Int64(),
    "refund_freight": pl.Int64(),
}

ALLIANCE = "精选联盟"


@dataclass
class Settlement:
    lines: pl.LazyFrame  # STATEMENT_COLUMNS
    excluded: pl.LazyFrame  # sub_order_id, shop_id, reason
    ledger: pl.LazyFrame  # LEDGER_SCHEMA
    decided: pl.LazyFrame  # DECIDED_COLUMNS: all of the above in one frame


def after_sales_by_sub_order(after_sales: pl.LazyFrame, words: StatusWords) -> pl.LazyFrame:
    """Per sub-order: how many after-sales applications, the refunded goods and freight
    amounts (of refunded applications), and whether any is still open (a status the
    policy's words do not know counts as open)."""
    state = words.after_sale_state(pl.col("after_sale_status"), pl.col("refund_method"))
    refunded = state == "refunded"
    return (
        after_sales.with_columns(state.alias("state"), sub_order_key(pl.col("sub_order_id")))
        .group_by(KEY)
        .agg(
            pl.len().cast(pl.Int64).alias("as_count"),
            (refunded).any().alias("has_refund"),
            pl.col("refund_goods").fill_null(0).filter(refunded).sum().alias("refund_goods"),
            pl.col("refund_freight").fill_null(0).filter(refunded).sum().alias("refund_freight"),
            (pl.col("state") == "open").any().alias("any_open"),
        )
    )


def ledger_by_sub_order(ledger: pl.LazyFrame) -> pl.LazyFrame:
    """Per sub-order of earlier periods: the settled line and the refund accounted."""
    ledger = ledger.with_columns(sub_order_key(pl.col("sub_order_id")))
    settled = ledger.filter(pl.col("line_type").is_in(["sale", "carry-over"])).select(
        KEY,
        pl.col("payable").alias("settled_payable"),
        pl.col("freight").alias("settled_freight"),
        pl.col("platform_fee").alias("settled_fee"),
        pl.col("commission").alias("settled_commission"),
        pl.col("platform_fee_rate_bp").alias("settled_rate_bp"),
    )
    accounted = ledger.group_by(KEY).agg(
        pl.col("refund_goods").sum().alias("accounted_goods"),
        pl.col("refund_freight").sum().alias("accounted_freight"),
    )
    return settled.join(accounted, on=KEY, how="left")


def _rates(products: pl.LazyFrame, policy: SettlementPolicy) -> pl.LazyFrame:
    """商品ID -> platform fee rate (bp), from the product's first-level category."""
    categories = (
        products.select("product_id", "category")
        .drop_nulls("category")
        .unique(subset="product_id", keep="first", maintain_order=True)
    )
    return categories.select(
        "product_id",
        pl.col("category")
        .replace_strict(policy.fee_bp, default=policy.default_fee_bp, return_dtype=pl.Int64)
        .alias("rate_bp"),
    )


#: 子订单号 is 16 to 19 digits (every kind's schema checks it): as a number plus an offset
#: per length, it is an exact 64-bit key (IDs that differ only by leading zeros differ in
#: length, and each length has its own range: the largest key is 1.111e19 < 2^64).
KEY = "__key"
_ID_DIGITS = r"^[0-9]{16,19}$"
_KEY_OFFSETS = {16: 0, 17: 10**16, 18: 10**16 + 10**17, 19: 10**16 + 10**17 + 10**18}


#: Validation lets only such IDs through: anything else here is a bug, not bad input.
_NOT_A_KEY = "a 子订单号 that is not 16 to 19 digits reached settlement"


def sub_order_key(ids: pl.Expr) -> pl.Expr:
    """子订单号 -> its exact UInt64 key as `__key` (null for anything but 16-19 digits)."""
    length = ids.str.len_bytes()
    # a chain of whens, not `replace_strict`: that one held 400 MB at 12 million IDs
    (shortest, first), *longer = _KEY_OFFSETS.items()
    offset = pl.when(length == shortest).then(pl.lit(first, pl.UInt64))
    for digits, start in longer:
        offset = offset.when(length == digits).then(pl.lit(start, pl.UInt64))
    number = ids.cast(pl.UInt64, strict=False)
    return pl.when(ids.str.contains(_ID_DIGITS)).then(number + offset).alias(KEY)


@dataclass
class Lookups:
    """What settlement looks up per order row: the after-sales, ledger and commission
    figures of each sub-order (at most one row per sub-order in each, keyed by
    `sub_order_key` as `__key`, without the ID's text: at 50 million orders, the text
    would double their memory) and the fee rate of each product. Computed once
    (`lookups`) and shared by every batch of orders."""

    after_sales: pl.LazyFrame  # after_sales_by_sub_order
    ledger: pl.LazyFrame  # ledger_by_sub_order
    commissions: pl.LazyFrame  # __key -> file_commission
    rates: pl.LazyFrame  # product_id -> rate_bp

    def by_sub_order(self) -> list[pl.LazyFrame]:
        return [self.after_sales, self.ledger, self.commissions]

    def collect(self) -> Lookups:
        """The lookups computed, each sub-order table sorted by key (what `restrict`
        needs)."""
        # One table at a time, streamed: the sub-order IDs' text is read a morsel at a
        # time and only the keys are kept (at 50 million orders, reading the commissions'
        # IDs whole, next to the after-sales', peaked at 1.45 GB).
        tables = [f.sort(KEY).collect(engine="streaming") for f in self.by_sub_order()]
        if any(t.get_column(KEY).null_count() for t in tables):
            raise ValueError(_NOT_A_KEY)
        return Lookups(*(t.lazy() for t in tables), self.rates.collect().lazy())

    def restrict(self, sub_orders: pl.Series) -> Lookups:
        """Only the rows of `sub_orders` (a batch's), found by binary search in the
        collected lookups (`collect`): a batch costs the same however many sub-orders
        the lookups hold (a scan or a hash table of all of them per batch would make the
        work grow with the square of the data)."""
        keys = pl.select(sub_order_key(pl.lit(sub_orders))).to_series()
        if keys.null_count() > sub_orders.null_count():
            raise ValueError(_NOT_A_KEY)
        wanted = keys.drop_nulls().unique()
        kept = [_rows_with_key(f.collect(), wanted).lazy() for f in self.by_sub_order()]
        return Lookups(*kept, self.rates)


def _rows_with_key(table: pl.DataFrame, wanted: pl.Series) -> pl.DataFrame:
    """The rows of `table` (sorted by its key, one row per key) whose key is one of
    `wanted` (distinct keys)."""
    if table.height == 0:
        return table
    first = table.get_column(KEY).search_sorted(wanted, side="left")
    found = table[first.clip(upper_bound=table.height - 1)]
    return found.filter(found.get_column(KEY) == wanted)


def lookups(
    after_sales: pl.LazyFrame,
    products: pl.LazyFrame,
    commissions: pl.LazyFrame,
    ledger_before: pl.LazyFrame,
    policy: SettlementPolicy,
) -> Lookups:
    return Lookups(
        after_sales_by_sub_order(after_sales, policy.words),
        ledger_by_sub_order(ledger_before),
        commissions.select(
            sub_order_key(pl.col("sub_order_id")), pl.col("commission").alias("file_commission")
        ),
        _rates(products, policy),
    )


def settle(
    orders: pl.LazyFrame,
    after_sales: pl.LazyFrame,
    products: pl.LazyFrame,
    commissions: pl.LazyFrame,
    ledger_before: pl.LazyFrame,
    period: Period,
    ledger_start: dt.datetime,
    policy: SettlementPolicy,
) -> Settlement:
    """Settle `period` (S2-S5). `ledger_before` holds the ledger entries of earlier
    periods only; `ledger_start` is the window start of the earliest period ever
    settled into the ledger (this one's on a first run)."""
    found = lookups(after_sales, products, commissions, ledger_before, policy)
    return split(decide(orders, found, period, ledger_start, policy))


def decide(
    orders: pl.LazyFrame,
    found: Lookups,
    period: Period,
    ledger_start: dt.datetime,
    policy: SettlementPolicy,
) -> pl.LazyFrame:
    """One row per order row (in the orders' order) with its outcome and, for a line,
    its amounts: DECIDED_COLUMNS. Each row depends only on its own sub-order's data, so
    the orders may be decided a batch at a time."""
    zero = pl.lit(0, pl.Int64)
    start, end = period.window_start, period.window_end

    frame = orders.with_columns(sub_order_key(pl.col("sub_order_id")))
    for table in found.by_sub_order():
        frame = frame.join(table, on=KEY, how="left", maintain_order="left")
    frame = frame.join(found.rates, on="product_id", how="left", maintain_order="left")
    # S2: with no after-sales row, a 售后状态 on the order counts as one after-sale; a
    # refunded status then means a full refund of the goods.
    goods_value = pl.col("payable") - pl.col("freight").fill_null(0)
    order_state = policy.words.after_sale_state(pl.col("after_sale_status"))
    fallback = pl.col("as_count").is_null() & pl.col("after_sale_status").is_not_null()
    frame = frame.with_columns(
        pl.when(fallback).then(1).otherwise(pl.col("as_count").fill_null(0)).alias("as_count"),
        pl.when(fallback).then(order_state == "refunded").otherwise(pl.col("has_refund").fill_null(False)).alias("has_refund"),
        pl.when(fallback & (order_state == "refunded")).then(goods_value).otherwise(pl.col("refund_goods").fill_null(0)).alias("refund_goods"),
        pl.when(fallback).then(zero).otherwise(pl.col("refund_freight").fill_null(0)).alias("refund_freight"),
        pl.when(fallback).then(order_state == "open").otherwise(pl.col("any_open").fill_null(False)).alias("any_open"),
    )  # fmt: skip
    frame = frame.with_columns(
        (pl.col("refund_goods") - pl.col("accounted_goods").fill_null(0)).clip(lower_bound=0).alias("new_goods"),
        (pl.col("refund_freight") - pl.col("accounted_freight").fill_null(0)).clip(lower_bound=0).alias("new_freight"),
    )  # fmt: skip

    received = pl.col("received_at")
    in_ledger = pl.col("settled_payable").is_not_null()
    outcome = (
        pl.when(in_ledger & ((pl.col("new_goods") + pl.col("new_freight")) > 0))
        .then(pl.lit("clawback"))
        .when(in_ledger)
        .then(pl.lit("already-settled"))
        .when(~policy.words.received(pl.col("order_status")) | received.is_null())
        .then(pl.lit("not-received"))
        .when(received >= end)
        .then(pl.lit("received-after-window"))
        .when(pl.col("has_refund") & (pl.col("refund_goods") >= goods_value))
        .then(pl.lit("refunded"))
        .when((received >= start) & (pl.col("as_count") == 0))
        .then(pl.lit("sale"))
        .when(pl.col("any_open") | ((received >= start) & (pl.col("as_count") > 0)))
        .then(pl.lit("after-sale"))
        .when(received >= ledger_start)
        .then(pl.lit("carry-over"))
        .otherwise(pl.lit("already-settled"))
    )
    frame = frame.with_columns(outcome.alias("outcome"))
    return _lines(frame, period, policy).select(DECIDED_COLUMNS)


#: What `decided` (one row per order row, with its outcome) holds.
DECIDED_COLUMNS = (*STATEMENT_COLUMNS, "outcome", "__refund_goods", "__refund_freight")


def split(decided: pl.LazyFrame) -> Settlement:
    """The statement lines, the exclusions and the ledger entries of a decided frame
    (one row per order row with its `outcome`, and line amounts for line outcomes).
    Cheap projections: compute `decided` once (a staged file) and split it."""
    is_line = pl.col("outcome").is_in(LINE_TYPES)
    excluded = decided.filter(~is_line).select(
        "sub_order_id", "shop_id", pl.col("outcome").alias("reason")
    )
    lines = decided.filter(is_line)
    ledger = lines.select(
        "period", "shop_id", "sub_order_id", "line_type", "payable", "freight",
        "platform_fee_rate_bp", "platform_fee", "commission",
        pl.col("__refund_goods").alias("refund_goods"),
        pl.col("__refund_freight").alias("refund_freight"),
    )  # fmt: skip
    return Settlement(
        lines.select(STATEMENT_COLUMNS), excluded, ledger, decided.select(DECIDED_COLUMNS)
    )


def _lines(frame: pl.LazyFrame, period: Period, policy: SettlementPolicy) -> pl.LazyFrame:
    """S4 amounts for sale and carry-over lines, S5 for clawbacks."""
    zero = pl.lit(0, pl.Int64)
    claw = pl.col("outcome") == "clawback"
    carry = pl.col("outcome") == "carry-over"
    freight = pl.col("freight").fill_null(0)
    # carry-over: partial refunds taken off (payable less goods+freight refund, freight
    # less freight refund); a sale has no refund at all
    payable = (
        pl.when(claw)
        .then(-(pl.col("new_goods") + pl.col("new_freight")))
        .when(carry)
        .then(pl.col("payable") - pl.col("refund_goods") - pl.col("refund_freight"))
        .otherwise(pl.col("payable"))
    )
    line_freight = (
        pl.when(claw)
        .then(-pl.col("new_freight"))
        .when(carry)
        .then(freight - pl.col("refund_freight"))
        .otherwise(freight)
    )
    discounts = ["platform_discount", "creator_discount", "payment_discount"]
    rate = (
        pl.when(claw)
        .then(pl.col("settled_rate_bp"))
        .otherwise(pl.col("rate_bp").fill_null(policy.default_fee_bp))
    )
    commission_rate = pl.col("product_id").replace_strict(
        policy.commission_bp, default=None, return_dtype=pl.Int64
    )
    out = frame.with_columns(
        payable.alias("payable"),
        line_freight.alias("freight"),
        *(pl.when(claw).then(zero).otherwise(pl.col(d).fill_null(0)).alias(d) for d in discounts),
        rate.alias("platform_fee_rate_bp"),
        commission_rate.alias("__commission_rate"),
    )
    out = out.with_columns(
        (pl.col("payable") + pl.sum_horizontal(discounts)).alias("income"),
    ).with_columns((pl.col("income") - pl.col("freight")).alias("fee_basis"))
    settled_goods = pl.col("settled_payable") - pl.col("settled_freight")
    computed_commission = (
        pl.when(pl.col("file_commission").is_not_null())
        .then(pl.col("file_commission"))
        .when((pl.col("traffic_source") == ALLIANCE) & pl.col("__commission_rate").is_not_null())
        .then(fee(pl.col("fee_basis"), pl.col("__commission_rate")))
        .otherwise(zero)
    )
    out = out.with_columns(
        pl.when(claw)
        .then(-share(pl.col("settled_fee"), pl.col("new_goods"), settled_goods))
        .otherwise(fee(pl.col("fee_basis"), pl.col("platform_fee_rate_bp")))
        .alias("platform_fee"),
        pl.when(claw)
        .then(-share(pl.col("settled_commission"), pl.col("new_goods"), settled_goods))
        .otherwise(computed_commission)
        .alias("commission"),
        pl.when(claw).then(pl.col("new_goods")).when(carry).then(pl.col("refund_goods")).otherwise(zero).alias("__refund_goods"),
        pl.when(claw).then(pl.col("new_freight")).when(carry).then(pl.col("refund_freight")).otherwise(zero).alias("__refund_freight"),
    )  # fmt: skip
    return out.with_columns(
        (pl.col("income") - pl.col("platform_fee") - pl.col("commission")).alias("net"),
        pl.lit(period.id).alias("period"),
        pl.lit(period.settle_date).alias("settle_date"),
        pl.col("outcome").alias("line_type"),
    )
