"""The price rules file (TOML): ordered rules and guards, parsed and checked into typed
objects before any data is read.

    [guards]                 # global: apply to every rule that does not set its own
    min_price = 0.01         # yuan
    max_change_pct = 30      # percent of the old price, up or down, per run
    min_margin = 0.10        # new price >= cost * (1 + 0.10)

    [[rule]]
    name = "autumn-clearance"
    category = "服饰内衣"      # selectors: all given must match
    title_contains = "秋"
    percent = -20            # action: percent and/or amount, or set
    round = "jiao"
    ending = "0.9"

Every number is read exactly (TOML floats as decimals, never binary floats) and kept as
an integer: money in fen, percentages and margins in basis points. Anything wrong (an
unknown key, a bad regex, a value of the wrong type or out of range, an impossible guard,
a rule with no action) raises `UsageError` naming the file, the rule and the key. See
docs/price.md for the reference.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.errors import UsageError
from schemas.base import MONEY_MAX_FEN
from schemas.checks import ID_PATTERN

GUARD_KEYS = ("min_price", "max_price", "min_margin", "max_change_pct")
SELECTOR_KEYS = (
    "product_ids", "sku_ids", "merchant_code", "title_contains", "title_regex", "category",
    "price_min", "price_max",
)  # fmt: skip
ACTION_KEYS = ("percent", "amount", "set")
RULE_KEYS = ("name", *SELECTOR_KEYS, *ACTION_KEYS, "round", "ending", *GUARD_KEYS)
TOP_KEYS = ("guards", "rule")

#: `round` value -> the step in fen
ROUND_STEPS = {"fen": 1, "jiao": 10, "yuan": 100}
#: The platform never takes a price below 0.01 yuan: the floor under every min_price.
PRICE_FLOOR_FEN = 1
#: Bounds that keep the integer arithmetic far from overflow and catch typos.
PERCENT_RANGE = (Decimal(-100), Decimal(1000))  # percent: above -100, at most +1000
MAX_MARGIN = Decimal(100)  # min_margin at most 100 (10,000%)
MAX_CHANGE_PCT = Decimal(1000)


@dataclass(frozen=True)
class Guards:
    """Guard bounds, all inclusive; None = no such guard."""

    min_price: int | None = None  # fen
    max_price: int | None = None  # fen
    min_margin_bp: int | None = None  # basis points of cost: 0.10 -> 1000
    max_change_bp: int | None = None  # basis points of the old price: 30% -> 3000

    @property
    def floor(self) -> int:
        """The lowest allowed price in fen (never below 0.01 yuan)."""
        return max(self.min_price or 0, PRICE_FLOOR_FEN)


@dataclass(frozen=True)
class Ending:
    """A price ending: the price modulo `modulus` fen equals `residue`.
    "0.9" -> (100, 90), "0.99" -> (100, 99), "9" -> (1000, 900)."""

    text: str
    modulus: int
    residue: int


@dataclass(frozen=True)
class Rule:
    """One rule, with its guards already merged over the global ones."""

    number: int  # 1-based position in the file
    name: str
    product_ids: tuple[str, ...] = ()
    sku_ids: tuple[str, ...] = ()
    merchant_code: tuple[str, ...] = ()  # globs, any may match
    title_contains: tuple[str, ...] = ()  # any may match
    title_regex: str | None = None
    category: tuple[str, ...] = ()  # any may match
    price_min: int | None = None  # fen, inclusive
    price_max: int | None = None  # fen, inclusive
    percent_bp: int = 0  # -20% -> -2000
    amount: int = 0  # fen
    set_price: int | None = None  # fen
    round_step: int = 1  # fen
    ending: Ending | None = None
    guards: Guards = field(default_factory=Guards)
    own_guards: tuple[str, ...] = ()  # the guard keys the rule sets itself


@dataclass(frozen=True)
class RuleSet:
    path: str
    guards: Guards
    rules: tuple[Rule, ...]

    @property
    def margin_rules(self) -> list[str]:
        """Names of the rules under a min_margin guard (they need a cost file)."""
        return [r.name for r in self.rules if r.guards.min_margin_bp is not None]


def load_rules(path: str | Path) -> RuleSet:
    """Read and check a rules file. Raises UsageError on anything wrong."""
    where = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise UsageError(f"{{opt:rules}} {where}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{where}: the rules file is not UTF-8 text") from None
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where}: not a valid TOML file ({exc})") from None
    return parse_rules(data, where)


def parse_rules(data: dict[str, Any], where: str = "rules") -> RuleSet:
    """Check the decoded TOML (floats as Decimal) and build the rule set."""
    _unknown(data, TOP_KEYS, where, "top level")
    raw_guards = data.get("guards", {})
    if not isinstance(raw_guards, dict):
        raise UsageError(f"{where}: guards: must be a table ([guards])")
    glabel = f"{where}: [guards]"
    _unknown(raw_guards, GUARD_KEYS, glabel, "[guards]")
    global_guards = _guards(raw_guards, Guards(), glabel)
    _check_guard_bounds(global_guards, glabel, set(raw_guards))

    raw_rules = data.get("rule")
    if raw_rules is None:
        raise UsageError(
            f"{where}: has no rules",
            "add one or more [[rule]] tables, each with a name and an action",
        )
    if not isinstance(raw_rules, list) or not all(isinstance(r, dict) for r in raw_rules):
        raise UsageError(f"{where}: rule: must be an array of tables ([[rule]])")
    if not raw_rules:
        raise UsageError(
            f"{where}: has no rules",
            "add one or more [[rule]] tables, each with a name and an action",
        )
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(raw_rules, start=1):
        rule = _rule(raw, number, global_guards, where)
        if rule.name in seen:
            raise UsageError(
                f'{where}: rule {number} "{rule.name}": name: the same name as rule {seen[rule.name]}',
                "rule names must be unique: they label the changes and the counts per rule",
            )
        seen[rule.name] = number
        rules.append(rule)
    return RuleSet(where, global_guards, tuple(rules))


# --- one rule ------------------------------------------------------------------------


def _rule(raw: dict[str, Any], number: int, global_guards: Guards, where: str) -> Rule:
    name = raw.get("name")
    if name is None:
        label = f"{where}: rule {number}"
        raise UsageError(f"{label}: name: missing", 'every [[rule]] needs a name = "..."')
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f"{where}: rule {number}: name: must be a non-empty string")
    label = f'{where}: rule {number} "{name}"'
    _unknown(raw, RULE_KEYS, label, "a rule")

    actions = [k for k in ACTION_KEYS if k in raw]
    if not actions:
        raise UsageError(
            f"{label}: no action: give one of percent, amount, set",
            "a rule that only rounds or sets an ending can say percent = 0",
        )
    if "set" in actions and len(actions) > 1:
        other = next(k for k in actions if k != "set")
        raise UsageError(
            f"{label}: {other}: two actions: set cannot be combined with {other}",
            "percent and amount may go together (percent first, then amount); set stands alone",
        )

    rule = Rule(
        number=number,
        name=name,
        product_ids=_ids(raw, "product_ids", label),
        sku_ids=_ids(raw, "sku_ids", label),
        merchant_code=_texts(raw, "merchant_code", label),
        title_contains=_texts(raw, "title_contains", label),
        title_regex=_regex(raw, label),
        category=_texts(raw, "category", label),
        price_min=_yuan(raw, "price_min", label, minimum=0),
        price_max=_yuan(raw, "price_max", label, minimum=0),
        percent_bp=_percent(raw, label),
        amount=_yuan(raw, "amount", label, minimum=-MONEY_MAX_FEN) or 0,
        set_price=_yuan(raw, "set", label, minimum=PRICE_FLOOR_FEN),
        round_step=_round(raw, label),
        ending=_ending(raw, label),
    )
    if (
        rule.price_min is not None
        and rule.price_max is not None
        and rule.price_min > rule.price_max
    ):
        raise UsageError(
            f"{label}: price_min: {_fmt(rule.price_min)} is above price_max {_fmt(rule.price_max)}: "
            "the rule can select nothing"
        )
    own = {k: raw[k] for k in GUARD_KEYS if k in raw}
    guards = _guards(own, global_guards, label)
    _check_guard_bounds(guards, label, set(own))
    return replace(rule, guards=guards, own_guards=tuple(own))


def _check_guard_bounds(guards: Guards, label: str, own: set[str]) -> None:
    """min_price <= max_price; the key blamed is one the table itself set."""
    lo, hi = guards.min_price, guards.max_price
    if lo is not None and hi is not None and lo > hi:
        if "max_price" in own and "min_price" not in own:
            problem = f"max_price: {_fmt(hi)} is below min_price {_fmt(lo)}"
        else:
            problem = f"min_price: {_fmt(lo)} is above max_price {_fmt(hi)}"
        from_global = "" if {"min_price", "max_price"} <= own else " (the other from [guards])"
        raise UsageError(f"{label}: {problem}{from_global}: no price can pass")


def _guards(raw: dict[str, Any], base: Guards, label: str) -> Guards:
    """`raw`'s guard keys replace those of `base`, one key at a time; `false` turns a
    guard off."""
    out = base
    for key in GUARD_KEYS:
        if key not in raw:
            continue
        value = raw[key]
        if value is False:
            out = replace(out, **{_GUARD_FIELDS[key]: None})
            continue
        if key in ("min_price", "max_price"):
            parsed = _yuan(raw, key, label, minimum=PRICE_FLOOR_FEN)
        elif key == "min_margin":
            parsed = _scaled(raw, key, label, scale=10_000, minimum=Decimal(0), maximum=MAX_MARGIN,
                             what="a fraction of cost (0.10 = 10%) with at most 4 decimal places")  # fmt: skip
        else:
            parsed = _scaled(raw, key, label, scale=100, minimum=None, maximum=MAX_CHANGE_PCT,
                             what="a percentage with at most 2 decimal places")  # fmt: skip
            if parsed is not None and parsed <= 0:
                raise UsageError(f"{label}: max_change_pct: must be above 0 (got {raw[key]})",
                                 "to let a rule move prices freely, say max_change_pct = false")  # fmt: skip
        out = replace(out, **{_GUARD_FIELDS[key]: parsed})
    return out


_GUARD_FIELDS = {
    "min_price": "min_price",
    "max_price": "max_price",
    "min_margin": "min_margin_bp",
    "max_change_pct": "max_change_bp",
}


# --- values --------------------------------------------------------------------------


def _unknown(table: dict[str, Any], known: tuple[str, ...], label: str, place: str) -> None:
    for key in table:
        if key not in known:
            raise UsageError(
                f'{label}: unknown key "{key}"', f"keys of {place}: {', '.join(known)}"
            )


def _number(raw: dict[str, Any], key: str, label: str) -> Decimal | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise UsageError(f"{label}: {key}: must be a number (got {value!r})")
    number = Decimal(value)
    if not number.is_finite():
        raise UsageError(f"{label}: {key}: must be a finite number (got {value})")
    return number


def _scaled(raw: dict[str, Any], key: str, label: str, *, scale: int,
            minimum: Decimal | None, maximum: Decimal, what: str) -> int | None:  # fmt: skip
    """A decimal as an exact integer `value * scale` (refused when that is not whole)."""
    number = _number(raw, key, label)
    if number is None:
        return None
    scaled = number * scale
    if scaled != scaled.to_integral_value():
        raise UsageError(f"{label}: {key}: must be {what} (got {raw[key]})")
    if (minimum is not None and number < minimum) or number > maximum:
        bounds = f"at most {maximum}" if minimum is None else f"out of range {minimum} to {maximum}"
        raise UsageError(f"{label}: {key}: {bounds} (got {raw[key]})")
    return int(scaled)


def _yuan(raw: dict[str, Any], key: str, label: str, *, minimum: int) -> int | None:
    """Yuan with at most 2 decimals, as fen, between `minimum` and 10,000,000 yuan."""
    number = _number(raw, key, label)
    if number is None:
        return None
    fen = number * 100
    if fen != fen.to_integral_value():
        raise UsageError(f"{label}: {key}: must be yuan with at most 2 decimals (got {raw[key]})")
    if not minimum <= fen <= MONEY_MAX_FEN:
        raise UsageError(
            f"{label}: {key}: out of range {_fmt(minimum)} to {_fmt(MONEY_MAX_FEN)} yuan (got {raw[key]})"
        )
    return int(fen)


def _percent(raw: dict[str, Any], label: str) -> int:
    number = _number(raw, "percent", label)
    if number is None:
        return 0
    low, high = PERCENT_RANGE
    if not low < number <= high:
        raise UsageError(
            f"{label}: percent: must be above -100 and at most 1000 (got {raw['percent']})",
            "percent = -20 takes 20% off; -100 or less would make the price 0 or negative",
        )
    scaled = number * 100
    if scaled != scaled.to_integral_value():
        raise UsageError(f"{label}: percent: at most 2 decimal places (got {raw['percent']})")
    return int(scaled)


def _texts(raw: dict[str, Any], key: str, label: str) -> tuple[str, ...]:
    """A non-empty string, or a non-empty list of them (any may match)."""
    value = raw.get(key)
    if value is None:
        return ()
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v != "" for v in values):
        raise UsageError(
            f"{label}: {key}: must be a non-empty string or a list of them (got {value!r})"
        )
    return tuple(values)


def _ids(raw: dict[str, Any], key: str, label: str) -> tuple[str, ...]:
    value = raw.get(key)
    if value is None:
        return ()
    hint = f'write IDs as quoted strings: {key} = ["3621547896541236547"]'
    if not isinstance(value, list) or not value:
        raise UsageError(f"{label}: {key}: must be a non-empty list of IDs", hint)
    for item in value:
        if not isinstance(item, str):
            raise UsageError(f"{label}: {key}: {item!r} is not a quoted string", hint)
        if not pl.select(pl.lit(item).str.contains(ID_PATTERN)).item():
            raise UsageError(f"{label}: {key}: {item!r} is not an ID of 16 to 19 digits")
    return tuple(value)


def _regex(raw: dict[str, Any], label: str) -> str | None:
    value = raw.get("title_regex")
    if value is None:
        return None
    if not isinstance(value, str) or value == "":
        raise UsageError(f"{label}: title_regex: must be a non-empty string (got {value!r})")
    try:  # the engine that will run it judges it
        pl.select(pl.lit("").str.contains(value))
    except pl.exceptions.PolarsError as exc:
        detail = " ".join(str(exc).split("This error occurred")[0].split())
        raise UsageError(
            f"{label}: title_regex: not a valid regular expression ({detail})"
        ) from None
    return value


def _round(raw: dict[str, Any], label: str) -> int:
    value = raw.get("round", "fen")
    if value not in ROUND_STEPS:
        raise UsageError(f'{label}: round: must be "fen", "jiao" or "yuan" (got {value!r})')
    return ROUND_STEPS[value]


def _ending(raw: dict[str, Any], label: str) -> Ending | None:
    """ "D" (a digit): whole yuan ending in D ("9": 9.00, 19.00, ...); "0.D" or "0.DD":
    the fen part of the price ("0.9": x.90, "0.99": x.99)."""
    value = raw.get("ending")
    if value is None:
        return None
    text = (
        str(value)
        if isinstance(value, str | int | Decimal) and not isinstance(value, bool)
        else None
    )
    bad = UsageError(
        f'{label}: ending: must be a digit ("9": whole yuan ending in 9) or 0.D / 0.DD '
        f'("0.9", "0.99": the jiao and fen) (got {value!r})'
    )
    if text is None:
        raise bad
    if len(text) == 1 and text.isascii() and text.isdigit():
        return Ending(text, 1000, int(text) * 100)
    if (
        text.startswith("0.")
        and 1 <= len(text) - 2 <= 2
        and text[2:].isdigit()
        and text[2:].isascii()
    ):
        digits = text[2:].ljust(2, "0")
        return Ending(text, 100, int(digits))
    raise bad


def _fmt(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"
