"""Shipping modes (发货模式) and bulk changes, with the 60-day spot-share guard
.

In: valid typed rows of the order export (`schemas.orders`) and of the product export
(`schemas.products`, one row per SKU) as LazyFrames, an as-of date and a
`ShippingPolicy`. Out: the shop's `SpotShare` and a `Plan` with one row per product
(商品ID) saying what happens to it: `tiered` (to 阶梯发货), `presale` (to 全款预售),
`skipped` with a reason, or `unchanged`; and the frames the command writes from it
(upload file, open-platform payloads, skipped list, summary). No file I/O here; every
share bound is compared exactly, in integers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from pipeline.errors import EXIT_INELIGIBLE, EXIT_OK, EXIT_REJECTED, DoudianError, UsageError
from schemas.base import CHINA_TZ

SPOT, TIERED, PRESALE = "现货发货", "阶梯发货", "全款预售"

#: Exit codes of `shipping-mode` and `check tiered-shipping`.
EXIT_WARNING = EXIT_REJECTED

#: Open-platform field values: presell_type and the spot part's delivery_delay_day.
PRESELL_TYPE = {SPOT: 0, PRESALE: 1, TIERED: 2}
DELIVERY_DELAY_DAY = {"当日发": 9999, "次日发": 1, "48小时": 2}
#: The spot quantity of a tiered product ships in 48 hours.
TIERED_SPOT_PROMISE = "48小时"

#: Why a product is skipped, in the order they are decided.
SKIP_REASONS = {
    "inconsistent-skus": "the product's SKUs disagree on 发货模式 or 承诺发货时间, and one of them needs a change",
    "unknown-ship-mode": "发货模式 is empty or not 现货发货 / 阶梯发货 / 全款预售",
    "unknown-promise": "on 现货发货 with a 承诺发货时间 that is empty or not 当日发 / 次日发 / N小时 / N天",
    "shop-ineligible": "the shop's spot share is below the warning line: no tiered switch",
    "unknown-stock": "a SKU's 库存 is empty, so the spot and tiered stock cannot be set",
    "would-break-spot-share": "switching it would take the projected spot share below --min-share",
}

#: Products in the numeric order of their 商品ID (16-19 digits: fits an unsigned 64-bit),
#: then as text (only leading zeros could tie).
ID_ORDER = [pl.col("product_id").cast(pl.UInt64), pl.col("product_id")]

UPLOAD_COLUMNS = {
    "product_id": "商品ID",
    "product_title": "商品名称",
    "ship_mode": "原发货模式",
    "promise": "原承诺发货时间",
    "new_mode": "新发货模式",
    "spot_promise": "现货发货时效",
    "new_days": "阶梯/预售发货天数",
    "spot_stock": "现货库存",
    "step_stock": "阶梯库存",
    "change_reason": "变更原因",
}


# --- Policy -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SpotStock:
    """The spot stock (现货库存) of a product switched to 阶梯发货: `units` per product
    (capped at its stock) or `ratio` of its stock, rounded down."""

    units: int | None = None
    ratio: Fraction | None = None

    def expr(self, stock: pl.Expr) -> pl.Expr:
        if self.ratio is not None:
            return (stock * self.ratio.numerator) // self.ratio.denominator
        return pl.min_horizontal(stock, pl.lit(self.units or 0, pl.Int64))


@dataclass(frozen=True)
class ShippingPolicy:
    """The `[shipping]` section of a policy (pipeline/policies/default/shipping.toml)."""

    window_days: int
    spot_max_hours: int
    ok_share: Fraction
    warning_share: Fraction
    tiered_days: tuple[int, int]
    presale_days: tuple[int, int]
    custom_keywords: tuple[str, ...]
    custom_categories: tuple[str, ...]
    spot_stock: SpotStock

    @classmethod
    def from_section(cls, name: str, section: dict[str, Any]) -> ShippingPolicy:
        """Checks every key; a bad one raises UsageError naming the policy and key."""

        def fail(key: str, problem: str) -> UsageError:
            return UsageError(f"{{opt:policy}} {name}: [shipping] {key}: {problem}")

        def integer(key: str, low: int) -> int:
            value = section.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise fail(key, f"must be a whole number >= {low}, not {value!r}")
            return value

        def share(key: str) -> Fraction:
            try:
                return parse_share(section.get(key))
            except ValueError as exc:
                raise fail(key, str(exc)) from None

        def day_range(key: str) -> tuple[int, int]:
            value = section.get(key)
            if (
                not isinstance(value, list)
                or len(value) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
                or not 1 <= value[0] <= value[1]
            ):
                raise fail(
                    key, f"must be [min, max] whole days with 1 <= min <= max, not {value!r}"
                )
            return value[0], value[1]

        def texts(key: str) -> tuple[str, ...]:
            value = section.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise fail(key, f"must be a list of non-empty texts, not {value!r}")
            return tuple(value)

        unknown = sorted(set(section) - _POLICY_KEYS)
        if unknown:
            raise fail(unknown[0], f"unknown key (known: {', '.join(sorted(_POLICY_KEYS))})")
        ok, warning = share("ok_share"), share("warning_share")
        if warning > ok:
            raise fail("warning_share", "must not be above ok_share")
        if section.get("spot_stock_ratio") is not None:
            spot_stock = SpotStock(ratio=share("spot_stock_ratio"))
        else:
            spot_stock = SpotStock(units=integer("spot_stock", 0))
        return cls(
            window_days=integer("window_days", 1),
            spot_max_hours=integer("spot_max_hours", 0),
            ok_share=ok,
            warning_share=warning,
            tiered_days=day_range("tiered_days"),
            presale_days=day_range("presale_days"),
            custom_keywords=texts("custom_keywords"),
            custom_categories=texts("custom_categories"),
            spot_stock=spot_stock,
        )


_POLICY_KEYS = {
    "window_days",
    "spot_max_hours",
    "ok_share",
    "warning_share",
    "tiered_days",
    "presale_days",
    "custom_keywords",
    "custom_categories",
    "spot_stock",
    "spot_stock_ratio",
}


def parse_share(value: object) -> Fraction:
    """A share between 0 and 1 as an exact fraction: "0.55", 0.55 (a TOML float: its
    shortest decimal text, so exactly 55/100) or "11/20"."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be a share between 0 and 1, not {value!r}")
    try:
        share = Fraction(str(value).strip())
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"must be a share between 0 and 1, not {value!r}") from None
    if not 0 <= share <= 1:
        raise ValueError(f"must be a share between 0 and 1, not {value!r}")
    return share


# --- The spot share -----------------------------------------------------------------------


@dataclass(frozen=True)
class SpotShare:
    """Paid sub-orders in [window_start, window_end) and how many of them are spot."""

    spot: int
    total: int
    window_start: dt.datetime
    window_end: dt.datetime
    status: str

    @property
    def non_spot(self) -> int:
        return self.total - self.spot

    def as_dict(self) -> dict[str, Any]:
        """The `check tiered-shipping --json` object."""
        return {
            "spot_share": rounded_share(self.spot, self.total),
            "status": self.status,
            "spot_sub_orders": self.spot,
            "non_spot_sub_orders": self.non_spot,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
        }


def window(as_of: dt.date, days: int) -> tuple[dt.datetime, dt.datetime]:
    """[as_of - days, as_of), both at 00:00 China time."""
    tz = ZoneInfo(CHINA_TZ)
    end = dt.datetime.combine(as_of, dt.time(), tz)
    start = dt.datetime.combine(as_of - dt.timedelta(days=days), dt.time(), tz)
    return start, end


def at_least(spot: int, total: int, share: Fraction) -> bool:
    """spot / total >= share, in integers (an empty window passes every bound)."""
    return spot * share.denominator >= share.numerator * total


def share_status(spot: int, total: int, policy: ShippingPolicy) -> str:
    if at_least(spot, total, policy.ok_share):
        return "ok"
    if at_least(spot, total, policy.warning_share):
        return "warning"
    return "ineligible"


def rounded_share(spot: int, total: int) -> float | None:
    """spot / total rounded half-up to 4 decimals (None for an empty window)."""
    if total == 0:
        return None
    return ((spot * 20000 + total) // (2 * total)) / 10000


def window_orders(orders: pl.LazyFrame, as_of: dt.date, policy: ShippingPolicy) -> pl.LazyFrame:
    """The paid sub-orders of the window (one row each, whatever the quantity):
    product_id and `spot` (承诺发货时间 at most spot_max_hours after 支付完成时间; a
    sub-order without a 承诺发货时间 is not spot)."""
    start, end = window(as_of, policy.window_days)
    paid = pl.col("paid_at")
    return orders.filter(paid.is_not_null() & (paid >= start) & (paid < end)).select(
        "product_id", spot_flag(policy)
    )


def spot_flag(policy: ShippingPolicy) -> pl.Expr:
    """`spot`: 承诺发货时间 at most spot_max_hours after 支付完成时间 (false without a
    承诺发货时间)."""
    delay = pl.col("promised_ship_at") - pl.col("paid_at")
    return (delay <= pl.duration(hours=policy.spot_max_hours)).fill_null(False).alias("spot")


def measure(orders: pl.LazyFrame, as_of: dt.date, policy: ShippingPolicy) -> SpotShare:
    """The shop's spot share and status over the window."""
    counts = (
        window_orders(orders, as_of, policy)
        .select(pl.len().alias("total"), pl.col("spot").sum().alias("spot"))
        .collect()
    )
    total, spot = int(counts["total"][0]), int(counts["spot"][0] or 0)
    start, end = window(as_of, policy.window_days)
    return SpotShare(spot, total, start, end, share_status(spot, total, policy))


def shop_ids(*frames: pl.LazyFrame) -> list[str]:
    """The distinct 店铺ID values of the frames (empty for single-shop exports)."""
    ids = pl.concat([f.select("shop_id") for f in frames]).drop_nulls().unique()
    return sorted(ids.collect().get_column("shop_id").to_list())


# --- The plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """One row per product (商品ID), sorted by product_id: outcome is `tiered`,
    `presale`, `skipped` (with `reason`) or `unchanged`."""

    share: SpotShare
    min_share: Fraction
    projected_spot: int
    products: pl.DataFrame

    @property
    def projected_share(self) -> float | None:
        return rounded_share(self.projected_spot, self.share.total)


def _promise() -> tuple[pl.Expr, pl.Expr]:
    """(hours, days) of a product export's 承诺发货时间: 当日发 0 h, 次日发 24 h,
    `N小时` N h (ceil(N/24) days), `N天` N days; null when it is none of those."""
    text = pl.col("promise").str.strip_chars()
    n_days = text.str.extract(r"^(\d{1,6})天$", 1).cast(pl.Int64, strict=False)
    n_hours = text.str.extract(r"^(\d{1,6})小时$", 1).cast(pl.Int64, strict=False)
    hours = (
        pl.when(text == "当日发")
        .then(0)
        .when(text == "次日发")
        .then(24)
        .otherwise(pl.coalesce(n_days * 24, n_hours))
    )
    days = (
        pl.when(text == "当日发")
        .then(0)
        .when(text == "次日发")
        .then(1)
        .otherwise(pl.coalesce(n_days, (n_hours + 23) // 24))
    )
    return hours, days


def products_by_id(
    products: pl.LazyFrame, policy: ShippingPolicy, keywords: tuple[str, ...]
) -> pl.LazyFrame:
    """The SKU rows of the product export folded to one row per product: the first
    non-empty title, mode and promise (as text and in days), total stock (null when a
    SKU's 库存 is empty), custom or not, and `state`: `spot-ok`, `other-mode`,
    `unknown-mode`, `unknown-promise`, `candidate`, or `inconsistent` (SKUs disagree
    and one of them is not spot-ok / other-mode)."""
    hours, days = _promise()
    mode = pl.col("ship_mode").str.strip_chars()
    sku_state = (
        pl.when(mode.is_in([TIERED, PRESALE]))
        .then(pl.lit("other-mode"))
        .when(mode.is_null() | (mode != SPOT))
        .then(pl.lit("unknown-mode"))
        .when(pl.col("hours").is_null())
        .then(pl.lit("unknown-promise"))
        .when(pl.col("hours") > policy.spot_max_hours)
        .then(pl.lit("candidate"))
        .otherwise(pl.lit("spot-ok"))
    )
    title = pl.col("product_title").fill_null("")
    by_title = title.str.contains_any(list(keywords)) if keywords else pl.lit(False)
    by_category = pl.col("category").is_in(list(policy.custom_categories)).fill_null(False)
    consistent = (pl.col("mode").n_unique() == 1) & (pl.col("promise").n_unique() == 1)
    needs_action = pl.col("sku_state").is_in(["candidate", "unknown-promise", "unknown-mode"]).any()
    state = (
        pl.when(consistent)
        .then(pl.col("sku_state").first())
        .when(needs_action)
        .then(pl.lit("inconsistent"))
        .otherwise(pl.lit("spot-ok"))
    )
    return (
        products.with_columns(
            mode.alias("mode"),
            pl.col("promise").str.strip_chars(),
            hours.alias("hours"),
            days.alias("days"),
        )
        .with_columns(sku_state.alias("sku_state"), (by_title | by_category).alias("custom"))
        .group_by("product_id", maintain_order=True)
        .agg(
            pl.col("product_title").drop_nulls().first(),
            pl.col("mode").drop_nulls().first().alias("ship_mode"),
            pl.col("promise").drop_nulls().first(),
            pl.col("days").drop_nulls().first(),
            pl.when(pl.col("stock").null_count() == 0).then(pl.col("stock").sum()).alias("stock"),
            pl.col("custom").any(),
            state.alias("state"),
        )
    )


def _first_outcome(ineligible: bool) -> pl.Expr:
    """A product's outcome before the tiered budget: unchanged, presale, skipped, or a
    tiered candidate."""
    state = pl.col("state")
    return (
        pl.when(state.is_in(["spot-ok", "other-mode"]))
        .then(pl.lit("unchanged"))
        .when(state == "candidate")
        .then(
            pl.when(pl.col("custom"))
            .then(pl.lit("presale"))
            .when(pl.lit(ineligible) | pl.col("stock").is_null())
            .then(pl.lit("skipped"))
            .otherwise(pl.lit("tiered-candidate"))
        )
        .otherwise(pl.lit("skipped"))
    )


def _skip_reason(ineligible: bool) -> pl.Expr:
    """Why a product that is not planned is skipped."""
    state = pl.col("state")
    return (
        pl.when(state == "inconsistent")
        .then(pl.lit("inconsistent-skus"))
        .when(state == "unknown-mode")
        .then(pl.lit("unknown-ship-mode"))
        .when(state == "unknown-promise")
        .then(pl.lit("unknown-promise"))
        .when(pl.lit(ineligible))
        .then(pl.lit("shop-ineligible"))
        .otherwise(pl.lit("unknown-stock"))
    )


def plan(
    products: pl.LazyFrame,
    orders: pl.LazyFrame,
    as_of: dt.date,
    policy: ShippingPolicy,
    *,
    min_share: Fraction | None = None,
    spot_stock: SpotStock | None = None,
    keywords: tuple[str, ...] | None = None,
) -> Plan:
    """Plan the shipping-mode change of every product.

    Candidates (on 现货发货, promise beyond spot_max_hours) that are custom go to 全款预售
    (always planned); the others to 阶梯发货 unless the shop is ineligible, in ascending
    order of their spot sub-orders in the window (ties by product ID) while the projected
    share stays >= min_share (default: the policy's warning_share); a switched product's
    window spot sub-orders count as non-spot afterwards."""
    min_share = policy.warning_share if min_share is None else min_share
    spot_stock = policy.spot_stock if spot_stock is None else spot_stock
    keywords = policy.custom_keywords if keywords is None else keywords
    share = measure(orders, as_of, policy)
    ineligible = share.status == "ineligible"

    spot_counts = (
        window_orders(orders, as_of, policy)
        .group_by("product_id")
        .agg(pl.col("spot").sum().cast(pl.Int64).alias("spot_sub_orders"))
    )
    judged = (
        products_by_id(products, policy, keywords)
        .join(spot_counts, on="product_id", how="left")
        .with_columns(
            pl.col("spot_sub_orders").fill_null(0), _first_outcome(ineligible).alias("outcome")
        )
        .with_columns(
            pl.when(pl.col("outcome") == "skipped").then(_skip_reason(ineligible)).alias("reason")
        )
        .collect()
    )

    # The tiered budget: the spot sub-orders that may still turn non-spot after the
    # presale switches while (spot - switched) / total >= min_share, in integers.
    presale_spot = int(judged.filter(pl.col("outcome") == "presale")["spot_sub_orders"].sum())
    needed = -((-min_share.numerator * share.total) // min_share.denominator)  # ceil
    budget = share.spot - presale_spot - needed
    is_candidate = pl.col("outcome") == "tiered-candidate"
    ranked = (
        judged.filter(is_candidate)
        .sort(pl.col("spot_sub_orders"), *ID_ORDER)
        .with_columns(
            pl.when(pl.col("spot_sub_orders").cum_sum() <= budget)
            .then(pl.lit("tiered"))
            .otherwise(pl.lit("skipped"))
            .alias("outcome")
        )
        .with_columns(
            pl.when(pl.col("outcome") == "skipped")
            .then(pl.lit("would-break-spot-share"))
            .alias("reason")
        )
    )
    decided = pl.concat([judged.filter(~is_candidate), ranked]).sort(ID_ORDER)
    changed_spot = int(
        decided.filter(pl.col("outcome").is_in(["tiered", "presale"]))["spot_sub_orders"].sum()
    )
    return Plan(
        share, min_share, share.spot - changed_spot, _with_changes(decided, policy, spot_stock)
    )


def _with_changes(
    decided: pl.DataFrame, policy: ShippingPolicy, spot_stock: SpotStock
) -> pl.DataFrame:
    """Add the new mode, days (clamped into the policy range), stocks and the reason
    text for people to the planned rows."""
    outcome = pl.col("outcome")
    tiered, presale = outcome == "tiered", outcome == "presale"
    (t_lo, t_hi), (p_lo, p_hi) = policy.tiered_days, policy.presale_days
    new_days = (
        pl.when(tiered)
        .then(pl.col("days").clip(t_lo, t_hi))
        .when(presale)
        .then(pl.col("days").clip(p_lo, p_hi))
    )
    spot = pl.when(tiered).then(spot_stock.expr(pl.col("stock")))
    lo = pl.when(tiered).then(t_lo).otherwise(p_lo)
    hi = pl.when(tiered).then(t_hi).otherwise(p_hi)
    clamp_note = (
        pl.when(pl.col("new_days") != pl.col("days"))
        .then(pl.format("（原{}天按政策范围{}-{}天调整）", pl.col("days"), lo, hi))
        .otherwise(pl.lit(""))
    )
    limit = f"{policy.spot_max_hours}小时"
    change_reason = (
        pl.when(tiered)
        .then(
            pl.format(
                "现货承诺{}超过{}，改阶梯发货{}天",
                pl.col("promise"),
                pl.lit(limit),
                pl.col("new_days"),
            )
        )
        .when(presale)
        .then(
            pl.format(
                "定制商品，现货承诺{}超过{}，改全款预售{}天",
                pl.col("promise"),
                pl.lit(limit),
                pl.col("new_days"),
            )
        )
    )
    return (
        decided.with_columns(
            pl.when(tiered)
            .then(pl.lit(TIERED))
            .when(presale)
            .then(pl.lit(PRESALE))
            .alias("new_mode"),
            pl.when(tiered).then(pl.lit(TIERED_SPOT_PROMISE)).alias("spot_promise"),
            new_days.cast(pl.Int64).alias("new_days"),
            spot.cast(pl.Int64).alias("spot_stock"),
        )
        .with_columns(
            (pl.col("stock") - pl.col("spot_stock")).alias("step_stock"),
            pl.concat_str(change_reason, clamp_note).alias("change_reason"),
        )
        .select(
            "product_id",
            "product_title",
            "ship_mode",
            "promise",
            "days",
            "stock",
            "custom",
            "spot_sub_orders",
            "outcome",
            "reason",
            "new_mode",
            "spot_promise",
            "new_days",
            "spot_stock",
            "step_stock",
            "change_reason",
        )
    )


# --- Outputs ----------------------------------------------------------------------------------


def _changed(plan: Plan) -> pl.DataFrame:
    return plan.products.filter(pl.col("outcome").is_in(["tiered", "presale"]))


def upload_frame(plan: Plan) -> pl.DataFrame:
    """The back-office upload (批量修改发货模式): one row per changed product, Chinese
    headers, IDs as text (the CSV writer makes text formula-safe; the XLSX has text cells)."""
    return (
        _changed(plan)
        .select(
            pl.col("product_id"),
            pl.col("product_title"),
            pl.col("ship_mode"),
            pl.col("promise"),
            *[pl.col(c) for c in list(UPLOAD_COLUMNS)[4:]],
        )
        .rename(UPLOAD_COLUMNS)
    )


def payloads_frame(plan: Plan) -> pl.DataFrame:
    """One open-platform product edit per changed product, keys sorted: presell_type
    (1 presale, 2 tiered), delivery_delay_day (the spot part of a tiered product: 2 =
    48小时; null for presale), presell_delay (days), step_stock_num (阶梯库存; null for
    presale)."""
    tiered = pl.col("outcome") == "tiered"
    return _changed(plan).select(
        pl.when(tiered).then(DELIVERY_DELAY_DAY[TIERED_SPOT_PROMISE]).alias("delivery_delay_day"),
        pl.col("new_days").alias("presell_delay"),
        pl.when(tiered)
        .then(PRESELL_TYPE[TIERED])
        .otherwise(PRESELL_TYPE[PRESALE])
        .alias("presell_type"),
        pl.col("product_id"),
        pl.col("step_stock").alias("step_stock_num"),
    )


def skipped_frame(plan: Plan) -> pl.DataFrame:
    return plan.products.filter(pl.col("outcome") == "skipped").select("product_id", "reason")


def summary(plan: Plan) -> dict[str, Any]:
    """summary.json: the spot share, the projected share, the status and the counts."""
    counts = dict(plan.products.group_by("outcome").len().rows())
    reasons = dict(skipped_frame(plan).group_by("reason").len().rows())
    return {
        "spot_share": rounded_share(plan.share.spot, plan.share.total),
        "projected_share": plan.projected_share,
        "status": plan.share.status,
        "changed": {"tiered": counts.get("tiered", 0), "presale": counts.get("presale", 0)},
        "skipped": dict(sorted(reasons.items())),
        "unchanged": counts.get("unchanged", 0),
    }


def exit_code(plan: Plan) -> int:
    """4 when the shop is ineligible; 3 when some product was skipped or the shop is in
    warning; 0 when every candidate changed."""
    if plan.share.status == "ineligible":
        return EXIT_INELIGIBLE
    if plan.share.status == "warning" or (plan.products["outcome"] == "skipped").any():
        return EXIT_WARNING
    return EXIT_OK


def status_exit_code(share: SpotShare) -> int:
    return {"ok": EXIT_OK, "warning": EXIT_WARNING}.get(share.status, EXIT_INELIGIBLE)


def require_shipping_columns(products: pl.LazyFrame) -> None:
    """A product export without any 发货模式 or 承诺发货时间 value cannot be planned."""
    counts = products.select(
        pl.len().alias("rows"),
        pl.col("ship_mode").count().alias("发货模式"),
        pl.col("promise").count().alias("承诺发货时间"),
    ).collect()
    if counts["rows"][0] == 0:
        return
    for header in ("发货模式", "承诺发货时间"):
        if counts[header][0] == 0:
            raise DoudianError(
                f"products: no row has a {header}: shipping-mode needs the 发货模式 and "
                "承诺发货时间 columns of the 商品导出",
                hint="export the products again with those columns",
            )
