"""The merchant's own cost file (成本价), keyed by SKU ID or 商家编码 (also written 货号,
or 型号 in some cost files: `型号, 成本价`). Key: 成本价."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from schemas import checks
from schemas.base import KindSpec, RowChecks, col, model_of

SPEC = KindSpec(
    name="costs",
    title="成本价",
    columns=(
        col("sku_id", "id", "SKU ID", "SKUID"),
        col("merchant_code", "text", "商家编码", "货号", "型号"),
        col("cost", "money", "成本价(元)", "成本价", "成本", required=True, nullable=False),
    ),
)


class _Checks(RowChecks):
    @pa.check("sku_id", name="bad-id")
    def _ids(cls, data):
        return checks.is_id(data)

    @pa.check("cost", name="money-out-of-range")
    def _money(cls, data):
        return checks.money_unsigned(data)

    @pa.check("merchant_code", name="missing-key")
    def _has_key(cls, data):
        return data.lazyframe.select(
            pl.col("sku_id").is_not_null() | pl.col("merchant_code").is_not_null()
        )


Costs = model_of(
    SPEC, _Checks, """A valid cost row: a key (SKU ID or 商家编码) and the cost in fen."""
)
