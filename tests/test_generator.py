"""The fixture generator: shapes, formats, references and determinism of its exports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from pipeline.demo import generator as fixtures
from pipeline.demo.generator import generate
from pipeline.policy import default_words
from schemas import after_sales, bill, commissions, costs, orders, products

STEMS = ("orders", "after_sales", "bill", "products", "costs", "commissions")
#: and the finance close's (tests/test_generator_close.py)
ALL_STEMS = (*STEMS, "bill_refunds", "fund_flow", "account_flow")
NOTED = ("bill", "bill_refunds")
SPECS = {
    "orders": orders.SPEC,
    "after_sales": after_sales.SPEC,
    "bill": bill.SPEC,
    "products": products.SPEC,
    "costs": costs.SPEC,
    "commissions": commissions.SPEC,
}
MONEY = r"^-?\d+\.\d{2}$"
TIMESTAMP = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"
BOM = b"\xef\xbb\xbf"
SMALL = dict(shops=3, orders=6_000, seed=11)


def _header(stem: str, column) -> str:
    header = column.headers[0]
    return header.replace("(元)", "（元）") if stem == "after_sales" else header


def _read(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False)


def _data(out: Path, stem: str) -> pl.DataFrame:
    """The data rows of one CSV (the bill without its note row), IDs without the tab."""
    frame = _read(out / f"{stem}.csv")
    if stem in NOTED:
        frame = frame.slice(1)
    return frame.with_columns(pl.col(pl.String).str.strip_chars_start("\t"))


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("gen")
    counts = generate(path, formats=("csv", "parquet"), **SMALL)
    return path, counts


def test_files_and_counts(out):
    path, counts = out
    assert list(counts) == list(ALL_STEMS)
    assert counts["orders"] == SMALL["orders"]
    for stem in ALL_STEMS:
        assert (path / f"{stem}.csv").exists()
        assert (path / f"{stem}.parquet").exists()
        assert _data(path, stem).height == counts[stem], stem
        assert counts[stem] > 0, stem
    # no temporary files left behind
    assert sorted(p.name for p in path.iterdir()) == sorted(
        f"{s}.{ext}" for s in ALL_STEMS for ext in ("csv", "parquet")
    )


def test_csv_only_by_default(tmp_path):
    generate(tmp_path, shops=1, orders=50, seed=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{s}.csv" for s in ALL_STEMS)


def test_proportions(out):
    path, counts = out
    n = counts["orders"]
    assert 0.05 < counts["after_sales"] / n < 0.11
    assert 0.18 < counts["commissions"] / n < 0.32
    assert 0.5 < counts["bill"] / n < 0.85
    o = _data(path, "orders")
    status = o["订单状态"].value_counts(normalize=True)
    share = dict(zip(status["订单状态"], status["proportion"], strict=True))
    assert set(share) <= default_words().order_known.exact
    assert 0.7 < share["已完成"] < 0.9
    assert o["主订单编号"].n_unique() < n  # some orders have several sub-orders
    assert o["店铺ID"].n_unique() == SMALL["shops"]


def test_utf8_bom(out):
    path, _ = out
    for stem in ALL_STEMS:
        assert (path / f"{stem}.csv").read_bytes().startswith(BOM), stem


def _generated(stem: str) -> list:
    """The SPEC columns the generator writes: all but 货号 beside 商家编码 (its order
    export has one merchant code column)."""
    return [c for c in SPECS[stem].columns if (stem, c.name) != ("orders", "item_no")]


def test_headers_follow_spec(out):
    path, _ = out
    for stem in STEMS:
        header = _read(path / f"{stem}.csv").columns
        wanted = [_header(stem, c) for c in _generated(stem)]
        present = [h for h in header if h in wanted]
        assert present == wanted, stem  # every SPEC column, in SPEC order
    order_header = _read(path / "orders.csv").columns
    assert {"收件人", "省", "市", "买家留言", "商家备注"} <= set(order_header)
    assert "退商品金额（元）" in _read(path / "after_sales.csv").columns


def test_bill_note_row(out):
    path, _ = out
    lines = (path / "bill.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("结算时间,")
    cells = lines[1].split(",")
    assert cells[0] == fixtures.BILL_NOTE
    assert len(cells) == len(lines[0].split(","))
    assert all(c == "" for c in cells[1:])
    assert lines[2][:4].isdigit()  # data from row 3


def test_references(out):
    path, _ = out
    o = _data(path, "orders")
    subs = set(o["子订单编号"])
    assert len(subs) == o.height  # 子订单编号 unique
    pairs = o.select("主订单编号", "子订单编号")

    a = _data(path, "after_sales")
    assert set(a["商品单号"]) <= subs
    assert a["售后单号"].n_unique() == a.height
    joined = a.join(pairs, left_on="商品单号", right_on="子订单编号")
    assert (joined["订单号"] == joined["主订单编号"]).all()
    # the order row shows the after-sale's status; "-" when there is none
    status = a.select("商品单号", "售后状态").join(
        o.select("子订单编号", pl.col("售后状态").alias("order_side")),
        left_on="商品单号",
        right_on="子订单编号",
    )
    assert (status["售后状态"] == status["order_side"]).all()
    assert o.filter(~pl.col("子订单编号").is_in(a["商品单号"].implode()))["售后状态"].eq("-").all()

    b = _data(path, "bill")
    assert set(b["子订单号"]) <= subs
    assert b["子订单号"].n_unique() == b.height
    settled = o.filter(pl.col("子订单编号").is_in(b["子订单号"].implode()))
    assert settled["订单状态"].eq("已完成").all()
    assert settled["售后状态"].eq("-").all()

    c = _data(path, "commissions")
    assert set(c["订单id"]) <= subs
    alliance = o.filter(pl.col("子订单编号").is_in(c["订单id"].implode()))
    assert alliance["流量来源"].eq("精选联盟").all()

    p = _data(path, "products")
    assert set(o["商品ID"]) <= set(p["商品ID"])
    assert set(o["商家编码"]) <= set(p["商家编码"])
    assert set(_data(path, "costs")["SKU ID"]) <= set(p["SKU ID"])


def _all_match(series: pl.Series, pattern: str) -> bool:
    return bool(series.str.contains(pattern).all())


def test_id_formats(out):
    path, _ = out
    raw = _read(path / "orders.csv")
    for header in ("主订单编号", "子订单编号", "商品ID"):
        assert raw[header].str.starts_with("\t").all(), header
    creator = raw["达人ID"]
    assert _all_match(creator.filter(creator != "-"), r"^\t\d{16,19}$")
    assert creator.filter(creator != "-").str.len_chars().n_unique() > 1  # 16 to 19 digits

    o = _data(path, "orders")
    assert _all_match(o["主订单编号"], r"^69\d{17}$")
    assert _all_match(o["子订单编号"], r"^69\d{17}$")
    assert _all_match(o["商品ID"], r"^3\d{18}$")
    assert _all_match(o["店铺ID"], r"^\d{7}$")
    a = _data(path, "after_sales")
    assert _all_match(a["售后单号"], r"^14\d{17}$")
    assert _all_match(a["订单号"], r"^69\d{17}$")
    p = _data(path, "products")
    assert _all_match(p["SKU ID"], r"^\d{16}$")
    assert _all_match(p["商品ID"], r"^3\d{18}$")
    assert _all_match(p["商家编码"], r"^[A-H]-\d{4}-\d{2}$")
    assert _all_match(_data(path, "costs")["SKU ID"], r"^\d{16}$")
    assert _all_match(_data(path, "commissions")["订单id"], r"^69\d{17}$")
    assert _all_match(_data(path, "bill")["子订单号"], r"^69\d{17}$")


def test_money_and_time_cells(out):
    path, _ = out
    for stem in STEMS:
        frame = _data(path, stem)
        for column in _generated(stem):
            header = _header(stem, column)
            cells = frame[header].drop_nulls()
            if column.type == "money":
                assert frame[header].null_count() == 0, (stem, header)
                assert _all_match(cells, MONEY), (stem, header)
                if not column.signed:
                    assert not cells.str.starts_with("-").any(), (stem, header)
            elif column.type == "timestamp":
                assert _all_match(cells, TIMESTAMP), (stem, header)
    fees = _data(path, "bill")["平台服务费"]
    assert fees.str.starts_with("-").all()


def _fen(column: str) -> pl.Expr:
    return pl.col(column).str.replace(".", "", literal=True).cast(pl.Int64)


def test_order_amounts_and_times(out):
    path, _ = out
    o = _data(path, "orders")
    m = o.select(
        goods=_fen("商品单价") * pl.col("商品数量").cast(pl.Int64),
        payable=_fen("订单应付金额"),
        freight=_fen("运费"),
        discounts=_fen("平台实际承担优惠金额") + _fen("达人实际承担优惠金额") + _fen("支付优惠"),
    )
    assert (m["payable"] == m["goods"] + m["freight"] - m["discounts"]).all()
    assert (m["payable"] >= m["freight"]).all() and (m["freight"] >= 0).all()
    assert o["商品数量"].is_in(["1", "2", "3"]).all()

    t = o.select(
        pl.col("订单状态"),
        *(
            pl.col(c).str.to_datetime("%Y-%m-%d %H:%M:%S").alias(c)
            for c in ("订单提交时间", "支付完成时间", "承诺发货时间", "发货时间", "订单完成时间")
        ),
    )
    start = dt.datetime(2026, 9, 1)
    assert t["订单提交时间"].min() >= start
    assert t["订单提交时间"].max() < start + dt.timedelta(days=61)
    assert t.select((pl.col("支付完成时间") >= pl.col("订单提交时间")).all()).item()
    assert t.select((pl.col("订单完成时间") > pl.col("发货时间")).all()).item()
    unpaid = t.filter(pl.col("订单状态") == "待支付")
    assert unpaid["支付完成时间"].null_count() == unpaid.height > 0
    # 已关闭: never paid, or paid and refunded in full before shipping
    closed = o.filter(pl.col("订单状态") == "已关闭")
    assert closed.filter(pl.col("支付完成时间").is_not_null())["售后状态"].eq("退款成功").all()
    assert closed["发货时间"].null_count() == closed.height
    done = t.filter(pl.col("订单状态") == "已完成")
    assert done["订单完成时间"].null_count() == 0
    assert t.filter(pl.col("订单状态") != "已完成")["订单完成时间"].null_count() == (
        t.height - done.height
    )


def test_bill_amounts(out):
    """结算金额 = income - platform fee (category rate) - commission, bar ~1 % planted errors."""
    path, _ = out
    o = _data(path, "orders")
    b = _data(path, "bill")
    c = _data(path, "commissions")
    p = _data(path, "products").select("商品ID", "一级类目").unique()
    rates = pl.DataFrame({"一级类目": list(fixtures.CATEGORIES), "bp": list(fixtures.FEE_BP)})
    lines = (
        b.select("子订单号", net=_fen("结算金额"), fee=-_fen("平台服务费"), comm=-_fen("佣金"))
        .join(o, left_on="子订单号", right_on="子订单编号")
        .join(
            c.select("订单id", commission=_fen("预估佣金支出")),
            left_on="子订单号",
            right_on="订单id",
            how="left",
        )
        .join(p, on="商品ID")
        .join(rates, on="一级类目")
        .with_columns(
            income=_fen("订单应付金额")
            + _fen("平台实际承担优惠金额")
            + _fen("达人实际承担优惠金额")
            + _fen("支付优惠"),
            freight=_fen("运费"),
            commission=pl.col("commission").fill_null(0),
        )
        .with_columns(
            fee_want=((pl.col("income") - pl.col("freight")) * pl.col("bp") + 5_000) // 10_000
        )
    )
    assert lines.height == b.height
    assert (lines["fee"] == lines["fee_want"]).all()
    assert (lines["comm"] == lines["commission"]).all()
    diff = lines["net"] - (lines["income"] - lines["fee_want"] - lines["commission"])
    off = (diff != 0).sum()
    assert 0 < off <= 0.03 * b.height
    assert diff.abs().max() < 10
    # settled on the 1st or the 16th at 10:00, after the receipt window closed
    assert _all_match(b["结算时间"], r"^\d{4}-\d{2}-(01|16) 10:00:00$")


def test_after_sales_amounts(out):
    path, _ = out
    a = _data(path, "after_sales").join(
        _data(path, "orders"), left_on="商品单号", right_on="子订单编号"
    )
    refund = _fen("退商品金额（元）")
    basis = _fen("订单应付金额") - _fen("运费")
    assert a.select((refund <= basis).all()).item()
    assert a.select((_fen("退运费金额（元）") <= _fen("运费")).all()).item()
    refunded = a.filter(pl.col("售后状态") == "退款成功")
    full = refunded.select((refund == basis).mean()).item()
    assert 0.7 < full < 1.0  # most refunds are full, some partial
    assert set(a["售后类型"]) == {"仅退款", "退货退款", "换货"}
    assert set(a["售后状态"]) == {"退款成功", "售后关闭", "退款中", "换货成功"}


def test_parquet_matches_csv(out):
    """Same headers and raw text cells; the bill's parquet has no note row."""
    path, _ = out
    for stem in ALL_STEMS:
        from_csv = _read(path / f"{stem}.csv")
        if stem in NOTED:
            from_csv = from_csv.slice(1)
        from_parquet = pl.read_parquet(path / f"{stem}.parquet")
        assert all(d == pl.String for d in from_parquet.dtypes), stem
        assert from_parquet.columns == from_csv.columns, stem
        assert from_parquet.equals(from_csv), stem


def test_deterministic(tmp_path):
    args = dict(shops=2, orders=2_500, seed=5, formats=("csv", "parquet"))
    first = generate(tmp_path / "a", **args)
    second = generate(tmp_path / "b", **args)
    assert first == second
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    other = tmp_path / "c"
    generate(other, **{**args, "seed": 6})
    assert (other / "orders.csv").read_bytes() != (tmp_path / "a" / "orders.csv").read_bytes()


def test_batches_keep_ids_unique(tmp_path, monkeypatch):
    monkeypatch.setattr(fixtures, "BATCH_ROWS", 700)
    counts = generate(tmp_path, shops=4, orders=3_000, seed=3)
    o = _data(tmp_path, "orders")
    assert o.height == counts["orders"] == 3_000
    assert o["子订单编号"].n_unique() == o.height
    # an order never spans shops or batches: one shop per 主订单编号
    assert o.group_by("主订单编号").agg(pl.col("店铺ID").n_unique())["店铺ID"].max() == 1
    a = _data(tmp_path, "after_sales")
    assert a["售后单号"].n_unique() == a.height
    assert set(a["商品单号"]) <= set(o["子订单编号"])


def test_no_orders(tmp_path):
    counts = generate(tmp_path, shops=2, orders=0, seed=1, formats=("csv", "parquet"))
    assert counts["orders"] == counts["bill"] == counts["after_sales"] == counts["commissions"] == 0
    assert counts["products"] > 0
    assert _read(tmp_path / "orders.csv").height == 0
    assert _read(tmp_path / "bill.csv").height == 1  # the note row only
    assert (
        pl.read_parquet(tmp_path / "orders.parquet").columns
        == _read(tmp_path / "orders.csv").columns
    )
    assert pl.read_parquet(tmp_path / "bill.parquet").height == 0


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        generate(tmp_path, shops=0, orders=10, seed=1)
    with pytest.raises(ValueError):
        generate(tmp_path, shops=1, orders=10, seed=1, formats=("xlsx",))
