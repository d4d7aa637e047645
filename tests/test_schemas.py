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


#: A good order row and one of each broken kind.
ORDERS_BROKEN = [
    GOOD_ORDER,
    {**GOOD_ORDER, "quantity": 0},
    {**GOOD_ORDER, "payable": -1},
    {**GOOD_ORDER, "product_id": "12345"},
    {**GOOD_ORDER, "paid_at": dt.datetime(2026, 9, 30, tzinfo=CN)},
    {**GOOD_ORDER, "received_at": dt.datetime(2026, 10, 1, 10, tzinfo=CN)},
    {**GOOD_ORDER, "order_id": None},
    {**GOOD_ORDER, "payable": 1_000_000_001},
]


def test_order_value_checks_run_and_are_named_by_code():
    assert failures("orders", ORDERS_BROKEN) == [
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
def test_every_model_is_generated_from_its_spec(kind):
    """One declaration: the model's columns, dtypes and nullability are the spec's, and
    the spec's headers travel in each field's metadata."""
    k = KINDS[kind]
    schema = k.model.to_schema()
    assert list(schema.columns) == k.spec.names
    for column in k.spec.columns:
        field = schema.columns[column.name]
        assert field.dtype.type == column.dtype, column.name
        assert field.nullable == column.nullable, column.name
        assert field.metadata == {
            "type": column.type,
            "headers": column.headers,
            "required": column.required,
        }


def test_model_checks_keep_their_finding_codes():
    checks = {
        name: sorted({c.name for c in col.checks})
        for name, col in KINDS["orders"].model.to_schema().columns.items()
        if col.checks
    }
    assert checks == {
        "order_id": ["bad-id"],
        "sub_order_id": ["bad-id"],
        "quantity": ["quantity-not-positive"],
        "product_id": ["bad-id"],
        "unit_price": ["money-out-of-range"],
        "payable": ["money-out-of-range"],
        "freight": ["money-out-of-range"],
        "platform_discount": ["money-out-of-range"],
        "creator_discount": ["money-out-of-range"],
        "payment_discount": ["money-out-of-range"],
        "paid_at": ["time-order"],
        "received_at": ["time-order"],
        "creator_id": ["bad-id"],
        "shop_id": ["bad-shop-id"],
    }


def test_keys_and_stage_needs():
    orders = KINDS["orders"]
    assert orders.spec.keys == ["order_id", "sub_order_id"]
    assert orders.needed == ["order_id", "sub_order_id"]
    assert orders.for_stage("settle").needed == [
        "order_id", "sub_order_id", "payable", "freight", "received_at", "order_status",
        "after_sale_status",
    ]  # fmt: skip
    assert orders.for_stage("shipping-mode").needed[2:] == [
        "paid_at",
        "promised_ship_at",
        "product_id",
    ]
    assert orders.for_stage("price").needed == ["order_id", "sub_order_id"]
    for kind in KINDS.values():  # every stage's need is a column of the kind
        for stage, names in kind.spec.needs.items():
            assert set(names) <= set(kind.spec.names), (kind.spec.name, stage)


def test_an_absent_column_loses_only_its_non_null_rule():
    rows = [{**GOOD_ORDER, "product_id": None}, {**GOOD_ORDER, "product_id": None, "quantity": 0}]
    schema = KINDS["orders"].schema(absent={"product_id"})
    with pytest.raises(pandera.errors.SchemaErrors) as exc:
        schema.validate(frame("orders", rows), lazy=True)
    cases = exc.value.failure_cases
    assert cases.select("index", "column", "check").rows() == [
        (1, "quantity", "quantity-not-positive")
    ]


def test_status_words_come_from_the_policy():
    from pipeline.policy import default_words

    spec = KINDS["after-sales"].with_words(default_words()).spec
    words = pl.Series(
        ["同意退款，退款成功", "补寄/换货成功", "售后已拒绝", "待商家收货", "退款已到账"]
    )
    known = pl.select(spec.statuses["after_sale_status"].known(pl.lit(words))).to_series()
    assert known.to_list() == [True, True, True, True, False]
    orders = KINDS["orders"].with_words(default_words()).spec.statuses["order_status"]
    assert {"待发货", "已支付", "已完成"} <= orders.exact


def rule_failures(kind: str, rows: list[dict], absent: frozenset[str] = frozenset()):
    """What the streaming plan's rules (`pipeline.validation.rules`) find on the same
    typed rows, in pandera's terms (index, column, check)."""
    from pipeline.canonical.cells import code_column
    from pipeline.validation.rules import model_rules

    typed = frame(kind, rows).with_columns(
        pl.lit(None, pl.String).alias(code_column(c)) for c in KINDS[kind].spec.names
    )
    present = set(KINDS[kind].spec.names) - absent
    found = []
    for rule in model_rules(KINDS[kind].schema(absent), present):
        hits = typed.select(rule.fails.arg_true()).to_series().to_list()
        code = "not_nullable" if rule.code == "missing-value" else rule.code
        found += [(i, rule.name, code) for i in hits]
    return sorted(found, key=lambda f: (f[0], f[1]))


@pytest.mark.parametrize(
    "kind, rows, absent",
    [
        (
            "orders",
            [*ORDERS_BROKEN, {**GOOD_ORDER, "shop_id": "-1", "creator_id": "x", "order_id": None}],
            frozenset(),
        ),
        ("orders", [{**GOOD_ORDER, "product_id": None, "quantity": 0}], frozenset({"product_id"})),
        ("costs", [{"cost": 100, "merchant_code": "A-1"}, {"cost": -1}], frozenset()),
    ],
)
def test_the_streaming_rules_are_the_models_checks(kind, rows, absent):
    """The plan that checks a whole file applies the model's own checks, named as the
    model names them: on the same rows it finds exactly what pandera finds."""
    try:
        KINDS[kind].schema(absent).validate(frame(kind, rows), lazy=True)
        want = []
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases.filter(pl.col("index").is_not_null())
        want = sorted(cases.select("index", "column", "check").rows(), key=lambda f: (f[0], f[1]))
    assert want  # the rows do break rules
    assert rule_failures(kind, rows, absent) == want
