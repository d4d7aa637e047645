"""`doudian price` (批量改价, domain.md section 7).

Expected figures are worked out by hand in integer fen (the comments show the sums),
not computed by the code under test. The arithmetic branches run through the engine on
tiny frames; the rules file, the outputs, the exit codes and the counts through the real
CLI on the fixtures of fixtures/price/ (see its README for every row).
"""

from __future__ import annotations

import csv
import json
import random
import tomllib
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from conftest import FIXTURES

from pipeline.stages.price.engine import REASONS, decide, glob_regex
from pipeline.stages.price.rules import parse_rules

PRICE = FIXTURES / "price"
PRODUCTS = "fixtures/price/products.csv"
COSTS = "fixtures/price/costs.csv"
RULES = "fixtures/price/rules.toml"

# --- helpers -------------------------------------------------------------------------


def rules_of(text: str):
    return parse_rules(tomllib.loads(text, parse_float=Decimal), "rules.toml")


def product_frame(rows: list[dict]) -> pl.LazyFrame:
    base = {
        "product_id": "3660000000000000001",
        "merchant_code": "A-1",
        "product_title": "商品",
        "spec": None,
        "category": "服饰内衣",
    }
    full = [
        {**base, "sku_id": f"17654000000000{i:05d}", **row} for i, row in enumerate(rows, start=1)
    ]
    schema = {
        "product_id": pl.String,
        "sku_id": pl.String,
        "merchant_code": pl.String,
        "product_title": pl.String,
        "spec": pl.String,
        "category": pl.String,
        "price": pl.Int64,
    }
    return pl.DataFrame([{k: r.get(k) for k in schema} for r in full], schema=schema).lazy()


def cost_frame(rows: list[tuple[str | None, str | None, int]]) -> pl.LazyFrame:
    schema = {"sku_id": pl.String, "merchant_code": pl.String, "cost": pl.Int64}
    return pl.DataFrame(rows, schema=schema, orient="row").lazy()


def decide_one(old: int, rule: str, guards: str = "", cost: int | None = None) -> tuple:
    """(status, wanted, reason) of one SKU priced `old` fen under one rule."""
    rules = rules_of(f"[guards]\n{guards}\n[[rule]]\nname = 'r'\n{rule}\n")
    products = product_frame([{"price": old}])
    sku = "1765400000000000001"
    costs = cost_frame([] if cost is None else [(sku, None, cost)])
    out = decide(products, costs, rules).collect()
    return out.select("status", "wanted", "reason").row(0)


def read_csv(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def price(doudian, out: Path, *args: str):
    return doudian("price", *args, "--out", str(out), out=out / "price")


def example_run(doudian, out: Path, *extra: str):
    return price(doudian, out, "--products", PRODUCTS, "--costs", COSTS, "--rules", RULES, *extra)


# --- the arithmetic, in the fixed order: percent, amount, round, ending --------------


@pytest.mark.parametrize(
    "old, rule, wanted",
    [
        # percent: old * (100 + p) / 100, rounded half-up to the fen
        (5990, "percent = -10", 5391),  # 5391.0
        (999, "percent = -15", 849),  # 849.15
        (1001, "percent = -50", 501),  # 500.5: tie, up
        (333, "percent = 12.5", 375),  # 374.625
        (1000, "percent = -0.55", 995),  # 994.5: tie, up
        (100, "percent = 1000", 1100),
        # amount, in yuan
        (5990, "amount = -1.00", 5890),
        (5990, "amount = 0.05", 5995),
        (5990, "amount = 10", 6990),
        # percent, then amount: 1000 * 0.9 + 55 (the other order would give 949.5)
        (1000, "percent = -10\namount = 0.55", 955),
        # set
        (5990, "set = 99.00", 9900),
        (5990, "set = 99.50\nround = 'yuan'", 10000),  # 99.5 yuan: tie, up
        # round to the jiao / yuan, ties half-up, from the exact value (one rounding)
        (4792, "percent = 0\nround = 'jiao'", 4790),
        (4795, "percent = 0\nround = 'jiao'", 4800),
        (4794, "percent = 0\nround = 'jiao'", 4790),
        (4050, "percent = 0\nround = 'yuan'", 4100),
        (4049, "percent = 0\nround = 'yuan'", 4000),
        (1000, "percent = -0.55\nround = 'jiao'", 990),  # 994.5 fen = 99.45 jiao -> 99
        (1000, "percent = -0.55\nround = 'fen'", 995),
        # ending "0.9": the largest x.90 not above the rounded price
        (4792, "percent = 0\nending = '0.9'", 4790),
        (4790, "percent = 0\nending = '0.9'", 4790),  # already has it
        (4789, "percent = 0\nending = '0.9'", 4690),
        (12900, "percent = -20\nround = 'jiao'\nending = '0.9'", 10290),  # 10320 -> 10290
        # "0.99"
        (5000, "percent = 0\nending = '0.99'", 4999),
        (5099, "percent = 0\nending = '0.99'", 5099),
        (5098, "percent = 0\nending = '0.99'", 4999),
        # "9": whole yuan ending in 9
        (6000, "percent = 0\nending = '9'", 5900),
        (5900, "percent = 0\nending = '9'", 5900),
        (5899, "percent = 0\nending = '9'", 4900),
        (1999, "percent = 0\nending = '9'", 1900),
        # other endings of the same forms
        (5060, "percent = 0\nending = '0.5'", 5050),
        (5060, "percent = 0\nending = '0.05'", 5005),
        (5060, "percent = 0\nending = '0'", 5000),
        (5060, "percent = 0\nending = 0.9", 4990),  # a TOML number works too
        # round, then ending: 59.60 -> 60.00 -> 59.90
        (5960, "percent = 0\nround = 'yuan'\nending = '0.9'", 5990),
    ],
)
def test_arithmetic(old, rule, wanted):
    status = "unchanged" if wanted == old else "changed"
    assert decide_one(old, rule) == (status, wanted, None)


@pytest.mark.parametrize(
    "old, rule, wanted",
    [
        (50, "percent = 0\nending = '0.9'", -10),  # no x.90 at or below 0.50
        (899, "percent = 0\nending = '9'", -100),  # no 9.00 at or below 8.99
        (1000, "amount = -10.00", 0),
        (50, "amount = -1.00", -50),
        (50, "amount = -2.00\nround = 'yuan'", -200),  # -1.50: tie, away from zero
    ],
)
def test_below_one_fen_is_blocked_even_without_guards(old, rule, wanted):
    assert decide_one(old, rule) == ("blocked", wanted, "min_price")


def test_one_fen_is_a_price():
    assert decide_one(1000, "amount = -9.99") == ("changed", 1, None)


# --- guards: every bound inclusive -----------------------------------------------------


@pytest.mark.parametrize(
    "old, rule, guards, cost, expected",
    [
        # min_price: 1000 - 10% = 900
        (1000, "percent = -10", "min_price = 9.00", None, ("changed", 900, None)),
        (1000, "percent = -10", "min_price = 9.01", None, ("blocked", 900, "min_price")),
        # max_price: 1000 + 10% = 1100
        (1000, "percent = 10", "max_price = 11.00", None, ("changed", 1100, None)),
        (1000, "percent = 10", "max_price = 10.99", None, ("blocked", 1100, "max_price")),
        # min_margin: new >= cost * (1 + margin), exactly
        (2000, "set = 11.00", "min_margin = 0.10", 1000, ("changed", 1100, None)),
        (2000, "set = 10.99", "min_margin = 0.10", 1000, ("blocked", 1099, "min_margin")),
        (2000, "set = 100.01", "min_margin = 0.0001", 10000, ("changed", 10001, None)),
        (20000, "set = 100.00", "min_margin = 0.0001", 10000, ("blocked", 10000, "min_margin")),
        (2000, "set = 9.02", "min_margin = 0.125", 801, ("changed", 902, None)),  # >= 901.125
        (2000, "set = 9.01", "min_margin = 0.125", 801, ("blocked", 901, "min_margin")),
        (2000, "set = 10.00", "min_margin = 0", 1000, ("changed", 1000, None)),
        (2000, "set = 9.99", "min_margin = 0", 1000, ("blocked", 999, "min_margin")),
        # no cost under a margin guard; none needed without one
        (2000, "set = 30.00", "min_margin = 0.10", None, ("blocked", 3000, "no-cost")),
        (2000, "set = 30.00", "", None, ("changed", 3000, None)),
        # max_change_pct: |new - old| <= old * pct / 100, up and down
        (1000, "percent = 30", "max_change_pct = 30", None, ("changed", 1300, None)),
        (1000, "amount = 3.01", "max_change_pct = 30", None, ("blocked", 1301, "max_change_pct")),
        (1000, "percent = -30", "max_change_pct = 30", None, ("changed", 700, None)),
        (1000, "amount = -3.01", "max_change_pct = 30", None, ("blocked", 699, "max_change_pct")),
        (800, "set = 9.00", "max_change_pct = 12.5", None, ("changed", 900, None)),
        (800, "set = 9.01", "max_change_pct = 12.5", None, ("blocked", 901, "max_change_pct")),
        # the first broken guard is reported: min_price, max_price, no-cost, min_margin, max_change_pct
        (
            1000,
            "set = 1.00",
            "min_price = 5.00\nmax_change_pct = 10",
            None,
            ("blocked", 100, "min_price"),
        ),
        (
            1000,
            "set = 50.00",
            "max_price = 20.00\nmin_margin = 0.1",
            None,
            ("blocked", 5000, "max_price"),
        ),
        (
            1000,
            "set = 50.00",
            "min_margin = 0.1\nmax_change_pct = 10",
            None,
            ("blocked", 5000, "no-cost"),
        ),
        (
            1000,
            "set = 1.00",
            "min_margin = 0.1\nmax_change_pct = 10",
            500,
            ("blocked", 100, "min_margin"),
        ),
        # a SKU whose price does not move is unchanged, even if its old price breaks a guard
        (1000, "percent = 0", "min_margin = 0.10", 1000, ("unchanged", 1000, None)),
        (1000, "percent = 0", "min_margin = 0.10", None, ("unchanged", 1000, None)),
        (4990, "percent = 0\nending = '0.9'", "max_price = 10.00", None, ("unchanged", 4990, None)),
    ],
)
def test_guards(old, rule, guards, cost, expected):
    assert decide_one(old, rule, guards, cost) == expected


def test_a_rule_guard_replaces_only_that_key():
    rules = rules_of(
        """
        [guards]
        min_price = 5.00
        max_change_pct = 30
        min_margin = 0.10

        [[rule]]
        name = "wide"
        sku_ids = ["1765400000000000001"]
        percent = -60
        max_change_pct = 70    # replaces 30 for this rule
        min_margin = false     # turns the global one off

        [[rule]]
        name = "other"
        percent = -60
        """
    )
    (wide, other) = rules.rules
    assert (wide.guards.min_price, wide.guards.max_change_bp, wide.guards.min_margin_bp) == (
        500,
        7000,
        None,
    )
    assert (other.guards.min_price, other.guards.max_change_bp, other.guards.min_margin_bp) == (
        500,
        3000,
        1000,
    )
    products = product_frame([{"price": 2000}, {"price": 2000}, {"price": 1000}])
    costs = cost_frame([("1765400000000000002", None, 100), ("1765400000000000003", None, 100)])
    out = decide(products, costs, rules).collect()
    assert out.select("rule_name", "status", "wanted", "reason").rows() == [
        ("wide", "changed", 800, None),  # 60% off is within 70%; no margin guard
        ("other", "blocked", 800, "max_change_pct"),  # 60% > 30%
        ("other", "blocked", 400, "min_price"),  # 4.00 < 5.00, the global min_price still applies
    ]


# --- selectors and first match ---------------------------------------------------------

CATALOGUE = [
    {"sku_id": "1765400000000000001", "product_id": "3660000000000000001", "merchant_code": "A-WY-01",
     "product_title": "秋季卫衣", "category": "服饰内衣", "price": 12900},
    {"sku_id": "1765400000000000002", "product_id": "3660000000000000002", "merchant_code": "a-wy-02",
     "product_title": "夏季T恤 秋", "category": "服饰内衣", "price": 3950},
    {"sku_id": "1765400000000000003", "product_id": "3660000000000000002", "merchant_code": "XA-1",
     "product_title": "秋梨膏", "category": "休闲食品", "price": 1000},
    {"sku_id": "1765400000000000004", "product_id": "3660000000000000004", "merchant_code": None,
     "product_title": None, "category": None, "price": 999},
    {"sku_id": "1765400000000000005", "product_id": "3660000000000000005", "merchant_code": "A.B",
     "product_title": "帆布袋 (大号)", "category": "箱包", "price": 1001},
]  # fmt: skip


@pytest.mark.parametrize(
    "selectors, selected",
    [
        ("", [1, 2, 3, 4, 5]),  # no selector: every SKU
        ('product_ids = ["3660000000000000002"]', [2, 3]),
        ('sku_ids = ["1765400000000000004", "1765400000000000005"]', [4, 5]),
        ('merchant_code = "A-*"', [1]),  # case-sensitive, the whole code
        ('merchant_code = "*A-*"', [1, 3]),
        ('merchant_code = "?A-?"', [3]),
        ('merchant_code = "A.B"', [5]),  # "." is itself
        ('merchant_code = "A?B"', [5]),
        ('merchant_code = ["a-*", "XA-*"]', [2, 3]),  # a list: any of them
        ('title_contains = "秋"', [1, 2, 3]),
        ('title_contains = "(大号)"', [5]),  # literal text
        ('title_regex = "^秋"', [1, 3]),
        ('title_regex = "秋$"', [2]),
        ('title_regex = "T恤|膏"', [2, 3]),  # searched anywhere
        ('category = "服饰内衣"', [1, 2]),
        ('category = ["箱包", "休闲食品"]', [3, 5]),
        ("price_min = 9.99\nprice_max = 10.01", [3, 4, 5]),  # both bounds inclusive
        ("price_min = 10.00", [1, 2, 3, 5]),
        ("price_max = 10.00", [3, 4]),
        (
            'title_contains = "秋"\ncategory = "服饰内衣"\nmerchant_code = "A-*"',
            [1],
        ),  # all must match
    ],
)
def test_selectors(selectors, selected):
    rules = rules_of(f"[[rule]]\nname = 's'\n{selectors}\npercent = -10\n")
    out = decide(product_frame(CATALOGUE), cost_frame([]), rules).collect()
    chosen = out.filter(pl.col("rule").is_not_null()).get_column("sku_id").to_list()
    assert chosen == [CATALOGUE[i - 1]["sku_id"] for i in selected]


def test_glob_is_anchored_and_literal():
    assert glob_regex("A-*") == r"^(?s:A\x{2D}.*)$"
    assert glob_regex("货号?") == "^(?s:货号.)$"


def test_first_matching_rule_wins():
    rules = rules_of(
        """
        [[rule]]
        name = "autumn"
        title_contains = "秋"
        percent = -20

        [[rule]]
        name = "clothes"
        category = "服饰内衣"
        percent = -10

        [[rule]]
        name = "all"
        amount = 1
        """
    )
    out = decide(product_frame(CATALOGUE), cost_frame([]), rules).collect()
    assert out.select("sku_id", "rule", "rule_name", "wanted").rows() == [
        ("1765400000000000001", 0, "autumn", 10320),
        ("1765400000000000002", 0, "autumn", 3160),
        ("1765400000000000003", 0, "autumn", 800),
        ("1765400000000000004", 2, "all", 1099),
        ("1765400000000000005", 2, "all", 1101),
    ]


def test_costs_by_sku_then_by_code_first_copy_wins():
    products = product_frame(
        [
            {"price": 1000, "merchant_code": "M-1"},  # SKU ...001: its own cost row
            {"price": 1000, "merchant_code": "M-1"},  # ...002: the 商家编码 row (no SKU ID)
            {"price": 1000, "merchant_code": "M-2"},  # ...003: M-2 only on a row with a SKU ID
            {"price": 1000, "merchant_code": None},  # ...004: nothing
        ]
    )
    costs = cost_frame(
        [
            ("1765400000000000001", "M-1", 100),
            ("1765400000000000001", None, 999),  # a later copy: ignored
            (None, "M-1", 200),
            (None, "M-1", 888),  # a later copy: ignored
            ("1765400000000000099", "M-2", 300),  # keyed by its SKU ID, not usable by code
        ]
    )
    rules = rules_of("[[rule]]\nname = 'r'\npercent = 0\n")
    out = decide(products, costs, rules).collect()
    assert out.get_column("cost").to_list() == [100, 200, None, None]


# --- property: engine = an independent exact model; no output price breaks a guard ----


def _model(old: int, rule: dict, guards: dict, cost: int | None) -> tuple[str, int, str | None]:
    """The spec in plain Python with Fractions: percent, amount/set, round, ending, guards."""
    if "set" in rule:
        value = Fraction(rule["set"])
    else:
        value = Fraction(old) * (1 + Fraction(rule.get("percent", 0)) / 100) + rule.get("amount", 0)
    step = rule.get("step", 1)
    q = abs(value) / step
    n = int(q) + (1 if q - int(q) >= Fraction(1, 2) else 0)
    rounded = (n if value >= 0 else -n) * step
    if "ending" in rule:
        mod, res = rule["ending"]
        new = max(p for p in range(rounded - mod, rounded + 1) if p % mod == res)
    else:
        new = rounded
    if new == old:
        return ("unchanged", new, None)
    if new < max(guards.get("min_price", 1), 1):
        return ("blocked", new, "min_price")
    if "max_price" in guards and new > guards["max_price"]:
        return ("blocked", new, "max_price")
    if "min_margin" in guards:
        if cost is None:
            return ("blocked", new, "no-cost")
        if new < cost * (1 + guards["min_margin"]):
            return ("blocked", new, "min_margin")
    if "max_change_pct" in guards and abs(new - old) > old * guards["max_change_pct"] / 100:
        return ("blocked", new, "max_change_pct")
    return ("changed", new, None)


ENDINGS = {"0.9": (100, 90), "0.99": (100, 99), "9": (1000, 900), "0.5": (100, 50)}
STEPS = {"fen": 1, "jiao": 10, "yuan": 100}


def _random_case(rng: random.Random, n: int):
    guards: dict = {}
    lines = []
    if rng.random() < 0.6:
        guards["min_price"] = rng.choice([1, 100, 990, 5000])
        lines.append(f"min_price = {Decimal(guards['min_price']) / 100}")
    if rng.random() < 0.5:
        guards["max_price"] = rng.choice([5000, 9990, 20000, 100000])
        lines.append(f"max_price = {Decimal(guards['max_price']) / 100}")
    if rng.random() < 0.6:
        margin = rng.choice(["0", "0.05", "0.1", "0.125", "0.3333", "1.5"])
        guards["min_margin"] = Fraction(margin)
        lines.append(f"min_margin = {margin}")
    if rng.random() < 0.6:
        pct = rng.choice(["5", "12.5", "30", "99.99", "200"])
        guards["max_change_pct"] = Fraction(pct)
        lines.append(f"max_change_pct = {pct}")
    rule: dict = {}
    body = []
    kind = rng.choice(["percent", "amount", "both", "set"])
    if kind in ("percent", "both"):
        pct = rng.choice(["-50", "-33.33", "-20", "-0.55", "0", "7.5", "12.34", "150"])
        rule["percent"] = Fraction(pct)
        body.append(f"percent = {pct}")
    if kind in ("amount", "both"):
        fen = rng.randint(-3000, 3000)
        rule["amount"] = fen
        body.append(f"amount = {Decimal(fen) / 100}")
    if kind == "set":
        fen = rng.randint(1, 50000)
        rule["set"] = fen
        body.append(f"set = {Decimal(fen) / 100}")
    round_name = rng.choice(list(STEPS))
    rule["step"] = STEPS[round_name]
    body.append(f"round = '{round_name}'")
    if rng.random() < 0.5:
        ending = rng.choice(list(ENDINGS))
        rule["ending"] = ENDINGS[ending]
        body.append(f"ending = '{ending}'")
    text = "[guards]\n" + "\n".join(lines) + "\n[[rule]]\nname = 'r'\n" + "\n".join(body) + "\n"
    prices = [
        rng.choice([rng.randint(0, 200), rng.randint(1, 30000), rng.randint(1, 2_000_000)])
        for _ in range(n)
    ]
    costs = [rng.choice([None, rng.randint(0, 20000), p * 9 // 10]) for p in prices]
    return text, rule, guards, prices, costs


@pytest.mark.parametrize("seed", range(40))
def test_property_engine_matches_the_spec_and_no_price_breaks_a_guard(seed):
    rng = random.Random(seed)
    text, rule, guards, prices, costs = _random_case(rng, 150)
    rules = rules_of(text)
    products = product_frame([{"price": p} for p in prices])
    skus = products.collect().get_column("sku_id").to_list()
    cost_rows = [(s, None, c) for s, c in zip(skus, costs, strict=True) if c is not None]
    out = decide(products, cost_frame(cost_rows), rules).collect()
    got = out.select("status", "wanted", "reason").rows()
    expected = [_model(p, rule, guards, c) for p, c in zip(prices, costs, strict=True)]
    assert got == expected, text
    # every price that would be uploaded keeps every guard in force
    for (status, new, _), old, cost in zip(got, prices, costs, strict=True):
        if status != "changed":
            continue
        assert new >= max(guards.get("min_price", 1), 1)
        assert new <= guards.get("max_price", new)
        if "min_margin" in guards:
            assert cost is not None and new >= cost * (1 + guards["min_margin"])
        if "max_change_pct" in guards:
            assert abs(new - old) * 100 <= old * guards["max_change_pct"]
    assert {r for _, _, r in got} <= {None, *REASONS}


# --- the rules file: refused before any data is read, exit 2 ---------------------------

RULE_KEYS_HINT = (
    "  hint: keys of a rule: name, product_ids, sku_ids, merchant_code, title_contains, "
    "title_regex, category, price_min, price_max, percent, amount, set, round, ending, "
    "min_price, max_price, min_margin, max_change_pct\n"
)
OK_RULE = '[[rule]]\nname = "a"\npercent = -10\n'


@pytest.mark.parametrize(
    "text, message",
    [
        (
            '[[rule]]\nname = "vip"\nsku_id = ["1234567890123456"]\nset = 99.00\n',
            'rule 1 "vip": unknown key "sku_id"\n' + RULE_KEYS_HINT,
        ),
        (
            "[guard]\nmin_price = 0.01\n" + OK_RULE,
            'unknown key "guard"\n  hint: keys of top level: guards, rule\n',
        ),
        (
            "[guards]\nmax_change = 30\n" + OK_RULE,
            '[guards]: unknown key "max_change"\n'
            "  hint: keys of [guards]: min_price, max_price, min_margin, max_change_pct\n",
        ),
        (
            OK_RULE + '[[rule]]\nname = "b"\ntitle_regex = "秋("\npercent = -10\n',
            'rule 2 "b": title_regex: not a valid regular expression (regex error: regex parse '
            "error: 秋( ^ error: unclosed group)\n",
        ),
        (
            "[guards]\nmin_price = 10\nmax_price = 5\n" + OK_RULE,
            "[guards]: min_price: 10.00 is above max_price 5.00: no price can pass\n",
        ),
        (
            "[guards]\nmin_price = 10\n" + OK_RULE + "max_price = 9.99\n",
            'rule 1 "a": max_price: 9.99 is below min_price 10.00 (the other from [guards]): '
            "no price can pass\n",
        ),
        (
            OK_RULE + "min_margin = -0.1\n",
            'rule 1 "a": min_margin: out of range 0 to 100 (got -0.1)\n',
        ),
        (
            "[guards]\nmin_margin = 0.12345\n" + OK_RULE,
            "[guards]: min_margin: must be a fraction of cost (0.10 = 10%) with at most 4 "
            "decimal places (got 0.12345)\n",
        ),
        (
            "[guards]\nmax_change_pct = 0\n" + OK_RULE,
            "[guards]: max_change_pct: must be above 0 (got 0)\n"
            "  hint: to let a rule move prices freely, say max_change_pct = false\n",
        ),
        (
            OK_RULE + "max_change_pct = -5\n",
            'rule 1 "a": max_change_pct: must be above 0 (got -5)\n'
            "  hint: to let a rule move prices freely, say max_change_pct = false\n",
        ),
        (
            "[guards]\nmin_price = 0\n" + OK_RULE,
            "[guards]: min_price: out of range 0.01 to 10000000.00 yuan (got 0)\n",
        ),
        (
            OK_RULE + 'round = "cent"\n',
            'rule 1 "a": round: must be "fen", "jiao" or "yuan" (got \'cent\')\n',
        ),
        (
            OK_RULE + 'ending = "0.999"\n',
            'rule 1 "a": ending: must be a digit ("9": whole yuan ending in 9) or 0.D / 0.DD '
            '("0.9", "0.99": the jiao and fen) (got \'0.999\')\n',
        ),
        (
            '[[rule]]\nname = "a"\ncategory = "箱包"\nround = "yuan"\n',
            'rule 1 "a": no action: give one of percent, amount, set\n'
            "  hint: a rule that only rounds or sets an ending can say percent = 0\n",
        ),
        (
            '[[rule]]\nname = "a"\nset = 99.00\npercent = -10\n',
            'rule 1 "a": percent: two actions: set cannot be combined with percent\n'
            "  hint: percent and amount may go together (percent first, then amount); set stands alone\n",
        ),
        (
            "[[rule]]\npercent = -10\n",
            'rule 1: name: missing\n  hint: every [[rule]] needs a name = "..."\n',
        ),
        (
            OK_RULE + OK_RULE,
            'rule 2 "a": name: the same name as rule 1\n'
            "  hint: rule names must be unique: they label the changes and the counts per rule\n",
        ),
        (
            '[[rule]]\nname = "a"\nsku_ids = [1234567890123456]\nset = 9\n',
            'rule 1 "a": sku_ids: 1234567890123456 is not a quoted string\n'
            '  hint: write IDs as quoted strings: sku_ids = ["3621547896541236547"]\n',
        ),
        (
            '[[rule]]\nname = "a"\nproduct_ids = ["6.9E+18"]\nset = 9\n',
            "rule 1 \"a\": product_ids: '6.9E+18' is not an ID of 16 to 19 digits\n",
        ),
        (
            OK_RULE + "price_min = 20\nprice_max = 10\n",
            'rule 1 "a": price_min: 20.00 is above price_max 10.00: the rule can select nothing\n',
        ),
        (
            '[[rule]]\nname = "a"\npercent = -100\n',
            'rule 1 "a": percent: must be above -100 and at most 1000 (got -100)\n'
            "  hint: percent = -20 takes 20% off; -100 or less would make the price 0 or negative\n",
        ),
        (
            '[[rule]]\nname = "a"\namount = 1.005\n',
            'rule 1 "a": amount: must be yuan with at most 2 decimals (got 1.005)\n',
        ),
        (
            '[[rule]]\nname = "a"\nset = "99"\n',
            "rule 1 \"a\": set: must be a number (got '99')\n",
        ),
        (
            "[guards]\nmax_change_pct = 2000\n" + OK_RULE,
            "[guards]: max_change_pct: at most 1000 (got 2000)\n",
        ),
        (
            OK_RULE + "max_change_pct = true\n",
            'rule 1 "a": max_change_pct: must be a number (got True)\n',
        ),
        (
            OK_RULE + 'title_contains = ["秋", 3]\n',
            'rule 1 "a": title_contains: must be a non-empty string or a list of them '
            "(got ['秋', 3])\n",
        ),
        (
            "[guards]\nmin_price = 0.01\n",
            "has no rules\n  hint: add one or more [[rule]] tables, each with a name and an action\n",
        ),
    ],
)
def test_bad_rules_file_exit_2_before_reading_data(doudian, tmp_path, text, message):
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    # the products file does not even exist: it is never opened
    run = price(doudian, out, "--products", "fixtures/price/nope.csv", "--rules", str(path))
    assert run.exit_code == 2
    assert run.stdout == ""
    assert run.stderr == f"Error: {path}: {message}"
    assert not out.exists()


def test_not_toml_exit_2(doudian, tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text('[[rule]]\nname = "a\n', encoding="utf-8")
    run = price(doudian, tmp_path / "out", "--products", PRODUCTS, "--rules", str(path))
    assert run.exit_code == 2
    assert run.stderr == (
        f"Error: {path}: not a valid TOML file (Illegal character '\\n' (at line 2, column 10))\n"
    )


def test_margin_guard_without_costs_exit_2(doudian, tmp_path):
    run = price(doudian, tmp_path / "out", "--products", PRODUCTS, "--rules", RULES)
    assert run.exit_code == 2
    assert run.stderr == (
        'Error: --costs is required: a min_margin guard applies to rules "autumn-clearance", '
        '"vip-skus", "everything-else"\n'
        "  hint: pass the cost file with --costs FILE, or turn the guard off for a rule with "
        "min_margin = false\n"
    )
    assert not (tmp_path / "out").exists()


def test_margin_guard_turned_off_needs_no_costs(doudian, tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(
        '[guards]\nmin_margin = 0.10\n[[rule]]\nname = "nine"\npercent = 0\nending = "9"\n'
        "min_margin = false\n",
        encoding="utf-8",
    )
    run = price(doudian, tmp_path / "out", "--products", PRODUCTS, "--rules", str(path))
    assert run.exit_code == 3
    summary = json.loads((run.out / "summary.json").read_text(encoding="utf-8"))
    # every SKU is selected (no selector); 129.00, 99.00, 89.00, 49.00, 79.00 already end
    # in 9; 59.90 x2, 39.50, 19.90, 1299.50 move down to 59.00, 39.00, 19.00, 1299.00;
    # 2.00 has no price ending in 9 at or below it: blocked, even with no min_price guard
    assert (summary["selected"], summary["changed"], summary["unchanged"]) == (11, 5, 5)
    assert read_csv(run.out / "blocked.csv")[1:] == [
        ["1765400000000000501", "nine", "min_price", "-100"]
    ]
    assert [r[3] for r in read_csv(run.out / "changes.csv")[1:]] == [
        "5900", "3900", "5900", "1900", "129900",
    ]  # fmt: skip


def test_missing_rules_file_exit_2(doudian, tmp_path):
    run = price(doudian, tmp_path / "out", "--products", PRODUCTS, "--rules", "nope.toml")
    assert run.exit_code == 2
    assert "'--rules': File 'nope.toml' does not exist." in run.stderr
    assert not (tmp_path / "out").exists()


def test_example_rules_file_parses_as_written():
    assert (
        (PRICE / "rules.toml")
        .read_text(encoding="utf-8")
        .startswith(
            "[guards]            # global, apply to every rule unless the rule sets its own\n"
        )
    )
    rules = rules_of((PRICE / "rules.toml").read_text(encoding="utf-8"))
    autumn, vip, rest = rules.rules
    assert (autumn.category, autumn.title_contains, autumn.percent_bp, autumn.round_step) == (
        ("服饰内衣",), ("秋",), -2000, 10,
    )  # fmt: skip
    assert (autumn.ending.modulus, autumn.ending.residue) == (100, 90)
    assert (vip.sku_ids, vip.set_price, vip.own_guards) == (
        ("1234567890123456",),
        9900,
        ("min_margin",),
    )
    assert (vip.guards.min_price, vip.guards.max_change_bp, vip.guards.min_margin_bp) == (
        1,
        3000,
        3000,
    )
    assert (rest.merchant_code, rest.amount, rest.round_step) == (("A-*",), 100, 100)
    assert rest.guards == rules.guards == autumn.guards


# --- the example rules file end to end -----------------------------------------------

# fmt: off
CHANGES = [
    ["sku_id", "rule", "old_fen", "new_fen", "delta_fen", "change_pct"],
    # 129.00 -20% = 103.20, jiao 103.20, ending 102.90; margin 60.00*1.1 = 66.00, change 20.23%
    ["1765400000000000101", "autumn-clearance", "12900", "10290", "-2610", "-20.23"],
    # set 99.00; margin 70.00*1.3 = 91.00 (the rule's own 0.30); change 11.24% <= 30
    ["1234567890123456", "vip-skus", "8900", "9900", "1000", "11.24"],
    # 39.50 + 1.00 = 40.50, yuan: tie, up, 41.00; cost 20.00 by 商家编码
    ["1765400000000000401", "everything-else", "3950", "4100", "150", "3.80"],
    # 1,299.50 + 1.00 = 1300.50 -> 1301.00 (title has 秋 but the category is 休闲食品)
    ["1765400000000000901", "everything-else", "129950", "130100", "150", "0.12"],
]
BLOCKED = [
    ["sku_id", "rule", "reason", "wanted_fen"],
    # 59.90 -20% = 47.92 -> 47.90 (has the ending); 50.00*1.1 = 55.00 > 47.90
    ["1765400000000000102", "autumn-clearance", "min_margin", "4790"],
    # 99.00 -20% = 79.20 -> 78.90; no cost row for the SKU (A-CS-01's cost row has a SKU ID)
    ["1765400000000000201", "autumn-clearance", "no-cost", "7890"],
    # 2.00 + 1.00 = 3.00: +50% > 30%
    ["1765400000000000501", "everything-else", "max_change_pct", "300"],
]
UPLOAD = [
    ["商品ID", "SKU ID", "商家编码", "商品名称", "规格", "原价", "新价"],
    ["3660000000000000001", "1765400000000000101", "A-WY-01", "秋季连帽卫衣 男款", "黑色;L", "129.00", "102.90"],
    ["3660000000000000003", "1234567890123456", "A-BAG-01", "真皮手提包", "棕色", "89.00", "99.00"],
    ["3660000000000000004", "1765400000000000401", "A-TX-01", "夏季短袖T恤", "白色;L", "39.50", "41.00"],
    ["3660000000000000009", "1765400000000000901", "A-QL-300", "秋梨膏 礼盒", "300g*6", "1299.50", "1301.00"],
]
SUMMARY = {
    "skus": 11,
    "selected": 7,
    "not_selected": 4,  # coffee (KF-), no 商家编码, a-cb-01 (case), XA-WJ-01 (whole code)
    "changed": 4,
    "unchanged": 0,
    "blocked": {"max_change_pct": 1, "min_margin": 1, "no-cost": 1},
    "by_rule": {"autumn-clearance": 1, "vip-skus": 1, "everything-else": 2},
    "rejected_rows": 0,
    "dry_run": False,
}
# fmt: on


def test_example_rules_file_end_to_end(doudian, tmp_path):
    run = example_run(doudian, tmp_path)
    assert run.exit_code == 3  # some SKUs are blocked
    assert run.stderr == ""
    assert read_csv(run.out / "changes.csv") == CHANGES
    assert read_csv(run.out / "blocked.csv") == BLOCKED
    assert json.loads((run.out / "summary.json").read_text(encoding="utf-8")) == SUMMARY
    # the CSV: IDs tab-prefixed as in the platform's exports, so Excel keeps them as text
    upload = read_csv(run.out / "upload.csv")
    assert upload[0] == UPLOAD[0]
    assert [
        [r[0].removeprefix("\t"), r[1].removeprefix("\t"), *r[2:]] for r in upload[1:]
    ] == UPLOAD[1:]
    assert all(r[0].startswith("\t") and r[1].startswith("\t") for r in upload[1:])
    assert (run.out / "upload.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert run.stdout == (
        "price: 11 SKUs: 7 selected (4 changed, 0 unchanged, 3 blocked), 4 not selected\n"
        "  blocked: max_change_pct 1, min_margin 1, no-cost 1\n"
        "  changed by rule: autumn-clearance 1, vip-skus 1, everything-else 2\n"
        f"  outputs: {run.out}\n"
    )


def test_upload_xlsx_read_back(doudian, tmp_path):
    run = example_run(doudian, tmp_path)
    book = openpyxl.load_workbook(run.out / "upload.xlsx")
    assert book.sheetnames == ["批量改价"]
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0] == tuple(UPLOAD[0])
    assert [r[:5] for r in rows[1:]] == [tuple(r[:5]) for r in UPLOAD[1:]]  # IDs: text, all digits
    assert all(isinstance(v, str) for r in rows[1:] for v in r[:5])
    assert [r[5:] for r in rows[1:]] == [(129, 102.9), (89, 99), (39.5, 41), (1299.5, 1301)]
    assert [[c.data_type for c in r[5:]] for r in book.active.iter_rows(min_row=2)] == [
        ["n", "n"]
    ] * 4


def test_payloads(doudian, tmp_path):
    run = example_run(doudian, tmp_path)
    lines = (run.out / "payloads.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"product_id": "3660000000000000001", "sku_id": "1765400000000000101", "code": "A-WY-01", "price": 10290},
        {"product_id": "3660000000000000003", "sku_id": "1234567890123456", "code": "A-BAG-01", "price": 9900},
        {"product_id": "3660000000000000004", "sku_id": "1765400000000000401", "code": "A-TX-01", "price": 4100},
        {"product_id": "3660000000000000009", "sku_id": "1765400000000000901", "code": "A-QL-300", "price": 130100},
    ]  # fmt: skip


def test_each_sku_at_most_once_and_counts_add_up(doudian, tmp_path):
    run = example_run(doudian, tmp_path)
    summary = json.loads((run.out / "summary.json").read_text(encoding="utf-8"))
    products = read_csv(PRICE / "products.csv")[1:]
    all_skus = [r[2].removeprefix("\t") for r in products]
    upload_skus = [r[1].removeprefix("\t") for r in read_csv(run.out / "upload.csv")[1:]]
    xlsx_skus = [
        r[1]
        for r in openpyxl.load_workbook(run.out / "upload.xlsx").active.iter_rows(
            min_row=2, values_only=True
        )
    ]
    payload_skus = [
        json.loads(x)["sku_id"] for x in (run.out / "payloads.jsonl").read_text().splitlines()
    ]
    changed = [r[0] for r in read_csv(run.out / "changes.csv")[1:]]
    blocked = [r[0] for r in read_csv(run.out / "blocked.csv")[1:]]
    for skus in (upload_skus, xlsx_skus, payload_skus, changed, blocked):
        assert len(skus) == len(set(skus))
    assert upload_skus == xlsx_skus == payload_skus == changed
    assert not set(changed) & set(blocked)
    assert summary["skus"] == len(all_skus) == summary["selected"] + summary["not_selected"]
    assert summary["selected"] == summary["changed"] + summary["unchanged"] + sum(
        summary["blocked"].values()
    )
    assert summary["changed"] == len(changed) == sum(summary["by_rule"].values())
    assert sum(summary["blocked"].values()) == len(blocked)
    assert set(changed) | set(blocked) <= set(all_skus)


def test_dry_run_writes_only_reports_and_prints_the_table(doudian, tmp_path):
    full = example_run(doudian, tmp_path / "full")
    dry = example_run(doudian, tmp_path / "dry", "--dry-run")
    assert dry.exit_code == 3
    assert sorted(p.name for p in dry.out.iterdir()) == [
        "blocked.csv", "changes.csv", "rejected", "summary.json", "warnings",
    ]  # fmt: skip
    for name in ("changes.csv", "blocked.csv"):
        assert (dry.out / name).read_bytes() == (full.out / name).read_bytes()
    assert json.loads((dry.out / "summary.json").read_text()) == {**SUMMARY, "dry_run": True}
    assert dry.stdout == (
        "SKU ID               rule               before    after   change  result\n"
        "1765400000000000101  autumn-clearance   129.00   102.90  -20.23%  changed\n"
        "1765400000000000102  autumn-clearance    59.90    47.90  -20.03%  blocked: min_margin\n"
        "1765400000000000201  autumn-clearance    99.00    78.90  -20.30%  blocked: no-cost\n"
        "1234567890123456     vip-skus            89.00    99.00   11.24%  changed\n"
        "1765400000000000401  everything-else     39.50    41.00    3.80%  changed\n"
        "1765400000000000501  everything-else      2.00     3.00   50.00%  blocked: max_change_pct\n"
        "1765400000000000901  everything-else   1299.50  1301.00    0.12%  changed\n"
        "\n"
        "price: 11 SKUs: 7 selected (4 changed, 0 unchanged, 3 blocked), 4 not selected\n"
        "  blocked: max_change_pct 1, min_margin 1, no-cost 1\n"
        "  changed by rule: autumn-clearance 1, vip-skus 1, everything-else 2\n"
        "  dry run: upload files not written\n"
        f"  outputs: {dry.out}\n"
    )


def test_dry_run_removes_upload_files_of_an_earlier_run(doudian, tmp_path):
    example_run(doudian, tmp_path)
    dry = example_run(doudian, tmp_path, "--dry-run")
    assert not any((dry.out / n).exists() for n in ("upload.xlsx", "upload.csv", "payloads.jsonl"))
    assert (
        "  dry run: upload files not written (removed those of an earlier run: upload.xlsx, "
        "upload.csv, payloads.jsonl)\n"
    ) in dry.stdout


def test_reruns_are_byte_identical(doudian, tmp_path):
    a = example_run(doudian, tmp_path / "a")
    b = example_run(doudian, tmp_path / "b")
    files = sorted(p.relative_to(a.out) for p in a.out.rglob("*") if p.is_file())
    assert [str(f) for f in files] == [
        "blocked.csv", "changes.csv", "payloads.jsonl", "rejected/costs.csv", "rejected/products.csv",
        "summary.json", "upload.csv", "upload.xlsx", "warnings/costs.csv", "warnings/products.csv",
    ]  # fmt: skip
    for f in files:
        assert (a.out / f).read_bytes() == (b.out / f).read_bytes(), f


def test_json_prints_the_summary(doudian, tmp_path):
    run = example_run(doudian, tmp_path, "--json")
    assert run.json() == SUMMARY
    assert run.json() == json.loads((run.out / "summary.json").read_text(encoding="utf-8"))


def test_overrides_unchanged_and_price_selectors(doudian, tmp_path):
    run = price(
        doudian, tmp_path, "--products", PRODUCTS, "--costs", COSTS,
        "--rules", "fixtures/price/rules_overrides.toml",
    )  # fmt: skip
    assert run.exit_code == 3
    assert read_csv(run.out / "changes.csv")[1:] == [
        # 59.90 -40% = 35.94 -> 35.90: 40.07% within the rule's own 50%; min_margin off
        ["1765400000000000102", "clearance-below-cost", "5990", "3590", "-2400", "-40.07"],
        # 2.00 +5% = 2.10 (price_min 2.00 inclusive)
        ["1765400000000000501", "bags", "200", "210", "10", "5.00"],
    ]
    assert read_csv(run.out / "blocked.csv")[1:] == [
        ["1234567890123456", "bags", "max_price", "9345"],  # 89.00 (price_max inclusive) +5%
        ["1765400000000000801", "bags", "no-cost", "2090"],  # 19.90 +5% = 20.895 -> 20.90
    ]
    summary = json.loads((run.out / "summary.json").read_text(encoding="utf-8"))
    assert (
        summary["selected"],
        summary["changed"],
        summary["unchanged"],
        summary["not_selected"],
    ) == (5, 2, 1, 6)
    assert summary["by_rule"] == {"clearance-below-cost": 1, "keep-price": 0, "bags": 1}


def test_nothing_blocked_exit_0_without_costs(doudian, tmp_path):
    run = price(
        doudian, tmp_path, "--products", PRODUCTS, "--rules", "fixtures/price/rules_no_blocks.toml"
    )
    assert run.exit_code == 0
    assert read_csv(run.out / "changes.csv")[1:] == [
        ["1765432109876543201", "coffee-nine", "5990", "5900", "-90", "-1.50"],  # ending 9
        ["1765400000000001001", "scarves-up", "7900", "7960", "60", "0.76"],  # 79.55: tie, up
    ]
    assert read_csv(run.out / "blocked.csv") == [["sku_id", "rule", "reason", "wanted_fen"]]
    assert not (run.out / "rejected" / "costs.csv").exists()


def test_rejected_product_rows_are_counted_and_exit_3(doudian, tmp_path):
    lines = (PRICE / "products.csv").read_text(encoding="utf-8-sig").splitlines()
    # row 3: a price Excel cannot have; row 4: the 商品ID mangled into 3.66E+18
    lines[2] = lines[2].replace("59.90", "59.9.0")
    lines[3] = lines[3].replace("\t3660000000000000002", "3.66E+18")
    bad = tmp_path / "products_bad.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = price(
        doudian,
        tmp_path / "out",
        "--products",
        str(bad),
        "--rules",
        "fixtures/price/rules_no_blocks.toml",
    )
    assert run.exit_code == 3
    summary = json.loads((run.out / "summary.json").read_text(encoding="utf-8"))
    assert (summary["skus"], summary["rejected_rows"], summary["blocked"]) == (9, 2, {})
    assert [(r[1], r[4]) for r in read_csv(run.out / "rejected" / "products.csv")[1:]] == [
        ("3", "bad-money"),
        ("4", "id-scientific-notation"),
    ]


def test_price_has_help():
    from click.testing import CliRunner

    from pipeline.cli import main

    result = CliRunner().invoke(main, ["price", "--help"])
    assert result.exit_code == 0
    for option in (
        "--products",
        "--rules",
        "--costs",
        "--out",
        "--dry-run",
        "--json",
        "--encoding",
    ):
        assert option in result.output


def test_preview_is_capped_and_says_how_many_more():
    from pipeline.stages.price.outputs import preview

    rules = rules_of("[[rule]]\nname = 'up'\namount = 1\n")
    decided = decide(product_frame([{"price": 100 + i} for i in range(5)]), cost_frame([]), rules)
    text = preview(decided.collect(), limit=2)
    assert text == (
        "SKU ID               rule  before  after   change  result\n"
        "1765400000000000001  up      1.00   2.00  100.00%  changed\n"
        "1765400000000000002  up      1.01   2.01   99.01%  changed\n"
        "... and 3 more in changes.csv and blocked.csv"
    )
    nothing = decide(
        product_frame([{"price": 100}]),
        cost_frame([]),
        rules_of("[[rule]]\nname = 'none'\nsku_ids = ['1111111111111111']\npercent = 5\n"),
    )
    assert preview(nothing.collect()) == "no price changes"
