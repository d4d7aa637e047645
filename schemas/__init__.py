"""The data contract: one module per export kind, each with its `SPEC` (headers,
aliases, canonical types) and its pandera `DataFrameModel` (row rules)."""

from __future__ import annotations

from dataclasses import dataclass

import pandera.polars as pa

from schemas import after_sales, bill, commissions, costs, metrics, orders, products
from schemas.base import ColumnSpec, KindSpec, normalize_header


@dataclass(frozen=True)
class Kind:
    spec: KindSpec
    model: type[pa.DataFrameModel]


KINDS: dict[str, Kind] = {
    "orders": Kind(orders.SPEC, orders.Orders),
    "after-sales": Kind(after_sales.SPEC, after_sales.AfterSales),
    "bill": Kind(bill.SPEC, bill.Bill),
    "products": Kind(products.SPEC, products.Products),
    "costs": Kind(costs.SPEC, costs.Costs),
    "commissions": Kind(commissions.SPEC, commissions.Commissions),
    "metrics": Kind(metrics.SPEC, metrics.Metrics),
}

__all__ = ["KINDS", "Kind", "KindSpec", "ColumnSpec", "normalize_header"]
