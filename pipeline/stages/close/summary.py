"""The close's counts and fen, in total and per shop, for summary.json.

Each section is first reduced to a small table of (shop_id, key, numbers) by polars;
the summary dicts are built from those few aggregate rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from pipeline.stages.close.checks import BILL_FORMULAS
from pipeline.stages.close.other import REFUND_NOT_USED, SETTLEMENT_NOT_USED, UNCLASSIFIED
from pipeline.stages.close.refunds import NOT_REFUNDED
from pipeline.stages.close.scope import NOT_IN_SCOPE, REASONS

FUNDS_STATUSES = (
    "matched", "amount-mismatch", "missing-fund", "multiple-candidates", "account-mismatch",
    "fund-not-billed", "not-in-scope",
)  # fmt: skip
REFUND_STATUSES = (
    "matched", "amount-mismatch", "missing-fund", "multiple-candidates", "outside-window",
    "not-comparable", NOT_REFUNDED,
)  # fmt: skip
FUND_PLACES = ("settlement", "fund-not-billed", "refund", "other", NOT_IN_SCOPE)


def _agg(frame: pl.LazyFrame, key: pl.Expr | str, **values: pl.Expr) -> pl.DataFrame:
    """(shop_id, key, values...) over the frame's rows: a few aggregate rows."""
    key = pl.col(key) if isinstance(key, str) else key
    return (
        frame.group_by(pl.col("shop_id"), key.alias("key"))
        .agg(**values)
        .collect(engine="streaming")
    )


@dataclass
class Facts:
    """The aggregate tables: each (shop_id, key, n[, fen, ...])."""

    tables: dict[str, pl.DataFrame]

    @classmethod
    def gather(cls, bill, funds, not_billed, refunds, other, away, places, checks,
               order_bad, orders, account, breaks) -> Facts:  # fmt: skip  # noqa: ANN001
        """The tables over the close's frames; `places` is `fund_places`' (shop_id,
        place) of every fund row."""
        n = pl.len().alias("n")
        diff = (pl.col("paid").fill_null(0) - pl.col("settle_amount")).sum()
        funds_rows = pl.concat([
            _agg(funds, "funds_status", n=n, fen=diff, late=pl.col("time_warning").sum()),
            _agg(not_billed, pl.lit("fund-not-billed"), n=n, fen=pl.col("signed").sum(), late=pl.lit(0, pl.UInt32)),
            _agg(bill.filter(pl.col("bill_class") == "other"), pl.lit("not-in-scope"), n=n,
                 fen=pl.lit(0, pl.Int64), late=pl.lit(0, pl.UInt32)),
        ], how="vertical_relaxed")  # fmt: skip
        refund_fen = (pl.col("paid").fill_null(0) - pl.col("billed")).sum()
        failed = checks.select("shop_id", "bill_row").unique()
        return cls({
            "funds": funds_rows,
            "refunds": _agg(refunds, "status", n=n, fen=refund_fen),
            "other": _agg(other, "category", n=n, fen=pl.col("amount").sum(),
                          odd=pl.col("unexpected_direction").sum()),
            "away": _agg(away, "reason", n=n, fen=pl.col("amount").sum()),
            "checks": _agg(checks, "formula", n=n),
            "failed": _agg(failed, pl.lit("failed"), n=n),
            "bill_rows": _agg(bill, pl.lit("rows"), n=n),
            "order_bad": _agg(order_bad, pl.lit("failed"), n=n),
            "orders": _agg(_with_shop(orders), pl.lit("rows"), n=n),
            "fund_rows": _agg(places, "place", n=n),
            "breaks": _agg(breaks, pl.lit("breaks"), n=n),
            "account_rows": _agg(_with_shop(account), pl.lit("rows"), n=n),
        })  # fmt: skip

    def _section(self, shop: object) -> dict[str, Any]:
        def rows(name: str) -> pl.DataFrame:
            t = self.tables[name]
            return t if shop is _ALL else t.filter(pl.col("shop_id").eq_missing(shop))

        def total(name: str, key: str | None = None, col: str = "n") -> int:
            t = rows(name)
            t = t if key is None else t.filter(pl.col("key") == key)
            return int(t.get_column(col).sum())

        funds = {s: total("funds", s) for s in FUNDS_STATUSES}
        funds["difference_total"] = total("funds", col="fen")
        funds["time_warnings"] = total("funds", col="late")
        refunds = {s: total("refunds", s) for s in REFUND_STATUSES}
        refunds["difference_total"] = total("refunds", col="fen")
        other = rows("other").group_by("key").agg(pl.col("n", "fen", "odd").sum()).sort("key")
        return {
            "bill_checks": {
                "rows": total("bill_rows"),
                "failed": total("failed"),
                "by_formula": {f: total("checks", f) for f in BILL_FORMULAS},
            },
            "order_checks": {"rows": total("orders"), "failed": total("order_bad")},
            "funds": funds,
            "refunds": refunds,
            "other_funds": {
                k: {"rows": int(n), "fen": int(f), "unexpected_direction": int(o)}
                for k, n, f, o in other.iter_rows()  # one row per category
            },
            "balance": {"rows": total("account_rows"), "breaks": total("breaks")},
            "not_in_scope": {r: {"rows": total("away", r), "fen": total("away", r, "fen")} for r in REASONS},
            "fund_rows": {"rows": total("fund_rows"), **{p: total("fund_rows", p) for p in FUND_PLACES}},
        }  # fmt: skip

    def shops(self) -> list[object]:
        ids = pl.concat([t.select(pl.col("shop_id").cast(pl.String)) for t in self.tables.values()])
        return ids.unique().sort("shop_id", nulls_last=True).get_column("shop_id").to_list()

    def summary(self) -> dict[str, Any]:
        per_shop = [{"shop_id": s, **self._section(s)} for s in self.shops()]
        return {**self._section(_ALL), "per_shop": per_shop}

    def agree(self) -> bool:
        """All three records agree: every ordinary bill row matched, every refund row
        matched, no formula or payable failing, no order money left unused, nothing
        unclassified or moving against its rule, no balance break."""
        s = self._section(_ALL)
        funds_ok = all(
            s["funds"][k] == 0 for k in FUNDS_STATUSES if k not in ("matched", "not-in-scope")
        )
        refunds_ok = all(s["refunds"][k] == 0 for k in REFUND_STATUSES if k != "matched")
        other = s["other_funds"]
        odd = any(v["unexpected_direction"] for v in other.values())
        left = any(k in other for k in (UNCLASSIFIED, SETTLEMENT_NOT_USED, REFUND_NOT_USED))
        return (funds_ok and refunds_ok and not odd and not left and s["bill_checks"]["failed"] == 0
                and s["order_checks"]["failed"] == 0 and s["balance"]["breaks"] == 0)  # fmt: skip


_ALL = object()


def fund_places(fund, funds, not_billed, refund_used, other, away) -> pl.LazyFrame:  # noqa: ANN001
    """(shop_id, place) of every fund row: where it went (FUND_PLACES; `lost` for none)."""
    paid_rows = funds.filter(pl.col("fund_row").is_not_null()).select("fund_row")
    where = pl.concat([
        paid_rows.with_columns(pl.lit("settlement").alias("place")),
        not_billed.select("fund_row", pl.lit("fund-not-billed").alias("place")),
        refund_used.select("fund_row", pl.lit("refund").alias("place")),
        other.select("fund_row", pl.lit("other").alias("place")),
        away.select("fund_row", pl.lit(NOT_IN_SCOPE).alias("place")),
    ])  # fmt: skip
    return (
        fund.select("fund_row", "shop_id")
        .join(where, on="fund_row", how="left")
        .select("shop_id", pl.col("place").fill_null("lost"))
    )


def _with_shop(frame: pl.LazyFrame) -> pl.LazyFrame:
    if "shop_id" in frame.collect_schema().names():
        return frame
    return frame.with_columns(pl.lit(None, pl.String).alias("shop_id"))
