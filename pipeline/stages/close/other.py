"""The fund rows that are not paid to a bill row: classified.

Order money that no bill row took keeps a fixed category: `settlement-not-used` (a
settlement row of a billed sub-order that was not paid to its bill row: another
candidate, a second payment) and `refund-not-used` (a refund row in no attributed group).
Every other row gets the category of the first scene rule of the policy that matches it,
or `unclassified`; a row moving against its rule's direction is flagged. Unclassified
rows are listed first."""

from __future__ import annotations

import polars as pl

from pipeline.stages.close.policy import CloseRules

UNCLASSIFIED = "unclassified"
SETTLEMENT_NOT_USED = "settlement-not-used"
REFUND_NOT_USED = "refund-not-used"

OTHER_COLUMNS = (
    "category", "shop_id", "flow_time", "flow_id", "direction", "amount", "scene", "remark",
    "sub_order_id", "after_sale_id", "expected_direction", "unexpected_direction",
    "source_file", "source_row",
)  # fmt: skip


def settlement_candidate(rules: CloseRules) -> pl.Expr:
    """A fund row of ordinary settlement: the scene, 入账, with a 子订单号."""
    return (
        (pl.col("scene") == rules.settlement_scene)
        & (pl.col("direction") == "入账")
        & pl.col("sub_order_id").is_not_null()
    ).fill_null(False)


def refund_candidate(rules: CloseRules) -> pl.Expr:
    """A fund row of a refund: the scene starts with the refund prefix."""
    return pl.col("scene").str.starts_with(rules.refund_scene_prefix).fill_null(False)


def classify(rest: pl.LazyFrame, rules: CloseRules) -> pl.LazyFrame:
    """Fund rows no bill row took (with `fund_row`, `signed`) -> OTHER_COLUMNS plus
    fund_row (in no order: `in_order` sorts them)."""
    category: pl.Expr = pl.when(settlement_candidate(rules)).then(pl.lit(SETTLEMENT_NOT_USED))
    category = category.when(refund_candidate(rules)).then(pl.lit(REFUND_NOT_USED))
    direction = pl.when(pl.lit(False)).then(pl.lit(None, pl.String))
    for rule in rules.scenes:
        category = category.when(rule.matches()).then(pl.lit(rule.category))
    for rule in rules.scenes:
        direction = direction.when(rule.matches()).then(pl.lit(rule.direction, pl.String))
    out = rest.with_columns(
        category.otherwise(pl.lit(UNCLASSIFIED)).alias("category"),
        pl.when(settlement_candidate(rules) | refund_candidate(rules))
        .then(pl.lit(None, pl.String))
        .otherwise(direction)
        .alias("expected_direction"),
    ).with_columns(
        (pl.col("expected_direction").is_not_null()
         & (pl.col("expected_direction") != pl.col("direction"))).alias("unexpected_direction"),
        pl.col("signed").alias("amount"),
    )  # fmt: skip
    return out.select(*OTHER_COLUMNS, "fund_row")


def in_order(other: pl.LazyFrame) -> pl.LazyFrame:
    """Classified rows: unclassified first, then by category, time and flow number."""
    return other.sort(pl.col("category") != UNCLASSIFIED, "category", "flow_time", "flow_id")
