"""The pandera models themselves: their value checks really run, and each check's name
is the finding code users see."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandera.errors
import polars as pl
import pytest

from schemas import KINDS

CN = ZoneInfo("Asia/Shanghai")


def frame(kind: str, rows: list[dict]) -> pl.DataFrame:
    schema = KINDS[kind].spec.schema
    return pl.DataFrame([{**{c: None for c in schema}, **r} for r in rows], schema=schema)


def failures(kind: str, rows: list[dict]) -> list[tuple[int, str, str]]:
    try:
        KINDS[kind].model.validate(frame(kind, rows), lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases.sort("index", "column")
        return list(
            zip(
                cases["index"].to_list(),
                cases["column"].to_list(),
                cases["check"].to_list(),
                strict=True,
            )
        )
    return []


GOOD_ORDER = {
    "order_id": "6900000000000000001",
    "sub_order_id": "6950000000000000001",
    "quantity": 1,
    "product_id": "3500000000000000001",
    "payable": 100,
    "created_at": dt.datetime(2026, 10, 1, 10, tzinfo=CN),
    "paid_at": dt.datetime(2026, 10, 1, 10, 1, tzinfo=CN),
    "received_at": dt.datetime(2026, 10, 9, tzinfo=CN),
    "order_status": "已完成",
}


def test_a_good_order_passes():
    assert failures("orders", [GOOD_ORDER]) == []


def test_order_value_checks_run_and_are_named_by_code():
    rows = [
        GOOD_ORDER,
        {**GOOD_ORDER, "quantity": 0},
        {**GOOD_ORDER, "payable": -1},
        {**GOOD_ORDER, "product_id": "12345"},
        {**GOOD_ORDER, "paid_at": dt.datetime(2026, 9, 30, tzinfo=CN)},
        {**GOOD_ORDER, "received_at": dt.datetime(2026, 10, 1, 10, tzinfo=CN)},
        {**GOOD_ORDER, "order_id": None},
        {**GOOD_ORDER, "payable": 1_000_000_001},
    ]
    assert failures("orders", rows) == [
        (1, "quantity", "quantity-not-positive"),
        (2, "payable", "money-out-of-range"),
        (3, "product_id", "bad-id"),
        (4, "paid_at", "time-order"),
        (5, "received_at", "time-order"),
        (6, "order_id", "not_nullable"),
        (7, "payable", "money-out-of-range"),
    ]


def test_bill_amounts_may_be_negative_but_bounded():
    row = {
        "settled_at": dt.datetime(2026, 11, 1, 10, tzinfo=CN),
        "order_id": "6900000000000000001",
        "sub_order_id": "6950000000000000001",
        "settle_amount": -500,
        "platform_fee": -295,
    }
    assert failures("bill", [row, {**row, "platform_fee": -1_000_000_001}]) == [
        (1, "platform_fee", "money-out-of-range")
    ]


def test_a_cost_row_needs_a_key():
    assert failures("costs", [{"cost": 100, "merchant_code": "A-1"}, {"cost": 100}]) == [
        (1, "merchant_code", "missing-key")
    ]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_spec_matches_its_model(kind):
    k = KINDS[kind]
    schema = k.model.to_schema()
    assert list(schema.columns) == k.spec.names
    for column in k.spec.columns:
        assert schema.columns[column.name].nullable == column.nullable, column.name


def test_kind_subset_keeps_the_unique_key_and_refuses_unknown_columns():
    from schemas import KINDS

    sub = KINDS["orders"].subset(["payable", "order_status"])
    assert sub.spec.names == ["sub_order_id", "payable", "order_status"]
    assert list(sub.schema().columns) == ["sub_order_id", "payable", "order_status"]
    assert set(sub.spec.statuses) == {"order_status"}
    with pytest.raises(ValueError, match="orders has no column nope"):
        KINDS["orders"].subset(["nope"])
