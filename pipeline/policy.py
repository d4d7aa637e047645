"""Policies: every number and word that the platform may change (fee rates, day
ranges, share thresholds, deposits, status words), as data.

A shipped policy is a folder `pipeline/policies/NAME/` with one TOML file per section
(`settlement.toml`, `shipping.toml`, ...). `default` holds every section; another shipped
policy (`2025`, `seed-era`) holds only what it changes and is merged over `default`.
A user's policy is one TOML file with sections as tables (`[settlement]`,
`[shipping]`, ...) and an optional `extends = "NAME"` (default `"default"`); it is merged
key by key over the policy it extends, so it needs only the numbers it changes.

`--policy` takes a shipped name or a file path.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.errors import UsageError
from schemas.base import Vocabulary

DEFAULT = "default"


@dataclass(frozen=True)
class Policy:
    name: str
    data: dict[str, Any]

    def section(self, name: str) -> dict[str, Any]:
        try:
            return self.data[name]
        except KeyError:
            raise UsageError(f"{{opt:policy}} {self.name}: has no [{name}] section") from None


def shipped_names() -> list[str]:
    root = resources.files("pipeline") / "policies"
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))


def _shipped(name: str) -> dict[str, Any]:
    folder = resources.files("pipeline") / "policies" / name
    data: dict[str, Any] = {}
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            data[entry.name.removesuffix(".toml")] = tomllib.loads(
                entry.read_text(encoding="utf-8")
            )
    return data


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` merged into a copy of `base`, key by key; tables merge, values replace."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def load_policy(spec: str | None = None) -> Policy:
    """The policy named `spec` (shipped name or TOML file path); None is `default`."""
    names = shipped_names()
    if spec is None or spec == DEFAULT:
        return Policy(DEFAULT, _shipped(DEFAULT))
    if spec in names:
        return Policy(spec, merge(_shipped(DEFAULT), _shipped(spec)))
    path = Path(spec)
    if not path.is_file():
        raise UsageError(
            f"{{opt:policy}} {spec}: no such file, and not a shipped policy (shipped: {', '.join(names)})"
        )
    try:
        user = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{{opt:policy}} {spec}: not a valid TOML file ({exc})") from None
    base_name = user.pop("extends", DEFAULT)
    if base_name not in names:
        raise UsageError(
            f"{{opt:policy}} {spec}: extends unknown policy {base_name!r} (shipped: {', '.join(names)})"
        )
    base = load_policy(base_name)
    return Policy(str(path), merge(base.data, user))


#: The keys of the [statuses] section (statuses.toml), per table.
_STATUS_KEYS = {
    "order": ("known", "received"),
    "after_sale": (
        "refunded", "refunded_contains", "closed", "closed_contains", "open", "open_contains",
        "no_refund_methods",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class StatusWords:
    """The [statuses] section: the 订单状态 words this tool knows and which mean
    received, and the 售后状态 table (refunded / closed without refund / open), each a
    list of whole words and of parts of words (`contains`)."""

    order_known: Vocabulary
    order_received: frozenset[str]
    refunded: Vocabulary
    closed: Vocabulary
    open: Vocabulary
    no_refund_methods: frozenset[str]

    @classmethod
    def from_policy(cls, policy: Policy) -> StatusWords:
        section = policy.section("statuses")

        def words(table: str, key: str) -> tuple[str, ...]:
            where = f"--policy {policy.name}: [statuses.{table}] {key}"
            value = section.get(table, {}).get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise UsageError(f"{where} must be a list of words, not {value!r}")
            return tuple(value)

        for table, keys in _STATUS_KEYS.items():
            unknown = sorted(set(section.get(table, {})) - set(keys))
            if unknown:
                raise UsageError(
                    f"--policy {policy.name}: [statuses.{table}] has unknown key {unknown[0]!r}"
                )
        unknown = sorted(set(section) - set(_STATUS_KEYS))
        if unknown:
            raise UsageError(f"--policy {policy.name}: [statuses] has unknown table {unknown[0]!r}")

        def vocabulary(state: str) -> Vocabulary:
            exact = frozenset(words("after_sale", state))
            return Vocabulary(exact, words("after_sale", f"{state}_contains"))

        return cls(
            order_known=Vocabulary(frozenset(words("order", "known"))),
            order_received=frozenset(words("order", "received")),
            refunded=vocabulary("refunded"),
            closed=vocabulary("closed"),
            open=vocabulary("open"),
            no_refund_methods=frozenset(words("after_sale", "no_refund_methods")),
        )

    def vocabulary(self, name: str) -> Vocabulary:
        """The known words of a status column (`schemas` names them `order` and
        `after_sale`); any other word is a warning."""
        if name == "order":
            return self.order_known
        parts = (self.refunded, self.closed, self.open)
        return Vocabulary(
            frozenset().union(*(p.exact for p in parts)),
            tuple(c for p in parts for c in p.contains),
        )

    def after_sale_state(self, status: pl.Expr, method: pl.Expr | None = None) -> pl.Expr:
        """An after-sale's state: `refunded`, `closed` (without refund) or `open`. A word
        the table does not know counts as open: its sub-order is held back."""
        closed = self.closed.known(status)
        if method is not None:
            closed = closed | method.is_in(sorted(self.no_refund_methods)).fill_null(False)
        return (
            pl.when(self.refunded.known(status))
            .then(pl.lit("refunded"))
            .when(closed)
            .then(pl.lit("closed"))
            .otherwise(pl.lit("open"))
        )

    def received(self, status: pl.Expr) -> pl.Expr:
        """True where 订单状态 says the goods were received."""
        return status.is_in(sorted(self.order_received)).fill_null(False)


@functools.cache
def default_words() -> StatusWords:
    """The shipped default policy's status words."""
    return StatusWords.from_policy(load_policy())
