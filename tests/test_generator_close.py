"""The generated fund flow, account flow and second bill file: valid through the real
CLI, and a close of a generated period finds every planted case (exact counts for the
demo's seed), with every fund row in exactly one place."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.demo.funds import ACCOUNT_HEADERS, FUND_HEADERS, OTHER_MONEY
from pipeline.demo.generator import generate, split_by_shop

DEMO = dict(shops=3, orders=20_000, seed=7)
FUND_30 = (
    "动账时间,动账流水号,动账方向,动账金额,动账账户,动账场景,计费类型,子订单号,订单号,售后编号,下单时间,"
    "商品ID,订单类型,订单实付应结,运费实付,实际平台补贴_运费,实际平台补贴,实际达人补贴,实际抖音支付补贴,"
    "实际抖音月付营销补贴,订单退款,平台服务费,佣金,渠道分成,招商服务费,站外推广费,其他分成,是否免佣,免佣金额,备注"
).split(",")


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def read(path: Path, skip: int = 0) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False, skip_rows_after_header=skip)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int], Path]:
    """The demo's exports, split per shop, and 2026-10-H1 settled (after 2026-09-H2)."""
    path = tmp_path_factory.mktemp("demo")
    exports, out = path / "exports", path / "out"
    counts = generate(exports, **DEMO)
    split_by_shop(exports)
    inputs = [f"--{k.replace('_', '-')}={exports / k}.csv" for k in
              ("orders", "after_sales", "products", "commissions")]  # fmt: skip
    for period in ("2026-09-H2", "2026-10-H1"):
        code, output = cli("settle", "--period", period, "--out", str(out), *inputs)
        assert code in (0, 3), output
    return exports, counts, out


def test_counts_headers_and_valid_rows(demo, tmp_path):
    exports, counts, _ = demo
    assert {k: counts[k] for k in ("bill_refunds", "fund_flow", "account_flow")} == {
        "bill_refunds": 152,
        "fund_flow": 4_490,
        "account_flow": 4_490,
    }
    assert FUND_HEADERS == [*FUND_30, "店铺ID"]
    assert read(exports / "fund_flow.csv").columns == FUND_HEADERS
    assert read(exports / "account_flow.csv").columns == ACCOUNT_HEADERS
    for kind, stem in (("fund-flow", "fund_flow"), ("account-flow", "account_flow"),
                       ("bill", "bill_refunds")):  # fmt: skip
        code, output = cli("validate", kind, str(exports / f"{stem}.csv"), "--out", str(tmp_path))
        assert code == 0, output
        n = counts[stem]
        assert f"{n:,} rows in 1 file: {n:,} valid, 0 rejected (0 findings), 0 warnings" in output
    funds = read(exports / "fund_flow.csv")
    assert funds["动账流水号"].str.starts_with("'").all()
    assert set(funds["动账方向"]) == {"入账", "出账"}
    # the movements of the cycle the exports are taken in: 2026-10-16 to the export time
    assert funds["动账时间"].min() >= "2026-10-16 00:00:00"
    assert funds["动账时间"].max() < "2026-11-01 00:00:00"
    account = read(exports / "account_flow.csv")
    assert account["动账时间"].is_sorted()  # oldest first
    assert sorted(account["动账流水号"]) == sorted(funds["动账流水号"])  # the same movements
    bill_types = read(exports / "bill_refunds.csv", skip=1)["结算单类型"].value_counts(sort=True)
    assert dict(bill_types.iter_rows()) == {
        "结算后退款-原路退回": 119,
        "结算后退款-非原路退回": 28,
        "保证金退款-支出退回": 5,
    }


def test_per_shop_split_holds_every_row(demo):
    exports, counts, _ = demo
    for stem, skip in (("fund_flow", 0), ("account_flow", 0), ("bill_refunds", 1)):
        parts = [
            read(exports / shop / f"{stem}.csv", skip) for shop in ("1000001", "1000002", "1000003")
        ]
        assert sum(p.height for p in parts) == counts[stem], stem
        assert all(p["店铺ID"].n_unique() == 1 for p in parts), stem


def test_the_close_finds_every_planted_case(demo):
    exports, counts, out = demo
    code, output = cli(
        "reconcile", "--statement", str(out / "settlement" / "2026-10-H1"),
        "--bill", str(exports / "bill.csv"), "--bill", str(exports / "bill_refunds.csv"),
        "--fund-flow", str(exports / "fund_flow.csv"),
        "--account-flow", str(exports / "account_flow.csv"), "--out", str(out),
    )  # fmt: skip
    assert code == 3, output
    folder = out / "reconciliation" / "2026-10-H1"
    s = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert s["funds"] == {
        "matched": 4_124, "amount-mismatch": 18, "missing-fund": 18, "multiple-candidates": 11,
        "account-mismatch": 18, "fund-not-billed": 6, "not-in-scope": 5,
        "difference_total": -282_970, "time_warnings": 7,
    }  # fmt: skip
    assert s["refunds"] == {
        "matched": 85, "amount-mismatch": 18, "missing-fund": 11, "multiple-candidates": 6,
        "outside-window": 17, "not-comparable": 10, "after-sale-not-refunded": 0,
        "difference_total": 365_595,
    }  # fmt: skip
    other = {k: v["rows"] for k, v in s["other_funds"].items()}
    assert other == {
        "withdrawal": 3, "buyer-compensation": 3, "freight-insurance": 3,
        "monthly-pay-interest": 3, "settlement-outgoing": 3, "unclassified": 3,
        "settlement-not-used": 40, "refund-not-used": 44,
    }  # fmt: skip
    assert all(v["unexpected_direction"] == 0 for v in s["other_funds"].values())
    assert s["balance"] == {"rows": 4_490, "breaks": 2}
    breaks = read(folder / "balance.csv")
    assert breaks.select("kind", "difference").rows() == [("row", "-1000"), ("day", "2500")]
    # the generated bill rows of the close add up (the bill's planted off-by-some-fen
    # rows fail settle-amount; bill_refunds.csv adds no failure)
    assert s["bill_checks"]["by_formula"] == {
        "order-total": 0, "income-total": 0, "expense-total": 0, "settle-amount": 48,
    }  # fmt: skip
    # conservation: every fund row in exactly one place
    rows = s["fund_rows"]
    assert rows == {
        "rows": 4_490,
        "settlement": 4_142,
        "fund-not-billed": 6,
        "refund": 240,
        "other": 102,
        "not-in-scope": 0,
    }
    assert rows["rows"] == counts["fund_flow"]
    assert rows["settlement"] == s["funds"]["matched"] + s["funds"]["amount-mismatch"]
    assert rows["other"] == read(folder / "other_funds.csv").height
    refunds = read(folder / "refunds.csv")
    used = refunds["flow_ids"].drop_nulls().str.split(";").explode()
    assert used.len() == rows["refund"] == refunds["fund_rows"].cast(pl.Int64).sum()
    other_ids = set(read(folder / "other_funds.csv")["flow_id"])
    assert not other_ids & set(used)
    for key in ("rows", "settlement", "fund-not-billed", "refund", "other"):
        assert sum(shop["fund_rows"][key] for shop in s["per_shop"]) == rows[key], key


def test_other_money_without_orders(tmp_path):
    """With no orders the fund flow holds each shop's other money, and nothing else."""
    counts = generate(tmp_path, shops=2, orders=0, seed=1)
    assert counts["bill_refunds"] == 0
    assert counts["fund_flow"] == counts["account_flow"] == 2 * len(OTHER_MONEY)
    scenes = read(tmp_path / "fund_flow.csv")["动账场景"].fill_null("")
    assert sorted(scenes) == sorted(2 * [m[0] for m in OTHER_MONEY])


def test_the_close_in_parts_writes_the_same_bytes(demo, tmp_path, monkeypatch):
    """The close works a range of 子订单号 at a time (and the balance chain a range of
    shops): the demo's close in parts of 500 rows (27 parts; 4 of shops, the first one
    empty) writes every output byte for byte as in one part."""
    from pipeline.stages.close import parts

    exports, _, out = demo
    args = [
        "reconcile", "--statement", str(out / "settlement" / "2026-10-H1"),
        "--bill", str(exports / "bill.csv"), "--bill", str(exports / "bill_refunds.csv"),
        "--fund-flow", str(exports / "fund_flow.csv"),
        "--account-flow", str(exports / "account_flow.csv"),
        "--orders", str(exports / "orders.csv"), "--after-sales", str(exports / "after_sales.csv"),
    ]  # fmt: skip
    seen = []
    real = parts.ranges

    def counted(*a, **kw):
        found = real(*a, **kw)
        seen.append(len(found))
        return found

    monkeypatch.setattr("pipeline.stages.close.job.ranges", counted)
    outputs = {}
    for rows in (parts.ROWS_PER_PART, 500):
        monkeypatch.setattr(parts, "ROWS_PER_PART", rows)
        code, output = cli(*args, "--out", str(tmp_path / str(rows)))
        assert code == 3, output
        folder = tmp_path / str(rows) / "reconciliation" / "2026-10-H1"
        outputs[rows] = {p.name: p.read_bytes() for p in sorted(folder.glob("*.*"))}
    assert seen == [1, 1, 27, 4]
    assert sorted(outputs[500]) == ["balance.csv", "bill_checks.csv", "not_in_scope.csv",
        "order_checks.csv", "other_funds.csv", "reconciliation.csv", "refunds.csv", "summary.json"]  # fmt: skip
    for name, data in outputs[500].items():
        assert data == outputs[parts.ROWS_PER_PART][name], name
