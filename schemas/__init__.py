"""The data contract: one module per export kind, each with its `SPEC` (headers,
aliases, canonical types) and its pandera `DataFrameModel` (row rules)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace

import pandera.polars as pa

from schemas import (
    account_flow,
    after_sales,
    bill,
    commissions,
    costs,
    fund_flow,
    metrics,
    orders,
    products,
)
from schemas.base import ColumnSpec, KindSpec, normalize_header


@dataclass(frozen=True)
class Kind:
    spec: KindSpec
    model: type[pa.DataFrameModel]
    #: the columns read and checked (None: all of them); see `subset`
    only: tuple[str, ...] | None = None

    def subset(self, names: Collection[str]) -> Kind:
        """The kind restricted to `names` (kept in the spec's order): a stage reads and
        checks the cells it uses. The unique key is always kept, so duplicates are
        still found; a check comparing two columns needs both to be listed."""
        wanted = set(names) | set(self.spec.key_columns)
        unknown = wanted - set(self.spec.names)
        if unknown:
            raise ValueError(f"{self.spec.name} has no column {', '.join(sorted(unknown))}")
        columns = tuple(c for c in self.spec.columns if c.name in wanted)
        statuses = {k: v for k, v in self.spec.statuses.items() if k in wanted}
        spec = replace(self.spec, columns=columns, statuses=statuses)
        return Kind(spec, self.model, tuple(c.name for c in columns))

    def schema(self) -> pa.DataFrameSchema:
        """The pandera schema of the model (of the subset's columns)."""
        schema = self.model.to_schema()
        return schema if self.only is None else schema.select_columns(list(self.only))


KINDS: dict[str, Kind] = {
    "orders": Kind(orders.SPEC, orders.Orders),
    "after-sales": Kind(after_sales.SPEC, after_sales.AfterSales),
    "bill": Kind(bill.SPEC, bill.Bill),
    "fund-flow": Kind(fund_flow.SPEC, fund_flow.FundFlow),
    "account-flow": Kind(account_flow.SPEC, account_flow.AccountFlow),
    "products": Kind(products.SPEC, products.Products),
    "costs": Kind(costs.SPEC, costs.Costs),
    "commissions": Kind(commissions.SPEC, commissions.Commissions),
    "metrics": Kind(metrics.SPEC, metrics.Metrics),
}

__all__ = ["KINDS", "Kind", "KindSpec", "ColumnSpec", "normalize_header"]
