"""保证金 (deposit) per shop.

In:  shops: shop_id, entity (主体类型), categories (list of first-level categories, in
     the order given), last_month_gmv (fen, may be null).
Out: one row per shop, in the input order: shop_id, status (`ok` | `refused` |
     `invalid`), deposit_yuan, set_by (the category, or the GMV tier, that set it),
     refused (the categories the entity type may not open), reason (for `invalid`).

Two models, chosen by the policy's `model`:
- `category` (the seed, default policy): the entity type's number for each category;
  several categories: the highest, set by the first category given among the highest.
  Any category without a number for that entity type: `refused`, naming it.
- `gmv-tiers` (policy 2025): by last month's GMV, whatever the categories.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import polars as pl

from pipeline.policy import Policy
from pipeline.stages.checks import PolicyError, policy_section, policy_str

MODELS = ("category", "gmv-tiers")
STATUSES = ("ok", "refused", "invalid")
#: What separates several categories in one cell or one --category value.
CATEGORY_SEPARATORS = r"[;；,，、|｜]"

RESULT_SCHEMA = {
    "shop_id": pl.String,
    "status": pl.String,
    "deposit_yuan": pl.Int64,
    "set_by": pl.String,
    "refused": pl.List(pl.String),
    "reason": pl.String,
}


@dataclass(frozen=True)
class Tier:
    from_fen: int
    deposit_yuan: int
    name: str


@dataclass(frozen=True)
class DepositRules:
    """The [deposit] policy section (see pipeline/policies/default/deposit.toml)."""

    policy: str
    model: str
    entities: tuple[str, ...]
    aliases: dict[str, str]
    yuan: dict[str, dict[str, int]]  # entity -> category -> yuan
    tiers: tuple[Tier, ...]  # by from_fen, the first from 0

    @classmethod
    def from_policy(cls, policy: Policy) -> DepositRules:
        sec = policy_section(policy, "deposit")
        where = f"{{opt:policy}} {policy.name}: [deposit]"
        model = policy_str(policy, "deposit", "model")
        if model not in MODELS:
            raise PolicyError(f"{where} model must be one of {', '.join(MODELS)} (got {model!r})")
        entities = sec.get("entities")
        if (
            not isinstance(entities, list)
            or not entities
            or not all(isinstance(e, str) for e in entities)
        ):
            raise PolicyError(f"{where} entities must be a list of entity types")
        aliases = {
            normalize(k): normalize(v) for k, v in _table(sec, "aliases", where, str).items()
        }
        yuan: dict[str, dict[str, int]] = {}
        for entity, table in _table(sec, "yuan", where, dict).items():
            yuan[entity] = {
                normalize(c): v
                for c, v in _table(table, entity, f"{where} yuan.", int, nested=True).items()
            }
        tiers = _tiers(sec.get("gmv_tiers"), where) if model == "gmv-tiers" else ()
        return cls(policy.name, model, tuple(entities), aliases, yuan, tiers)

    def allowed(self, entity: str) -> list[str]:
        """The categories `entity` may open, as the policy lists them."""
        return list(self.yuan.get(entity, {}))


def normalize(category: str) -> str:
    """NFKC and no surrounding space: `服饰内衣 ` and full-width forms match."""
    return unicodedata.normalize("NFKC", category).strip()


def split_categories(values: list[str]) -> list[str]:
    """Option values or a cell, each possibly holding several categories -> one list."""
    out: list[str] = []
    for value in values:
        out += [c for c in (normalize(p) for p in re.split(CATEGORY_SEPARATORS, value)) if c]
    return out


def categories_expr(cell: pl.Expr) -> pl.Expr:
    """A 类目 cell -> list of normalized categories (empty when the cell is none)."""
    parts = cell.fill_null("").str.replace_all(CATEGORY_SEPARATORS, ";").str.split(";")
    return parts.list.eval(pl.element().str.normalize("NFKC").str.strip_chars()).list.eval(
        pl.element().filter(pl.element() != "")
    )


def deposits(shops: pl.LazyFrame, rules: DepositRules) -> pl.LazyFrame:
    """Shops -> deposits (RESULT_SCHEMA), in the input order."""
    shops = shops.with_row_index("__shop")
    entity_ok = pl.col("entity").is_in(list(rules.entities))
    if rules.model == "gmv-tiers":
        judged = _by_tier(shops, rules, entity_ok)
    else:
        judged = _by_category(shops, rules, entity_ok)
    return judged.sort("__shop").select(*(pl.col(n).cast(t) for n, t in RESULT_SCHEMA.items()))


def _by_tier(shops: pl.LazyFrame, rules: DepositRules, entity_ok: pl.Expr) -> pl.LazyFrame:
    gmv = pl.col("last_month_gmv")
    amount: pl.Expr = pl.lit(None, pl.Int64)
    name: pl.Expr = pl.lit(None, pl.String)
    for tier in rules.tiers:  # ascending: the last tier whose floor the GMV reaches wins
        amount = pl.when(gmv >= tier.from_fen).then(pl.lit(tier.deposit_yuan)).otherwise(amount)
        name = pl.when(gmv >= tier.from_fen).then(pl.lit(tier.name)).otherwise(name)
    reason = (
        pl.when(~entity_ok)
        .then(_unknown_entity(rules))
        .when(gmv.is_null())
        .then(pl.lit("no 上月成交金额 (policy tiers the deposit by last month's GMV)"))
    )
    ok = reason.is_null()
    return shops.select(
        "__shop",
        "shop_id",
        pl.when(ok).then(pl.lit("ok")).otherwise(pl.lit("invalid")).alias("status"),
        pl.when(ok).then(amount).alias("deposit_yuan"),
        pl.when(ok).then(name).alias("set_by"),
        pl.lit([], pl.List(pl.String)).alias("refused"),
        reason.alias("reason"),
    )


def _by_category(shops: pl.LazyFrame, rules: DepositRules, entity_ok: pl.Expr) -> pl.LazyFrame:
    table = pl.LazyFrame(
        [(e, c, y) for e, cats in rules.yuan.items() for c, y in cats.items()],
        schema={"entity": pl.String, "category": pl.String, "yuan": pl.Int64},
        orient="row",
    )
    listed = shops.with_columns(
        pl.col("categories")
        .list.eval(pl.element().replace(rules.aliases))
        .list.unique(maintain_order=True)
    )
    per_category = (
        listed.select("__shop", "entity", pl.col("categories").alias("category"))
        .explode("category")
        .filter(pl.col("category").is_not_null())
        .join(table, on=["entity", "category"], how="left", maintain_order="left")
        .group_by("__shop", maintain_order=True)
        .agg(
            pl.col("category").filter(pl.col("yuan").is_null()).alias("refused"),
            pl.col("yuan").max().alias("deposit_yuan"),
            pl.col("category")
            .filter(pl.col("yuan") == pl.col("yuan").max())
            .first()
            .alias("set_by"),
        )
    )
    judged = listed.join(per_category, on="__shop", how="left", maintain_order="left")
    refused = pl.col("refused").fill_null(pl.lit([], pl.List(pl.String)))
    reason = (
        pl.when(~entity_ok)
        .then(_unknown_entity(rules))
        .when(pl.col("categories").list.len() == 0)
        .then(pl.lit("no 类目 (category)"))
    )
    status = (
        pl.when(reason.is_not_null())
        .then(pl.lit("invalid"))
        .when(refused.list.len() > 0)
        .then(pl.lit("refused"))
        .otherwise(pl.lit("ok"))
    )
    ok = status == "ok"
    return judged.select(
        "__shop",
        "shop_id",
        status.alias("status"),
        pl.when(ok).then(pl.col("deposit_yuan")).alias("deposit_yuan"),
        pl.when(ok).then(pl.col("set_by")).alias("set_by"),
        pl.when(reason.is_null())
        .then(refused)
        .otherwise(pl.lit([], pl.List(pl.String)))
        .alias("refused"),
        reason.alias("reason"),
    )


def _unknown_entity(rules: DepositRules) -> pl.Expr:
    known = ", ".join(rules.entities)
    return pl.format(
        "unknown 主体类型 {} (policy {}: {})", pl.col("entity"), pl.lit(rules.policy), pl.lit(known)
    )


def _table(sec: dict, key: str, where: str, kind: type, *, nested: bool = False) -> dict:
    value = sec if nested else sec.get(key, {})
    if not isinstance(value, dict) or not all(
        isinstance(v, kind) and not isinstance(v, bool) for v in value.values()
    ):
        raise PolicyError(
            f"{where}{key} must be a table of {'numbers' if kind is int else kind.__name__}"
        )
    if kind is int and any(v < 0 for v in value.values()):
        raise PolicyError(f"{where}{key}: amounts cannot be negative")
    return value


def _tiers(raw: object, where: str) -> tuple[Tier, ...]:
    bad = PolicyError(
        f"{where} gmv_tiers must be a list of {{ from_yuan = N, deposit_yuan = N }} in whole yuan, "
        "ascending, the first from 0"
    )
    if not isinstance(raw, list) or not raw or not all(isinstance(t, dict) for t in raw):
        raise bad
    pairs = []
    for t in raw:
        lo, yuan = t.get("from_yuan"), t.get("deposit_yuan")
        if set(t) != {"from_yuan", "deposit_yuan"} or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (lo, yuan)
        ):
            raise bad
        pairs.append((lo, yuan))
    floors = [lo for lo, _ in pairs]
    if floors[0] != 0 or floors != sorted(set(floors)):
        raise bad
    tiers = []
    for i, (lo, yuan) in enumerate(pairs):
        hi = pairs[i + 1][0] if i + 1 < len(pairs) else None
        if hi is None:
            name = f"gmv>={lo}" if lo else "any-gmv"
        else:
            name = f"gmv<{hi}" if lo == 0 else f"{lo}<=gmv<{hi}"
        tiers.append(Tier(lo * 100, yuan, name))
    return tuple(tiers)
