"""Reconciliation against the platform's 结算账单, through the real CLI."""

from __future__ import annotations

import json

from test_settle import row, write_orders

BILL_HEADER = "结算时间,订单号,子订单号,结算金额,平台服务费,佣金"


def write_bill(path, rows):
    note = "注：金额单位为元" + "," * 5
    path.write_text(
        "\ufeff" + BILL_HEADER + "\n" + note + "\n" + "\n".join(rows) + "\n", encoding="utf-8"
    )
    return str(path)


def test_reconcile_statuses_and_totals(doudian, tmp_path):
    orders = write_orders(
        tmp_path / "orders.csv",
        [
            row("6950000000000000001", "2026-10-20 10:00:00", payable="100.00"),  # net 95.00
            row("6950000000000000002", "2026-10-21 10:00:00", payable="200.00"),  # net 190.00
            row("6950000000000000003", "2026-10-22 10:00:00", payable="50.00"),  # net 47.50
        ],
    )
    out = tmp_path / "out"
    assert (
        doudian("settle", "--orders", orders, "--period", "2026-10-H2", "--out", str(out)).exit_code
        == 0
    )
    bill = write_bill(
        tmp_path / "bill.csv",
        [
            "2026-11-01 10:00:00,6900000000000000001,6950000000000000001,95.00,-5.00,0.00",
            "2026-11-01 10:00:00,6900000000000000001,6950000000000000002,100.00,-5.00,0.00",
            "2026-11-02 09:00:00,6900000000000000001,6950000000000000002,89.99,-5.00,0.00",
            "2026-11-01 10:00:00,6900000000000000001,6950000000000000009,12.34,-0.62,0.00",
            "2026-10-16 10:00:00,6900000000000000001,6950000000000000008,1.00,0.00,0.00",  # earlier cycle
        ],
    )
    run = doudian(
        "reconcile",
        "--statement",
        str(out / "settlement" / "2026-10-H2"),
        "--bill",
        bill,
        "--out",
        str(out),
    )
    assert run.exit_code == 3, run.stderr
    folder = out / "reconciliation" / "2026-10-H2"
    assert (folder / "reconciliation.csv").read_text(encoding="utf-8-sig").splitlines() == [
        "sub_order_id,status,expected_net,billed_net,difference",
        "6950000000000000001,match,9500,9500,0",
        "6950000000000000002,amount-mismatch,19000,18999,-1",
        "6950000000000000003,missing-in-bill,4750,,-4750",
        "6950000000000000009,unexpected-in-bill,,1234,1234",
    ]
    assert json.loads((folder / "summary.json").read_text(encoding="utf-8")) == {
        "match": 1,
        "amount-mismatch": 1,
        "missing-in-bill": 1,
        "unexpected-in-bill": 1,
        "difference_total": -1 - 4750 + 1234,
        "bill_rows_outside_cycle": 1,
    }

    everything = doudian(
        "reconcile", "--statement", str(out / "settlement" / "2026-10-H2"), "--bill", bill, "--out", str(out),
        "--all-bill-rows",
    )  # fmt: skip
    assert everything.exit_code == 3
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert (summary["unexpected-in-bill"], summary["bill_rows_outside_cycle"]) == (2, 0)


def test_reconcile_all_match_exits_0(doudian, tmp_path):
    orders = write_orders(
        tmp_path / "orders.csv", [row("6950000000000000001", "2026-10-20 10:00:00")]
    )
    out = tmp_path / "out"
    doudian("settle", "--orders", orders, "--period", "2026-10-H2", "--out", str(out))
    bill = write_bill(
        tmp_path / "bill.csv",
        ["2026-11-01 10:00:00,6900000000000000001,6950000000000000001,95.00,-5.00,0.00"],
    )
    run = doudian(
        "reconcile",
        "--statement",
        str(out / "settlement" / "2026-10-H2"),
        "--bill",
        bill,
        "--out",
        str(out),
    )
    assert run.exit_code == 0, run.stdout


def test_reconcile_refuses_a_folder_that_is_not_a_statement(doudian, tmp_path):
    bill = write_bill(tmp_path / "bill.csv", [])
    run = doudian(
        "reconcile", "--statement", str(tmp_path), "--bill", bill, "--out", str(tmp_path / "out")
    )
    assert (run.exit_code, run.stderr) == (
        1,
        f"Error: {tmp_path}: is not a settled period (no summary.json and statement.parquet)\n",
    )
