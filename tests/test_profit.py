"""Profit per line (exact fen per rule), totals, conservation on generated data, CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from pipeline.errors import UsageError
from pipeline.policy import Policy, load_policy
from pipeline.stages.profit import ProfitPolicy, profit_period
from pipeline.stages.settle.engine import STATEMENT_COLUMNS
from pipeline.stages.settle.money import cost_floor
from pipeline.stages.settle.periods import Period

CN = ZoneInfo("Asia/Shanghai")
OCT_H1 = Period(2026, 10, 1)
IN_WINDOW = dt.datetime(2026, 10, 5, 12, tzinfo=CN)
BEFORE = dt.datetime(2026, 9, 20, 12, tzinfo=CN)
STATEMENT_SCHEMA = {
    **{c: pl.Int64 for c in STATEMENT_COLUMNS},
    "period": pl.String, "settle_date": pl.Date, "line_type": pl.String, "shop_id": pl.String,
    "order_id": pl.String, "sub_order_id": pl.String, "product_id": pl.String,
    "received_at": pl.Datetime("us", CN),
}  # fmt: skip
SUB = "69500000000000000{:02d}"
ORDER = "69000000000000000{:02d}"


def line(n: int, *, kind: str = "sale", payable: int = 3000, freight: int = 0, fee: int = 150,
         commission: int = 0, order: int | None = None) -> dict:  # fmt: skip
    income = payable
    return {
        "period": OCT_H1.id, "settle_date": OCT_H1.settle_date, "line_type": kind,
        "shop_id": "1000001", "order_id": ORDER.format(order or n), "sub_order_id": SUB.format(n),
        "product_id": "3450000000000000001", "received_at": IN_WINDOW, "payable": payable,
        "freight": freight, "platform_discount": 0, "creator_discount": 0, "payment_discount": 0,
        "income": income, "fee_basis": income - freight, "platform_fee_rate_bp": 500,
        "platform_fee": fee, "commission": commission, "net": income - fee - commission,
    }  # fmt: skip


def order(n: int, *, quantity: int = 1, payable: int = 3000, freight: int = 0,
          received: dt.datetime = IN_WINDOW, order_no: int | None = None, **keys: str) -> dict:  # fmt: skip
    return {
        "order_id": ORDER.format(order_no or n), "sub_order_id": SUB.format(n),
        "product_id": "3450000000000000001", "quantity": quantity, "payable": payable,
        "freight": freight, "received_at": received, "product_title": f"商品{n}",
        "merchant_code": keys.get("merchant_code"), "sku_id": keys.get("sku_id"),
        "item_no": keys.get("item_no"),
    }  # fmt: skip


def statement_dir(tmp: Path, lines: list[dict], excluded: list[tuple[int, str]] = ()) -> Path:
    folder = tmp / "settlement" / OCT_H1.id
    folder.mkdir(parents=True)
    pl.DataFrame(lines, schema=STATEMENT_SCHEMA).select(STATEMENT_COLUMNS).write_parquet(
        folder / "statement.parquet"
    )
    pl.DataFrame(
        {"sub_order_id": [SUB.format(n) for n, _ in excluded],
         "shop_id": ["1000001"] * len(excluded), "reason": [r for _, r in excluded]},
        schema={"sub_order_id": pl.String, "shop_id": pl.String, "reason": pl.String},
    ).write_csv(folder / "excluded.csv")  # fmt: skip
    summary = {"period": OCT_H1.id, "window_start": OCT_H1.window_start.isoformat(),
               "window_end": OCT_H1.window_end.isoformat(),
               "settle_date": OCT_H1.settle_date.isoformat()}  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return folder


ORDER_SCHEMA = {"order_id": pl.String, "sub_order_id": pl.String, "product_id": pl.String,
                "quantity": pl.Int64, "payable": pl.Int64, "freight": pl.Int64,
                "received_at": pl.Datetime("us", CN), "product_title": pl.String,
                "merchant_code": pl.String, "sku_id": pl.String, "item_no": pl.String}  # fmt: skip
COST_SCHEMA = {"sku_id": pl.String, "merchant_code": pl.String, "item_no": pl.String,
               "cost": pl.Int64}  # fmt: skip


DEFAULT = ProfitPolicy()


def run(tmp_path, lines, orders, costs, policy=DEFAULT, excluded=(), drop=()):  # noqa: ANN001
    folder = statement_dir(tmp_path, lines, excluded)
    o = pl.DataFrame(orders, schema=ORDER_SCHEMA).drop(*drop).lazy()
    c = pl.DataFrame(costs, schema=COST_SCHEMA).drop(*drop).lazy()
    result = profit_period(folder, o, c, policy, tmp_path / "profit" / OCT_H1.id)
    return result, pl.read_parquet(result.folder / "profit.parquet")


def cols(frame: pl.DataFrame, *names: str) -> list[tuple]:
    return frame.select(names).rows()


def test_cost_by_sku_id_then_merchant_code_then_item_no(tmp_path):
    lines = [line(1), line(2, payable=5000, fee=250), line(3, payable=2000, fee=100)]
    orders = [
        order(1, quantity=2, sku_id="1765432109876543201", merchant_code="KF-1"),
        order(2, quantity=1, payable=5000, sku_id="1765432109876543299", merchant_code="KF-2"),
        order(3, quantity=4, payable=2000, item_no="HH-3"),
    ]
    costs = [
        {"sku_id": "1765432109876543201", "merchant_code": "KF-1", "cost": 1000},
        {"merchant_code": "KF-1", "cost": 9999},  # the SKU ID wins
        {"merchant_code": "KF-2", "cost": 3150},
        {"item_no": "HH-3", "cost": 120},
    ]
    result, out = run(tmp_path, lines, orders, costs)
    assert cols(out, "cost_key", "unit_cost", "line_quantity", "net", "cost", "profit") == [
        ("sku_id", 1000, 2, 2850, 2000, 850),
        ("merchant_code", 3150, 1, 4750, 3150, 1600),
        ("item_no", 120, 4, 1900, 480, 1420),
    ]
    assert result.exit_code == 0 and result.no_cost_lines == 0
    assert result.totals["profit"] == 850 + 1600 + 1420
    assert result.totals["margin_bp"] == 3870  # 38.70% of the revenue, 100.00 yuan


def test_keys_only_those_both_files_have(tmp_path):
    """Orders without an item_no column (an export of old): matched by 商家编码 only."""
    lines = [line(1)]
    orders = [order(1, quantity=1, merchant_code="KF-1")]
    costs = [{"merchant_code": "KF-1", "cost": 700}]
    _, out = run(tmp_path, lines, orders, costs, drop=("item_no", "sku_id"))
    assert cols(out, "cost_key", "cost", "profit") == [("merchant_code", 700, 2150)]
    assert "item_no" not in out.columns and "sku_id" not in out.columns


def test_no_cost_leaves_profit_empty_and_is_not_zero_cost(tmp_path):
    lines = [line(1), line(2)]
    orders = [order(1, merchant_code="KF-1"), order(2, merchant_code="UNKNOWN")]
    costs = [{"merchant_code": "KF-1", "cost": 1000}]
    result, out = run(tmp_path, lines, orders, costs)
    assert cols(out, "cost_key", "cost", "profit") == [
        ("merchant_code", 1000, 1850),
        ("no-cost", None, None),
    ]
    assert result.exit_code == 3 and result.no_cost_lines == 1
    shop = pl.read_csv(result.folder / "by_shop.csv").row(0, named=True)
    assert (shop["net"], shop["cost"], shop["profit"]) == (5700, 1000, 1850)
    assert (shop["no_cost_lines"], shop["no_cost_net"], shop["margin_bp"]) == (1, 2850, 6167)
    listed = pl.read_csv(
        result.folder / "no_cost.csv", schema_overrides={"sub_order_id": pl.String}
    )
    assert listed.get_column("sub_order_id").to_list() == [SUB.format(2)]


def test_line_without_order_row_has_no_cost(tmp_path):
    result, out = run(tmp_path, [line(1)], [], [{"merchant_code": "KF-1", "cost": 1}])
    assert cols(out, "quantity", "cost_key", "profit") == [(None, "no-cost", None)]
    assert result.summary["no_order_lines"] == 1


def clawback_case(tmp_path, policy):  # noqa: ANN001
    """3 units sold for 30.00 in an earlier period; one is refunded now (10.00)."""
    lines = [line(1, kind="clawback", payable=-1000, fee=-50)]
    orders = [order(1, quantity=3, merchant_code="KF-1")]
    return run(tmp_path, lines, orders, [{"merchant_code": "KF-1", "cost": 600}], policy)


def test_clawback_with_returned_goods_takes_their_cost_back(tmp_path):
    _, out = clawback_case(tmp_path, ProfitPolicy(returned_goods_keep_value=True))
    assert cols(out, "line_quantity", "net", "cost", "fulfilment", "profit") == [
        (-1, -950, -600, 0, -350)
    ]


def test_clawback_without_value_of_returned_goods_keeps_the_cost(tmp_path):
    _, out = clawback_case(tmp_path, ProfitPolicy(returned_goods_keep_value=False))
    assert cols(out, "line_quantity", "net", "cost", "profit") == [(-1, -950, 0, -950)]


def test_clawback_of_a_price_refund_returns_no_unit(tmp_path):
    """A partial refund worth less than half a unit (a 补差价) brings no goods back."""
    lines = [line(1, kind="clawback", payable=-400, fee=-20)]
    orders = [order(1, quantity=3, merchant_code="KF-1")]
    _, out = run(tmp_path, lines, orders, [{"merchant_code": "KF-1", "cost": 600}])
    assert cols(out, "line_quantity", "cost", "profit") == [(0, 0, -380)]


@pytest.mark.parametrize("keep, units, cost", [(True, 1, 600), (False, 1, 1200)])
def test_carry_over_with_partial_refund(tmp_path, keep, units, cost):
    """2 units for 20.00 plus 5.00 freight; one unit (10.00) refunded before settling."""
    lines = [line(1, kind="carry-over", payable=1500, freight=500, fee=50)]
    orders = [order(1, quantity=2, payable=2500, freight=500, merchant_code="KF-1")]
    policy = ProfitPolicy(returned_goods_keep_value=keep)
    _, out = run(tmp_path, lines, orders, [{"merchant_code": "KF-1", "cost": 600}], policy)
    assert cols(out, "line_quantity", "cost", "profit") == [(units, cost, 1450 - cost)]


@pytest.mark.parametrize("lost, cost", [(False, 0), (True, 1200)])
def test_refunded_line_carries_cost_only_when_goods_are_lost(tmp_path, lost, cost):
    orders = [
        order(1, merchant_code="KF-1"),
        order(2, quantity=2, merchant_code="KF-1"),
        order(3, quantity=5, merchant_code="KF-1", received=BEFORE),  # an earlier period's
    ]
    excluded = [(2, "refunded"), (3, "refunded"), (9, "not-received")]
    policy = ProfitPolicy(refunded_goods_lost=lost)
    result, out = run(tmp_path, [line(1)], orders, [{"merchant_code": "KF-1", "cost": 600}],
                      policy, excluded)  # fmt: skip
    assert cols(out, "line_type", "sub_order_id", "line_quantity", "net", "cost", "profit") == [
        ("sale", SUB.format(1), 1, 2850, 600, 2250),
        ("refunded", SUB.format(2), 0, 0, cost, -cost),
    ]
    assert result.summary["line_types"] == {"sale": 1, "carry-over": 0, "clawback": 0,
                                            "refunded": 1}  # fmt: skip
    assert result.summary["statement_lines"] == 1


def test_fulfilment_once_per_parcel_shared_over_its_lines(tmp_path):
    lines = [line(3, order=1), line(1, order=1), line(2, order=1), line(4),
             line(5, kind="clawback", payable=-3000, fee=-150)]  # fmt: skip
    orders = [order(n, order_no=1 if n <= 3 else n, merchant_code="KF") for n in (1, 2, 3, 4)]
    orders.append(order(5, merchant_code="KF"))
    policy = ProfitPolicy(packing_fen_per_parcel=60, express_fen_per_parcel=40)
    result, out = run(tmp_path, lines, orders, [{"merchant_code": "KF", "cost": 1000}], policy)
    # 100 fen over 3 lines: 34 to the first by 子订单编号, 33 to each other; a clawback ships nothing
    assert cols(out, "sub_order_id", "fulfilment", "cost", "profit") == [
        (SUB.format(3), 33, 1000, 2850 - 1000 - 33),
        (SUB.format(1), 34, 1000, 2850 - 1000 - 34),
        (SUB.format(2), 33, 1000, 2850 - 1000 - 33),
        (SUB.format(4), 100, 1000, 2850 - 1000 - 100),
        (SUB.format(5), 0, -1000, -2850 + 1000),
    ]
    assert result.totals["fulfilment"] == 200


def test_loss_makers_priced_to_the_minimum_margin(tmp_path):
    lines = [line(1, payable=1000, fee=50), line(2, payable=1000, fee=50)]
    orders = [order(n, quantity=1, payable=1000, merchant_code="LOSS") for n in (1, 2)]
    result, _ = run(tmp_path, lines, orders, [{"merchant_code": "LOSS", "cost": 1001}],
                    ProfitPolicy(min_margin_bp=1000))  # fmt: skip
    losers = pl.read_csv(result.folder / "loss_makers.csv").to_dicts()
    assert len(losers) == 1 and result.loss_makers == 1
    row = losers[0]
    assert (row["sku"], row["quantity"], row["profit"], row["unit_cost"]) == ("LOSS", 2, -102, 1001)
    # ceil(1001 x 1.1) = 1101.1 -> 1102: the same floor as the price guard's min_margin
    assert (row["avg_price"], row["min_margin_bp"], row["min_price"]) == (1000, 1000, 1102)
    assert pl.select(cost_floor(pl.lit(1001), 1000)).item() == 1102


def test_policy_keys_checked():
    policy = ProfitPolicy.from_policy(load_policy())
    assert policy == ProfitPolicy()
    with pytest.raises(UsageError, match=r"\[profit\] packing_fee: unknown key"):
        ProfitPolicy.from_policy(Policy("mine.toml", {"profit": {"packing_fee": 1}}))
    with pytest.raises(UsageError, match=r"refunded_goods_lost: must be true or false, not 1"):
        ProfitPolicy.from_policy(Policy("mine.toml", {"profit": {"refunded_goods_lost": 1}}))
    with pytest.raises(UsageError, match=r"express_fen_per_parcel: must be a whole number"):
        ProfitPolicy.from_policy(Policy("m", {"profit": {"express_fen_per_parcel": 1.5}}))


def settle_generated(doudian, exports: Path, out: Path, periods: tuple[str, ...]) -> None:
    for period in periods:
        r = doudian("settle", "--period", period, "--out", str(out),
                    "--orders", str(exports / "orders.csv"),
                    "--after-sales", str(exports / "after_sales.csv"),
                    "--products", str(exports / "products.csv"),
                    "--commissions", str(exports / "commissions.csv"))  # fmt: skip
        assert r.exit_code in (0, 3), r.stderr


@pytest.mark.parametrize("seed", [3, 11])
def test_conservation_on_generated_data(tmp_path, doudian, seed):
    from pipeline.demo.generator import generate

    exports, out = tmp_path / "exports", tmp_path / "out"
    generate(exports, shops=3, orders=4000, seed=seed)
    settle_generated(doudian, exports, out, ("2026-09-H2", "2026-10-H1"))
    statement_dir = out / "settlement" / "2026-10-H1"
    r = doudian("profit", "--statement", str(statement_dir), "--orders", str(exports / "orders.csv"),
                "--costs", str(exports / "costs.csv"), "--out", str(out),
                "--policy", str(write_policy(tmp_path)), "--json")  # fmt: skip
    assert r.exit_code == 3, r.stderr  # the generator leaves about 10% of SKUs without a cost
    summary = r.json()
    statement = pl.read_parquet(statement_dir / "statement.parquet")
    lines = pl.read_parquet(out / "profit" / "2026-10-H1" / "profit.parquet")
    # every statement line in exactly one row, in the statement's order; refunded lines after
    assert (
        lines.head(statement.height)
        .select("sub_order_id", "line_type", "net")
        .equals(statement.select("sub_order_id", "line_type", "net"))
    )
    assert set(lines.slice(statement.height).get_column("line_type")) <= {"refunded"}
    assert summary["line_types"]["refunded"] > 0
    settled = json.loads((statement_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["totals"]["net"] == settled["totals"]["net"] == lines["net"].sum()
    # profit = net - cost - fulfilment on every line with a cost; none without one
    costed = lines.filter(pl.col("cost_key") != "no-cost")
    assert costed["profit"].null_count() == 0 and costed.height < lines.height
    assert (costed["profit"] == costed["net"] - costed["cost"] - costed["fulfilment"]).all()
    assert lines.filter(pl.col("cost_key") == "no-cost")["profit"].null_count() == (
        lines.height - costed.height
    )
    assert summary["totals"]["profit"] == costed["profit"].sum()
    assert summary["totals"]["fulfilment"] == lines["fulfilment"].sum() > 0
    shops = pl.read_csv(out / "profit" / "2026-10-H1" / "by_shop.csv")
    skus = pl.read_csv(out / "profit" / "2026-10-H1" / "by_sku.csv")
    for name in ("lines", "quantity", "revenue", "platform_fee", "commission", "net",
                 "fulfilment", "no_cost_lines", "no_cost_net", "cost", "profit"):  # fmt: skip
        assert shops[name].sum() == summary["totals"][name] == skus[name].sum(), name
    per_shop = skus.group_by("shop_id").agg(pl.col("profit").sum()).sort("shop_id")
    assert per_shop["profit"].to_list() == shops.sort("shop_id")["profit"].to_list()


def write_policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text("[profit]\npacking_fen_per_parcel = 80\nexpress_fen_per_parcel = 320\n",
                    encoding="utf-8")  # fmt: skip
    return path


def test_cli_profit_outputs_and_totals(tmp_path, doudian):
    """The generated demo-like data (2 shops, 3,000 orders, seed 7): exact totals."""
    from pipeline.demo.generator import generate

    exports, out = tmp_path / "exports", tmp_path / "out"
    generate(exports, shops=2, orders=3000, seed=7)
    settle_generated(doudian, exports, out, ("2026-10-H1",))
    r = doudian("profit", "--statement", str(out / "settlement" / "2026-10-H1"),
                "--orders", str(exports / "orders.csv"), "--costs", str(exports / "costs.csv"),
                "--out", str(out))  # fmt: skip
    assert r.exit_code == 3
    assert r.stdout.splitlines() == [
        "2026-10-H1: 665 lines, 65 without a cost, 4 loss-making SKUs",
        "  net 113,727.73  cost 62,816.24  fulfilment 0.00  profit 39,143.10 yuan"
        " (margin 34.70%, lines with a cost only)",
        f"  outputs: {out / 'profit' / '2026-10-H1'}",
    ]
    folder = out / "profit" / "2026-10-H1"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["by_shop.csv", "by_sku.csv", "loss_makers.csv", "no_cost.csv", "profit.csv",
         "profit.parquet", "rejected", "summary.json", "warnings"]
    )  # fmt: skip
    first = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert doudian("profit", "--statement", str(out / "settlement" / "2026-10-H1"),
                   "--orders", str(exports / "orders.csv"), "--costs", str(exports / "costs.csv"),
                   "--out", str(out)).exit_code == 3  # fmt: skip
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == first


def test_cli_profit_refuses_a_folder_that_is_not_a_period(tmp_path, doudian):
    r = doudian("profit", "--statement", str(tmp_path), "--orders", "fixtures/orders_utf8_bom.csv",
                "--costs", "fixtures/costs.csv", "--out", str(tmp_path / "out"))  # fmt: skip
    assert r.exit_code == 1
    assert r.stderr == (
        f"Error: {tmp_path}: is not a settled period (no summary.json, statement.parquet, "
        "excluded.csv)\n  hint: pass the period's folder OUT/settlement/PERIOD that "
        "`doudian settle` wrote\n"
    )
    assert not (tmp_path / "out").exists()
