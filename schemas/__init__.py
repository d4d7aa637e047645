"""The data contract: one module per export kind, each declaring its columns once in
its `SPEC` (headers, aliases, canonical types, nullability, keys, per-stage needs), from
which its pandera model (`model_of`, with the kind's named row checks) is generated."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

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
from schemas.base import ColumnSpec, KindSpec, Vocabulary, normalize_header

if TYPE_CHECKING:
    from pipeline.policy import StatusWords


@dataclass(frozen=True)
class Kind:
    spec: KindSpec
    model: type[pa.DataFrameModel]
    #: the stage the kind is read for (None: `doudian validate`, the keys only)
    stage: str | None = None

    def for_stage(self, stage: str | None) -> Kind:
        """The kind as `stage` reads it: the file must also have the columns the stage
        needs (`KindSpec.needs`). Every cell is still checked, so every stage rejects
        exactly the rows `doudian validate` rejects."""
        return replace(self, stage=stage)

    @property
    def needed(self) -> list[str]:
        """The columns a file must have for this kind's stage: its keys, then the
        stage's further needs."""
        extra = self.spec.needs.get(self.stage, ()) if self.stage else ()
        return [*self.spec.keys, *(c for c in extra if c not in self.spec.keys)]

    def with_words(self, words: StatusWords) -> Kind:
        """The kind with the policy's status words for its status columns."""
        if not self.spec.status_words:
            return self
        policy = {c: words.vocabulary(v) for c, v in self.spec.status_words.items()}
        return replace(self, spec=replace(self.spec, statuses={**self.spec.statuses, **policy}))

    def schema(self, absent: Collection[str] = ()) -> pa.DataFrameSchema:
        """The pandera schema of the model; the columns `absent` from a file (all null)
        lose their non-null rule, their other checks pass nulls."""
        schema = self.model.to_schema()
        relax = {c: {"nullable": True} for c in absent if not schema.columns[c].nullable}
        return schema.update_columns(relax) if relax else schema


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

__all__ = ["KINDS", "Kind", "KindSpec", "ColumnSpec", "Vocabulary", "normalize_header"]
