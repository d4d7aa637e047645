"""Deciding each SKU's new price: pure polars expressions over LazyFrames, in integer fen.

In: the valid product rows (商品导出, `schemas.products`), the valid cost rows
(`schemas.costs`) and a checked `RuleSet`. Out: one row per product row with

- `rule` (0-based index of the first rule whose selectors all match; null = not
  selected) and `rule_name`,
- `cost` (fen; by SKU ID, else by 商家编码 from a cost row without SKU ID),
- `wanted` (fen): percent, then amount (or set), then round, then ending,
- `reason`: the first guard the wanted price breaks (`min_price`, `max_price`,
  `no-cost`, `min_margin`, `max_change_pct`), only for blocked SKUs,
- `status`: `not-selected`, `unchanged` (wanted = old price), `blocked` or `changed`.

All arithmetic is exact integer math: a percentage is applied as
`price * (10000 + percent_bp)` in units of 1/10000 fen, the amount is added in the same
units, and the result is rounded once, half away from zero, to the rule's step (fen,
jiao, yuan). Guards compare integers too: `new >= cost_floor(cost, margin_bp)` (the
ceiling of `cost * (10000 + margin_bp) / 10000`),
`|new - old| * 10000 <= old * max_change_bp`.
"""

from __future__ import annotations

import polars as pl

from pipeline.stages.price.rules import Rule, RuleSet
from pipeline.stages.settle.money import cost_floor

#: 1 = 10000 basis points; arithmetic units are 1/SCALE fen
SCALE = 10_000

STATUSES = ("changed", "unchanged", "blocked", "not-selected")
#: Guard reasons, in the order they are checked (the first broken one is reported).
REASONS = ("min_price", "max_price", "no-cost", "min_margin", "max_change_pct")

PRODUCT_COLUMNS = (
    "product_id",
    "sku_id",
    "merchant_code",
    "product_title",
    "spec",
    "category",
    "price",
)

_RULE_SCHEMA = {
    "rule": pl.Int32,
    "rule_name": pl.String,
    "percent_bp": pl.Int64,
    "amount_fen": pl.Int64,
    "set_fen": pl.Int64,
    "round_fen": pl.Int64,
    "ending_mod": pl.Int64,
    "ending_res": pl.Int64,
    "floor_fen": pl.Int64,
    "max_price_fen": pl.Int64,
    "margin_bp": pl.Int64,
    "max_change_bp": pl.Int64,
}


# --- selectors -----------------------------------------------------------------------


def glob_regex(glob: str) -> str:
    """A 商家编码 glob as an anchored regex over the whole code: `*` any run of
    characters, `?` one character, everything else itself (case-sensitive)."""
    parts = []
    for ch in glob:
        if ch == "*":
            parts.append(".*")
        elif ch == "?":
            parts.append(".")
        elif ch.isalnum():
            parts.append(ch)
        else:
            parts.append(f"\\x{{{ord(ch):X}}}")
    return "^(?s:" + "".join(parts) + ")$"


def _any(exprs: list[pl.Expr]) -> pl.Expr:
    return pl.any_horizontal(exprs) if len(exprs) > 1 else exprs[0]


def selector(rule: Rule) -> pl.Expr:
    """True where all of the rule's selectors match (a null cell matches nothing); a
    rule with no selectors matches every SKU."""
    code, title, price = pl.col("merchant_code"), pl.col("product_title"), pl.col("price")
    parts: list[pl.Expr] = []
    if rule.product_ids:
        parts.append(pl.col("product_id").is_in(list(rule.product_ids)))
    if rule.sku_ids:
        parts.append(pl.col("sku_id").is_in(list(rule.sku_ids)))
    if rule.merchant_code:
        parts.append(_any([code.str.contains(glob_regex(g)) for g in rule.merchant_code]))
    if rule.title_contains:
        parts.append(_any([title.str.contains(t, literal=True) for t in rule.title_contains]))
    if rule.title_regex is not None:
        parts.append(title.str.contains(rule.title_regex))
    if rule.category:
        parts.append(pl.col("category").is_in(list(rule.category)))
    if rule.price_min is not None:
        parts.append(price >= rule.price_min)
    if rule.price_max is not None:
        parts.append(price <= rule.price_max)
    if not parts:
        return pl.lit(True)
    return pl.all_horizontal([p.fill_null(False) for p in parts])


def rule_index(rules: RuleSet) -> pl.Expr:
    """The 0-based index of the first rule that selects the row (null: none does),
    computed for all rows at once: the first non-null of the rules' when-thens."""
    return pl.coalesce(
        [pl.when(selector(r)).then(pl.lit(i, pl.Int32)) for i, r in enumerate(rules.rules)]
    ).alias("rule")


def rules_table(rules: RuleSet) -> pl.LazyFrame:
    """One row per rule: its action, round, ending and effective guards as columns."""
    rows = [
        {
            "rule": i,
            "rule_name": r.name,
            "percent_bp": r.percent_bp,
            "amount_fen": r.amount,
            "set_fen": r.set_price,
            "round_fen": r.round_step,
            "ending_mod": r.ending.modulus if r.ending else None,
            "ending_res": r.ending.residue if r.ending else None,
            "floor_fen": r.guards.floor,
            "max_price_fen": r.guards.max_price,
            "margin_bp": r.guards.min_margin_bp,
            "max_change_bp": r.guards.max_change_bp,
        }
        for i, r in enumerate(rules.rules)
    ]
    return pl.DataFrame(rows, schema=_RULE_SCHEMA, orient="row").lazy()


# --- arithmetic ----------------------------------------------------------------------


def round_half_away(value: pl.Expr, step: pl.Expr | int) -> pl.Expr:
    """`value / step` rounded to the nearest integer, ties away from zero (half-up for
    positive values), exactly: floor((2|v| + step) / (2 step)) with v's sign. step > 0."""
    step = pl.lit(step) if isinstance(step, int) else step
    magnitude = (value.abs() * 2 + step) // (step * 2)
    return pl.when(value < 0).then(-magnitude).otherwise(magnitude)


def wanted_price() -> pl.Expr:
    """The rule's price in fen, from the `price` column and the rule's columns:
    percent, then amount (or set), then round to the step, then the ending (the largest
    price not above the rounded one whose remainder modulo `ending_mod` is
    `ending_res`). May be < 1 fen: the guards then block it."""
    old = pl.col("price")
    scaled = (
        pl.when(pl.col("set_fen").is_not_null())
        .then(pl.col("set_fen") * SCALE)
        .otherwise(old * (SCALE + pl.col("percent_bp")) + pl.col("amount_fen") * SCALE)
    )
    step = pl.col("round_fen")
    rounded = round_half_away(scaled, step * SCALE) * step
    mod, res = pl.col("ending_mod"), pl.col("ending_res")
    ended = rounded - (rounded - res) % mod  # floor modulo: never above `rounded`
    return pl.when(mod.is_not_null()).then(ended).otherwise(rounded).alias("wanted")


def guard_reason() -> pl.Expr:
    """The first guard the `wanted` price breaks, in the order of REASONS (null: none).
    Every bound is inclusive."""
    new, old, cost = pl.col("wanted"), pl.col("price"), pl.col("cost")
    margin, change = pl.col("margin_bp"), pl.col("max_change_bp")
    return (
        pl.when(new < pl.col("floor_fen"))
        .then(pl.lit("min_price"))
        .when(new > pl.col("max_price_fen"))
        .then(pl.lit("max_price"))
        .when(margin.is_not_null() & cost.is_null())
        .then(pl.lit("no-cost"))
        .when(new < cost_floor(cost, margin))
        .then(pl.lit("min_margin"))
        .when((new - old).abs() * SCALE > old * change)
        .then(pl.lit("max_change_pct"))
        .otherwise(pl.lit(None, pl.String))
        .alias("reason")
    )


# --- costs and the decision ----------------------------------------------------------


def attach_costs(products: pl.LazyFrame, costs: pl.LazyFrame) -> pl.LazyFrame:
    """Add `cost` (fen): the first cost row with the SKU's SKU ID; else the first cost
    row without SKU ID whose 商家编码 is the SKU's (files in the order given, then rows)."""
    by_sku = (
        costs.filter(pl.col("sku_id").is_not_null())
        .unique(subset="sku_id", keep="first", maintain_order=True)
        .select("sku_id", pl.col("cost").alias("__cost_sku"))
    )
    by_code = (
        costs.filter(pl.col("sku_id").is_null() & pl.col("merchant_code").is_not_null())
        .unique(subset="merchant_code", keep="first", maintain_order=True)
        .select("merchant_code", pl.col("cost").alias("__cost_code"))
    )
    joined = products.join(by_sku, on="sku_id", how="left", maintain_order="left").join(
        by_code, on="merchant_code", how="left", maintain_order="left"
    )
    return joined.with_columns(pl.coalesce("__cost_sku", "__cost_code").alias("cost")).drop(
        "__cost_sku", "__cost_code"
    )


def decide(products: pl.LazyFrame, costs: pl.LazyFrame, rules: RuleSet) -> pl.LazyFrame:
    """Every product row with its rule, cost, wanted price, guard reason and status
    (see the module docstring), in the input order."""
    keep = [
        *PRODUCT_COLUMNS,
        *(c for c in ("source_file", "source_row") if c in products.collect_schema()),
    ]
    frame = products.select(keep).with_columns(rule_index(rules))
    frame = attach_costs(frame, costs)
    frame = frame.join(rules_table(rules), on="rule", how="left", maintain_order="left")
    frame = frame.with_columns(wanted_price()).with_columns(guard_reason())
    selected = pl.col("rule").is_not_null()
    status = (
        pl.when(~selected)
        .then(pl.lit("not-selected"))
        .when(pl.col("wanted") == pl.col("price"))
        .then(pl.lit("unchanged"))
        .when(pl.col("reason").is_not_null())
        .then(pl.lit("blocked"))
        .otherwise(pl.lit("changed"))
    )
    frame = frame.with_columns(status.alias("status"))
    return frame.select(
        *keep,
        "rule",
        "rule_name",
        "cost",
        pl.when(selected).then(pl.col("wanted")).alias("wanted"),
        pl.when(pl.col("status") == "blocked").then(pl.col("reason")).alias("reason"),
        "status",
    )
