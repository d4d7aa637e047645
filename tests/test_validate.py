"""Validation across formats and files: Parquet and CSV give the same table, the
duplicate rule, and the counts that must add up."""

from __future__ import annotations

import polars as pl
import pytest

from pipeline.demo.generator import generate

KIND_FILES = {
    "orders": "orders",
    "after-sales": "after_sales",
    "bill": "bill",
    "products": "products",
    "costs": "costs",
    "commissions": "commissions",
}


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    out = tmp_path_factory.mktemp("exports")
    generate(out, shops=2, orders=2000, seed=3, formats=("csv", "parquet"))
    return out


@pytest.mark.parametrize("kind", sorted(KIND_FILES))
def test_parquet_and_csv_give_the_same_valid_table(doudian, exports, kind):
    stem = KIND_FILES[kind]
    from_csv = doudian.validate(kind, str(exports / f"{stem}.csv"))
    from_parquet = doudian.validate(kind, str(exports / f"{stem}.parquet"))
    assert (from_csv.exit_code, from_parquet.exit_code) == (0, 0), from_parquet.stdout
    a = from_csv.valid(kind).drop("source_file", "source_row")
    b = from_parquet.valid(kind).drop("source_file", "source_row")
    assert a.height > 0 and a.equals(b)


def test_a_corrected_copy_after_a_broken_one_is_kept(doudian, tmp_path):
    header = "主订单编号,子订单编号,商品数量,商品ID,订单应付金额,订单提交时间,支付完成时间,订单完成时间,订单状态"
    first = "6900000000000000001,6950000000000000001,1,3500000000000000001,{},2026-10-01 10:00:00,2026-10-01 10:01:00,,备货中"
    broken, fixed = tmp_path / "a.csv", tmp_path / "b.csv"
    broken.write_text(header + "\n" + first.format('"12,34"') + "\n", encoding="utf-8")
    fixed.write_text(
        header + "\n" + first.format("12.34") + "\n" + first.format("12.34") + "\n",
        encoding="utf-8",
    )
    run = doudian.validate("orders", str(broken), str(fixed), "--json")
    assert run.exit_code == 3
    assert run.rejected("orders") == [
        (str(broken), 2, "订单应付金额", "12,34", "bad-money"),
        (str(fixed), 3, "子订单编号", "6950000000000000001", "duplicate-sub-order"),
    ]
    assert run.valid("orders").select("source_file", "source_row", "payable").rows() == [
        (str(fixed), 2, 1234)
    ]
    files = run.json()["files"]
    assert [(f["rows"], f["valid"], f["rejected"]) for f in files] == [(1, 0, 1), (2, 1, 1)]


def test_batches_do_not_change_the_result(tmp_path, exports, monkeypatch):
    """Nor do the groups of keys the duplicate check takes per pass."""
    from pipeline.validation import checker as validate
    from pipeline.validation.checker import validate_files

    outputs = []
    for batch_rows, key_bucket_rows in ((1_000_000, 4_000_000), (333, 500)):
        monkeypatch.setattr(validate, "KEY_BUCKET_ROWS", key_bucket_rows)
        out = tmp_path / str(batch_rows)
        result = validate_files(
            "orders",
            [str(exports / "orders.csv"), str(exports / "orders.csv")],
            valid_path=out / "valid.parquet",
            rejected_path=out / "rejected.csv",
            warnings_path=out / "warnings.csv",
            batch_rows=batch_rows,
        )
        assert (result.rows, result.valid, result.rejected) == (4000, 2000, 2000)
        outputs.append(
            (pl.read_parquet(out / "valid.parquet"), (out / "rejected.csv").read_bytes())
        )
    assert outputs[0][0].equals(outputs[1][0])
    assert outputs[0][1] == outputs[1][1]


def test_a_row_with_more_cells_than_the_header_is_rejected_not_the_file(doudian, tmp_path):
    header = "主订单编号,子订单编号,商品数量,商品ID,订单应付金额,订单提交时间,支付完成时间,订单完成时间,订单状态"
    ok = "6900000000000000001,6950000000000000001,1,3500000000000000001,12.34,2026-10-01 10:00:00,,,待支付"
    extra = "6900000000000000001,6950000000000000002,1,3500000000000000001,1,234.00,2026-10-01 10:00:00,,,待支付"
    path = tmp_path / "ragged.csv"
    path.write_text(header + "\n" + ok + "\n" + extra + "\n", encoding="utf-8")
    run = doudian.validate("orders", str(path))
    assert run.exit_code == 3
    assert run.rejected("orders") == [
        (str(path), 3, "订单提交时间", "234.00", "bad-timestamp"),
        (str(path), 3, "订单状态", "", "missing-value"),
        (str(path), 3, "(cells past the last column)", "待支付", "extra-cells"),
    ]
    assert run.valid("orders")["sub_order_id"].to_list() == ["6950000000000000001"]


def test_formula_like_cells_are_neutralised_in_the_rejected_file(doudian, tmp_path):
    header = "主订单编号,子订单编号,商品数量,商品ID,订单应付金额,订单提交时间,支付完成时间,订单完成时间,订单状态"
    bad = '6900000000000000001,6950000000000000001,1,3500000000000000001,"=HYPERLINK(""http://x"")",2026-10-01 10:00:00,,,待支付'
    path = tmp_path / "f.csv"
    path.write_text(header + "\n" + bad + "\n", encoding="utf-8")
    run = doudian.validate("orders", str(path))
    assert run.exit_code == 3
    assert run.rejected("orders") == [
        (str(path), 2, "订单应付金额", '\'=HYPERLINK("http://x")', "bad-money")
    ]
