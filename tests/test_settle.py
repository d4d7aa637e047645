"""Settlement rules S1-S7 on small frames with exact fen figures, and through the CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.stages.settle.engine import (
    KEY,
    LEDGER_SCHEMA,
    _rows_with_key,
    decide,
    lookups,
    settle,
    sub_order_key,
)
from pipeline.stages.settle.money import fee, round_half_up_div
from pipeline.stages.settle.periods import Period
from pipeline.stages.settle.policy import SettlementPolicy
from schemas import KINDS

CN = ZoneInfo("Asia/Shanghai")
POLICY = SettlementPolicy(
    default_fee_bp=500, fee_bp={"服饰内衣": 600, "休闲食品": 300}, commission_bp={}
)
OCT_H2 = Period(2026, 10, 2)


def t(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CN)


def frame(kind: str, rows: list[dict]) -> pl.LazyFrame:
    schema = KINDS[kind].spec.schema
    return pl.DataFrame([{**{c: None for c in schema}, **r} for r in rows], schema=schema).lazy()


def order(sub: str, **kw) -> dict:
    base = {
        "order_id": "6900000000000000001",
        "sub_order_id": sub,
        "quantity": 1,
        "product_id": "3500000000000000001",
        "payable": 10000,
        "freight": 0,
        "platform_discount": 0,
        "creator_discount": 0,
        "payment_discount": 0,
        "created_at": t("2026-10-10 10:00:00"),
        "paid_at": t("2026-10-10 10:01:00"),
        "received_at": t("2026-10-20 12:00:00"),
        "order_status": "已完成",
        "shop_id": "1001",
    }
    return {**base, **kw}


def run(
    orders,
    after_sales=(),
    products=(),
    commissions=(),
    ledger=None,
    period=OCT_H2,
    start=None,
    policy=POLICY,
):
    result = settle(
        frame("orders", list(orders)),
        frame("after-sales", list(after_sales)),
        frame("products", list(products)),
        frame("commissions", list(commissions)),
        ledger if ledger is not None else pl.DataFrame(schema=LEDGER_SCHEMA).lazy(),
        period,
        start or period.window_start,
        policy,
    )
    lines = result.lines.sort("sub_order_id", "line_type").collect()
    excluded = result.excluded.sort("sub_order_id").collect()
    return lines, excluded, result.ledger.sort("sub_order_id").collect()


def outcome(lines: pl.DataFrame, excluded: pl.DataFrame) -> dict[str, str]:
    got = dict(zip(lines["sub_order_id"], lines["line_type"], strict=True))
    got.update(dict(zip(excluded["sub_order_id"], excluded["reason"], strict=True)))
    return got


# --- S1 periods --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "start", "end", "settle_on"),
    [
        ("2026-10-H1", "2026-10-01T00:00:00+08:00", "2026-10-16T00:00:00+08:00", "2026-10-16"),
        ("2026-10-H2", "2026-10-16T00:00:00+08:00", "2026-11-01T00:00:00+08:00", "2026-11-01"),
        (
            "2026-02-H2",
            "2026-02-16T00:00:00+08:00",
            "2026-03-01T00:00:00+08:00",
            "2026-03-01",
        ),  # 28 days
        (
            "2028-02-H2",
            "2028-02-16T00:00:00+08:00",
            "2028-03-01T00:00:00+08:00",
            "2028-03-01",
        ),  # 29
        (
            "2026-11-H2",
            "2026-11-16T00:00:00+08:00",
            "2026-12-01T00:00:00+08:00",
            "2026-12-01",
        ),  # 30
        (
            "2026-12-H2",
            "2026-12-16T00:00:00+08:00",
            "2027-01-01T00:00:00+08:00",
            "2027-01-01",
        ),  # 31, new year
    ],
)
def test_period_windows(period, start, end, settle_on):
    p = Period.parse(period)
    assert (p.window_start.isoformat(), p.window_end.isoformat(), p.settle_date.isoformat()) == (
        start,
        end,
        settle_on,
    )


@pytest.mark.parametrize(
    ("day", "due"),
    [("2026-11-01", "2026-10-H2"), ("2026-11-16", "2026-11-H1"), ("2027-01-01", "2026-12-H2"),
     ("2026-03-01", "2026-02-H2"), ("2026-11-15", None), ("2026-11-02", None), ("2026-11-30", None)],
)  # fmt: skip
def test_period_due_on(day, due):
    p = Period.due_on(dt.date.fromisoformat(day))
    assert (p.id if p else None) == due


def test_window_edges_are_half_open():
    h1 = Period(2026, 10, 1)
    orders = [
        order("6950000000000000001", received_at=t("2026-10-15 23:59:59")),
        order("6950000000000000002", received_at=t("2026-10-16 00:00:00")),
        order("6950000000000000003", received_at=t("2026-10-01 00:00:00")),
    ]
    lines, excluded, _ = run(orders, period=h1)
    assert outcome(lines, excluded) == {
        "6950000000000000001": "sale",
        "6950000000000000002": "received-after-window",
        "6950000000000000003": "sale",
    }


# --- S4 amounts ----------------------------------------------------------------------


def test_round_half_up_on_half_fen():
    values = pl.DataFrame({"n": [5, 15, 25, -5, -15, 4, -4, 0]}, schema={"n": pl.Int64})
    got = values.select(round_half_up_div(pl.col("n"), 10)).to_series().to_list()
    assert got == [1, 2, 3, -1, -2, 0, 0, 0]
    # 1,234.50 yuan at 3% is 3,703.5 fen: 3,704
    assert pl.select(fee(pl.lit(123450, pl.Int64), pl.lit(300, pl.Int64))).item() == 3704


def test_sale_line_amounts_and_category_rate():
    orders = [
        order(
            "6950000000000000001",
            payable=12345, freight=1000, platform_discount=500, creator_discount=200,
            payment_discount=100, product_id="3500000000000000009",
        ),
        order("6950000000000000002", payable=9999, product_id="3500000000000000404"),  # unknown product
    ]  # fmt: skip
    products = [
        {
            "product_id": "3500000000000000009",
            "sku_id": "1234567890123456",
            "price": 1,
            "category": "服饰内衣",
        }
    ]
    lines, excluded, _ = run(orders, products=products)
    assert excluded.height == 0
    rows = lines.select(
        "sub_order_id",
        "income",
        "fee_basis",
        "platform_fee_rate_bp",
        "platform_fee",
        "commission",
        "net",
    ).rows()
    # income = 12345+500+200+100 = 13145; basis 12145; 6% = 728.7 -> 729; net 12416
    # 9999 at the 500 bp default: 499.95 -> 500
    assert rows == [
        ("6950000000000000001", 13145, 12145, 600, 729, 0, 12416),
        ("6950000000000000002", 9999, 9999, 500, 500, 0, 9499),
    ]


def test_commission_from_file_else_policy_rate_for_alliance_only():
    policy = SettlementPolicy(500, {}, {"3500000000000000001": 2000})
    orders = [
        order("6950000000000000001", traffic_source="精选联盟"),
        order("6950000000000000002", traffic_source="精选联盟"),
        order("6950000000000000003", traffic_source="商品卡"),
    ]
    commissions = [{"sub_order_id": "6950000000000000001", "commission": 1234}]
    lines, _, _ = run(orders, commissions=commissions, policy=policy)
    assert lines.select("sub_order_id", "commission", "net").rows() == [
        ("6950000000000000001", 1234, 10000 - 500 - 1234),
        ("6950000000000000002", 2000, 10000 - 500 - 2000),
        ("6950000000000000003", 0, 9500),
    ]


# --- S2 outcomes, in order -------------------------------------------------------------


def test_each_outcome():
    as_row = {"order_id": "6900000000000000001", "after_sale_id": "1400000000000000001"}
    orders = [
        order("6950000000000000001"),  # sale
        order("6950000000000000002", order_status="已发货", received_at=None),
        order("6950000000000000003", received_at=t("2026-11-01 00:00:00")),
        order(
            "6950000000000000004", after_sale_status="退款成功"
        ),  # order-level fallback: full refund
        order("6950000000000000005"),  # open after-sale row
        order("6950000000000000006"),  # closed after-sale, in window
        order("6950000000000000007", received_at=t("2026-10-10 08:00:00")),  # late data
        order("6950000000000000008", received_at=t("2026-09-30 08:00:00")),  # before the ledger
    ]
    after_sales = [
        {**as_row, "after_sale_id": "1400000000000000005", "sub_order_id": "6950000000000000005", "after_sale_status": "退款中"},
        {**as_row, "after_sale_id": "1400000000000000006", "sub_order_id": "6950000000000000006", "after_sale_status": "售后关闭"},
    ]  # fmt: skip
    lines, excluded, _ = run(orders, after_sales=after_sales, start=t("2026-10-01 00:00:00"))
    assert outcome(lines, excluded) == {
        "6950000000000000001": "sale",
        "6950000000000000002": "not-received",
        "6950000000000000003": "received-after-window",
        "6950000000000000004": "refunded",
        "6950000000000000005": "after-sale",
        "6950000000000000006": "after-sale",
        "6950000000000000007": "carry-over",
        "6950000000000000008": "already-settled",
    }


def test_carry_over_takes_partial_refund_off():
    orders = [
        order(
            "6950000000000000001", payable=20000, freight=1000, received_at=t("2026-10-05 10:00:00")
        )
    ]
    after_sales = [{
        "after_sale_id": "1400000000000000001", "order_id": "6900000000000000001",
        "sub_order_id": "6950000000000000001", "after_sale_status": "退款成功",
        "refund_goods": 5000, "refund_freight": 1000,
    }]  # fmt: skip
    lines, _, ledger = run(orders, after_sales=after_sales, start=t("2026-10-01 00:00:00"))
    # payable 20000 - (5000 + 1000) = 14000, freight 0; fee 5% of 14000 = 700
    assert lines.select("line_type", "payable", "freight", "income", "fee_basis", "platform_fee", "net").row(0) == (
        "carry-over", 14000, 0, 14000, 14000, 700, 13300,
    )  # fmt: skip
    assert ledger.select("refund_goods", "refund_freight").row(0) == (5000, 1000)


def test_full_refund_of_goods_is_refunded_even_with_freight_kept():
    orders = [order("6950000000000000001", payable=10800, freight=800)]
    after_sales = [{
        "after_sale_id": "1400000000000000001", "order_id": "6900000000000000001",
        "sub_order_id": "6950000000000000001", "after_sale_status": "退款成功", "refund_goods": 10000,
    }]  # fmt: skip
    _, excluded, _ = run(orders, after_sales=after_sales)
    assert excluded.rows() == [("6950000000000000001", "1001", "refunded")]


# --- S5 clawbacks and S7 ledger ------------------------------------------------------------


def _ledger(rows: list[dict]) -> pl.LazyFrame:
    return pl.DataFrame(rows, schema=LEDGER_SCHEMA).lazy()


def test_clawback_returns_fees_in_proportion():
    settled = {
        "period": "2026-10-H1", "shop_id": "1001", "sub_order_id": "6950000000000000001",
        "line_type": "sale", "payable": 10300, "freight": 300, "platform_fee_rate_bp": 600,
        "platform_fee": 600, "commission": 1001, "refund_goods": 0, "refund_freight": 0,
    }  # fmt: skip
    orders = [
        order(
            "6950000000000000001", payable=10300, freight=300, received_at=t("2026-10-05 10:00:00")
        )
    ]
    after_sales = [{
        "after_sale_id": "1400000000000000001", "order_id": "6900000000000000001",
        "sub_order_id": "6950000000000000001", "after_sale_status": "退款成功",
        "refund_goods": 2500, "refund_freight": 300,
    }]  # fmt: skip
    lines, excluded, ledger = run(
        orders, after_sales=after_sales, ledger=_ledger([settled]), start=t("2026-10-01 00:00:00")
    )
    assert excluded.height == 0
    # r = 2500/10000: fee 600*0.25 = 150, commission 1001*0.25 = 250.25 -> 250
    assert lines.select(
        "line_type", "payable", "freight", "income", "fee_basis", "platform_fee_rate_bp",
        "platform_fee", "commission", "net",
    ).row(0) == ("clawback", -2800, -300, -2800, -2500, 600, -150, -250, -2400)  # fmt: skip
    assert ledger.select("line_type", "refund_goods", "refund_freight").row(0) == (
        "clawback",
        2500,
        300,
    )

    # Next period: the same refund is accounted for, so nothing more to claw back.
    both = _ledger([settled, ledger.row(0, named=True)])
    lines, excluded, _ = run(
        orders,
        after_sales=after_sales,
        ledger=both,
        period=Period(2026, 11, 1),
        start=t("2026-10-01 00:00:00"),
    )
    assert lines.height == 0
    assert excluded.rows() == [("6950000000000000001", "1001", "already-settled")]


def test_clawback_half_fen_rounds_half_up():
    settled = {
        "period": "2026-10-H1", "shop_id": "1001", "sub_order_id": "6950000000000000001",
        "line_type": "sale", "payable": 1000, "freight": 0, "platform_fee_rate_bp": 500,
        "platform_fee": 51, "commission": 3, "refund_goods": 0, "refund_freight": 0,
    }  # fmt: skip
    orders = [
        order("6950000000000000001", payable=1000, freight=0, received_at=t("2026-10-05 10:00:00"))
    ]
    after_sales = [{
        "after_sale_id": "1400000000000000001", "order_id": "6900000000000000001",
        "sub_order_id": "6950000000000000001", "after_sale_status": "退款成功", "refund_goods": 500,
    }]  # fmt: skip
    lines, _, _ = run(orders, after_sales=after_sales, ledger=_ledger([settled]))
    # 51 * 1/2 = 25.5 -> 26 (returned as -26); 3 * 1/2 = 1.5 -> 2
    assert lines.select("platform_fee", "commission", "net").row(0) == (-26, -2, -500 + 26 + 2)


# --- conservation -------------------------------------------------------------------------

statuses = st.sampled_from(["已完成", "已完成", "已完成", "已发货", "已关闭"])
days = st.integers(min_value=-20, max_value=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(statuses, days, st.integers(0, 50000), st.integers(0, 1500),
                  st.sampled_from([None, "退款成功", "售后关闭", "退款中"]), st.integers(0, 60000),
                  st.booleans()),
        min_size=1, max_size=40,
    )
)  # fmt: skip
def test_conservation_property(rows):
    orders, after_sales, ledger = [], [], []
    for i, (status, day, payable, freight, as_status, refund, in_ledger) in enumerate(rows):
        sub = f"69500000000{i:08d}"
        freight = min(freight, payable)
        received = t("2026-10-16 00:00:00") + dt.timedelta(days=day, hours=7)
        orders.append(
            order(sub, order_status=status, payable=payable, freight=freight, received_at=received)
        )
        if as_status:
            after_sales.append({
                "after_sale_id": f"14000000000{i:08d}", "order_id": "6900000000000000001",
                "sub_order_id": sub, "after_sale_status": as_status, "refund_goods": refund,
            })  # fmt: skip
        if in_ledger and i % 3 == 0:
            ledger.append({
                "period": "2026-10-H1", "shop_id": "1001", "sub_order_id": sub, "line_type": "sale",
                "payable": payable, "freight": freight, "platform_fee_rate_bp": 500,
                "platform_fee": (payable - freight) // 20, "commission": 0,
                "refund_goods": 0, "refund_freight": 0,
            })  # fmt: skip
    lines, excluded, _ = run(
        orders, after_sales, ledger=_ledger(ledger), start=t("2026-10-01 00:00:00")
    )
    # every sub-order exactly once
    assert lines.height + excluded.height == len(orders)
    assert sorted([*lines["sub_order_id"], *excluded["sub_order_id"]]) == sorted(
        o["sub_order_id"] for o in orders
    )
    # fen add up on every line
    checks = lines.select(
        (pl.col("income") == pl.col("payable") + pl.col("platform_discount") + pl.col("creator_discount") + pl.col("payment_discount")).all(),
        (pl.col("fee_basis") == pl.col("income") - pl.col("freight")).all(),
        (pl.col("net") == pl.col("income") - pl.col("platform_fee") - pl.col("commission")).all(),
    ).row(0)  # fmt: skip
    assert checks == (True, True, True)
    # decided in batches of 7 against the collected lookups (as `doudian settle` does),
    # every row comes out as when all are decided at once
    found = lookups(
        frame("after-sales", after_sales), frame("products", []), frame("commissions", []),
        _ledger(ledger), POLICY,
    )  # fmt: skip
    start = t("2026-10-01 00:00:00")
    whole = decide(frame("orders", orders), found, OCT_H2, start, POLICY).collect()
    collected = found.collect()
    batches = [
        decide(
            part.lazy(),
            collected.restrict(part.get_column("sub_order_id")),
            OCT_H2, start, POLICY,
        ).collect()
        for part in frame("orders", orders).collect().iter_slices(7)
    ]  # fmt: skip
    assert pl.concat(batches).equals(whole)


def test_sub_order_keys_are_exact_and_rows_are_found_by_key():
    ids = ["0000000000000001", "000000000000001", "1000000000000000", "9999999999999999",
           "10000000000000000", "99999999999999999", "999999999999999999",
           "1000000000000000000", "9999999999999999999", "6950098766034534783"]  # fmt: skip
    keys = pl.select(sub_order_key(pl.lit(pl.Series(ids)))).to_series()
    # 15 digits is no ID; every other key differs from the others (leading zeros too)
    assert keys.null_count() == 1 and keys.drop_nulls().n_unique() == len(ids) - 1
    assert keys[0] == 1 and keys[8] == 10**19 - 1 + 10**16 + 10**17 + 10**18 < 2**64
    table = pl.DataFrame(
        {KEY: [1, 3, 5, 9], "v": ["a", "b", "c", "d"]}, schema={KEY: pl.UInt64, "v": pl.String}
    )
    wanted = pl.Series([3, 4, 9, 0], dtype=pl.UInt64)
    assert _rows_with_key(table, wanted)["v"].to_list() == ["b", "d"]
    assert _rows_with_key(table.head(0), wanted).height == 0
    assert _rows_with_key(table, wanted.head(0)).height == 0


def test_an_id_that_is_no_key_stops_settlement():
    found = lookups(
        frame("after-sales", []), frame("products", []), frame("commissions", []),
        pl.DataFrame(schema=LEDGER_SCHEMA).lazy(), POLICY,
    ).collect()  # fmt: skip
    with pytest.raises(ValueError, match="not 16 to 19 digits"):
        found.restrict(pl.Series(["6950098766034534783", "S-1"]))


# --- CLI ---------------------------------------------------------------------------------

HEADER = "主订单编号,子订单编号,商品数量,商品ID,订单应付金额,运费,订单提交时间,支付完成时间,订单完成时间,订单状态,售后状态,店铺ID"


def write_orders(path: Path, rows: list[str]) -> str:
    path.write_text("\ufeff" + HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


def row(
    sub: str, received: str, payable: str = "100.00", status: str = "已完成", after: str = "-"
) -> str:
    return f"6900000000000000001,{sub},1,3500000000000000001,{payable},0.00,2026-10-01 10:00:00,2026-10-01 10:01:00,{received},{status},{after},1001"


def test_cli_rerun_is_byte_identical_and_nothing_settles_twice(doudian, tmp_path):
    orders = write_orders(
        tmp_path / "orders.csv",
        [
            row("6950000000000000001", "2026-10-20 10:00:00"),
            row("6950000000000000002", "2026-11-03 10:00:00"),
            row("6950000000000000003", "2026-10-21 10:00:00", payable="abc"),
        ],
    )
    out = tmp_path / "out"
    first = doudian("settle", "--orders", orders, "--period", "2026-10-H2", "--out", str(out))
    assert first.exit_code == 3, first.stderr
    folder = out / "settlement" / "2026-10-H2"
    snapshot = {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    ledger_bytes = (out / "ledger" / "2026-10-H2.parquet").read_bytes()
    again = doudian("settle", "--orders", orders, "--period", "2026-10-H2", "--out", str(out))
    assert again.exit_code == 3
    assert {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == snapshot
    assert (out / "ledger" / "2026-10-H2.parquet").read_bytes() == ledger_bytes
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert list(summary) == sorted([
        "period", "window_start", "window_end", "settle_date", "input_rows", "rejected_rows",
        "lines", "excluded", "totals", "per_shop", "stale_periods",
    ])  # fmt: skip
    assert summary["stale_periods"] == []
    assert summary["input_rows"] == 3 and summary["rejected_rows"] == 1
    assert summary["lines"] == {"sale": 1, "carry-over": 0, "clawback": 0}
    assert summary["excluded"] == {
        "already-settled": 0, "not-received": 0, "received-after-window": 1, "refunded": 0, "after-sale": 0,
    }  # fmt: skip
    assert summary["totals"] == {
        "income": 10000,
        "freight": 0,
        "platform_fee": 500,
        "commission": 0,
        "net": 9500,
    }
    assert (
        summary["window_start"] == "2026-10-16T00:00:00+08:00"
        and summary["settle_date"] == "2026-11-01"
    )
    assert (folder / "excluded.csv").read_text(encoding="utf-8-sig") == (
        "sub_order_id,shop_id,reason\n6950000000000000002,1001,received-after-window\n"
    )
    assert (folder / "rejected" / "orders.csv").is_file()

    # the next period: the settled sub-order is already-settled, the other is a sale
    nxt = doudian("settle", "--orders", orders, "--on", "2026-11-16", "--out", str(out))
    assert nxt.exit_code == 3
    s2 = json.loads(
        (out / "settlement" / "2026-11-H1" / "summary.json").read_text(encoding="utf-8")
    )
    assert s2["lines"]["sale"] == 1 and s2["excluded"]["already-settled"] == 1
    statement = (out / "settlement" / "2026-11-H1" / "statement.csv").read_text(
        encoding="utf-8-sig"
    )
    assert statement.splitlines()[1].startswith(
        "2026-11-H1,2026-11-16,sale,1001,6900000000000000001,6950000000000000002,"
    )


def test_cli_on_a_day_with_nothing_due(doudian, tmp_path):
    orders = write_orders(tmp_path / "o.csv", [row("6950000000000000001", "2026-10-20 10:00:00")])
    run = doudian(
        "settle", "--orders", orders, "--on", "2026-11-02", "--out", str(tmp_path / "out")
    )
    assert (run.exit_code, run.stdout) == (
        0,
        "nothing is due on 2026-11-02: settlement runs on the 1st and the 16th\n",
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--period", "2026-13-H1"],
            "Error: --period 2026-13-H1: expected YYYY-MM-H1 or YYYY-MM-H2, e.g. 2026-10-H2\n",
        ),
        ([], "Error: give exactly one of --on DATE and --period YYYY-MM-H1|H2\n"),
        (
            ["--period", "2026-10-H1", "--on", "2026-10-16"],
            "Error: give exactly one of --on DATE and --period YYYY-MM-H1|H2\n",
        ),
    ],
)
def test_cli_usage_errors(doudian, tmp_path, args, message):
    orders = write_orders(tmp_path / "o.csv", [row("6950000000000000001", "2026-10-20 10:00:00")])
    run = doudian("settle", "--orders", orders, "--out", str(tmp_path / "out"), *args)
    assert (run.exit_code, run.stderr) == (2, message)


def test_end_to_end_on_generated_exports_adds_up(doudian, tmp_path):
    exports = tmp_path / "exports"
    assert (
        doudian(
            "fixtures", "--shops", "2", "--orders", "3000", "--seed", "5", "--out", str(exports)
        ).exit_code
        == 0
    )
    out = tmp_path / "out"
    args = [
        "--orders", str(exports / "orders.csv"), "--after-sales", str(exports / "after_sales.csv"),
        "--products", str(exports / "products.csv"), "--commissions", str(exports / "commissions.csv"),
        "--out", str(out), "--xlsx",
    ]  # fmt: skip
    for period in ("2026-09-H2", "2026-10-H1"):
        run = doudian("settle", "--period", period, *args)
        assert run.exit_code == 0, run.stderr
    folder = out / "settlement" / "2026-10-H1"
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    statement = pl.read_parquet(folder / "statement.parquet")
    excluded = pl.read_csv(
        folder / "excluded.csv", schema_overrides={"sub_order_id": pl.String, "shop_id": pl.String}
    )
    # conservation: every valid row is one line or one exclusion; money adds up
    assert summary["input_rows"] == 3000 and summary["rejected_rows"] == 0
    assert statement.height + excluded.height == 3000
    assert sum(summary["lines"].values()) == statement.height
    assert sum(summary["excluded"].values()) == excluded.height
    assert summary["totals"] == {
        c: statement[c].sum() for c in ("income", "freight", "platform_fee", "commission", "net")
    }
    assert [s["shop_id"] for s in summary["per_shop"]] == ["1000001", "1000002"]
    for c in ("income", "net"):
        assert sum(s["totals"][c] for s in summary["per_shop"]) == summary["totals"][c]
    # no sub-order settled in both periods
    earlier = pl.read_parquet(out / "settlement" / "2026-09-H2" / "statement.parquet")
    assert (
        set(earlier["sub_order_id"])
        & set(statement.filter(pl.col("line_type") != "clawback")["sub_order_id"])
        == set()
    )
    # the workbook for people: IDs as text, money in yuan
    import openpyxl

    sheet = openpyxl.load_workbook(folder / "statement.xlsx").active
    header = [c.value for c in sheet[1]]
    first = {h: c for h, c in zip(header, sheet[2], strict=True)}
    assert (
        first["sub_order_id"].data_type == "s"
        and first["sub_order_id"].value == statement["sub_order_id"][0]
    )
    assert round(first["net"].value * 100) == statement["net"][0]


def test_policy_file_overrides_one_rate(doudian, tmp_path):
    orders = write_orders(tmp_path / "o.csv", [row("6950000000000000001", "2026-10-20 10:00:00")])
    policy = tmp_path / "contract.toml"
    policy.write_text("[settlement]\ndefault_fee_bp = 250\n", encoding="utf-8")
    out = tmp_path / "out"
    run = doudian(
        "settle",
        "--orders",
        orders,
        "--period",
        "2026-10-H2",
        "--out",
        str(out),
        "--policy",
        str(policy),
    )
    assert run.exit_code == 0, run.stderr
    summary = json.loads(
        (out / "settlement" / "2026-10-H2" / "summary.json").read_text(encoding="utf-8")
    )
    assert summary["totals"]["platform_fee"] == 250
    bad = tmp_path / "bad.toml"
    bad.write_text("[settlement]\ndefault_fee_bp = 12.5\n", encoding="utf-8")
    run = doudian(
        "settle",
        "--orders",
        orders,
        "--period",
        "2026-10-H2",
        "--out",
        str(out),
        "--policy",
        str(bad),
    )
    assert (run.exit_code, run.stderr) == (
        2,
        f"Error: --policy {bad}: [settlement] default_fee_bp must be a whole number of basis points from 0 to 10000, not 12.5\n",
    )


def test_orders_without_shop_id_need_the_option(doudian, tmp_path):
    path = tmp_path / "o.csv"
    header = HEADER.removesuffix(",店铺ID")
    path.write_text(
        header
        + "\n"
        + row("6950000000000000001", "2026-10-20 10:00:00").removesuffix(",1001")
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    run = doudian("settle", "--orders", str(path), "--period", "2026-10-H2", "--out", str(out))
    assert (run.exit_code, run.stderr) == (
        2,
        "Error: 1 valid order rows have no 店铺ID: pass --shop-id ID for a single-shop export without that column\n",
    )
    run = doudian(
        "settle",
        "--orders",
        str(path),
        "--period",
        "2026-10-H2",
        "--out",
        str(out),
        "--shop-id",
        "777",
    )
    assert run.exit_code == 0
    assert (
        json.loads(
            (out / "settlement" / "2026-10-H2" / "summary.json").read_text(encoding="utf-8")
        )["per_shop"][0]["shop_id"]
        == "777"
    )


def test_settle_rejects_what_validate_rejects_and_lists_exclusions_in_input_order(
    doudian, tmp_path
):
    """A bad 商品数量 (a cell settlement does not use) rejects the row in `settle` as in
    `doudian validate`, with the same finding; so does a bad 订单完成时间. Statement lines
    and exclusions come in the files' row order."""
    orders = write_orders(
        tmp_path / "orders.csv",
        [
            row("6950000000000000009", "2026-11-03 10:00:00"),
            row("6950000000000000005", "2026-10-20 10:00:00").replace(",1,", ",lots,", 1),
            row("6950000000000000001", "2026-11-02 10:00:00"),
            row("6950000000000000007", "2026-10-32 10:00:00"),
            row("6950000000000000003", "2026-10-19 10:00:00"),
        ],
    )
    out = tmp_path / "out"
    run = doudian("settle", "--orders", orders, "--period", "2026-10-H2", "--out", str(out))
    assert run.exit_code == 3, run.stderr
    folder = out / "settlement" / "2026-10-H2"
    rejected = (folder / "rejected" / "orders.csv").read_text(encoding="utf-8-sig")
    assert rejected.splitlines()[1:] == [
        f"{orders},3,商品数量,lots,bad-integer,商品数量: not a whole number",
        f"{orders},5,订单完成时间,2026-10-32 10:00:00,bad-timestamp,"
        '"订单完成时间: not a date and time (YYYY-MM-DD HH:MM:SS, YYYY/MM/DD HH:MM, or an Excel date)"',
    ]
    assert (folder / "excluded.csv").read_text(encoding="utf-8-sig") == (
        "sub_order_id,shop_id,reason\n"
        "6950000000000000009,1001,received-after-window\n"
        "6950000000000000001,1001,received-after-window\n"
    )
    subs = [
        line.split(",")[5]
        for line in (folder / "statement.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    ]
    assert subs == ["6950000000000000003"]
    check = doudian("validate", "orders", orders, "--out", str(tmp_path / "v"))
    assert check.exit_code == 3
    codes = (tmp_path / "v" / "rejected" / "orders.csv").read_text(encoding="utf-8-sig")
    assert codes == rejected
