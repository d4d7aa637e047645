"""Exact integer money arithmetic as polars expressions."""

from __future__ import annotations

import polars as pl


def round_half_up_div(numerator: pl.Expr, denominator: pl.Expr | int) -> pl.Expr:
    """numerator / denominator rounded to the nearest integer, halves away from zero
    (a negative value rounds as the negative of its absolute value). Integers only;
    the denominator must be positive."""
    d = denominator if isinstance(denominator, pl.Expr) else pl.lit(denominator, pl.Int64)
    magnitude = (numerator.abs() * 2 + d) // (d * 2)
    return pl.when(numerator < 0).then(-magnitude).otherwise(magnitude)


def fee(basis: pl.Expr, rate_bp: pl.Expr) -> pl.Expr:
    """round_half_up(basis * rate_bp / 10000): a fee in fen from a basis in fen and a
    rate in basis points."""
    return round_half_up_div(basis * rate_bp, 10_000)


def share(amount: pl.Expr, part: pl.Expr, whole: pl.Expr) -> pl.Expr:
    """round_half_up(amount * min(1, part / whole)), exactly in integers: the share of
    `amount` that `part` of `whole` stands for. A whole of 0 or less gives all of it
    when part > 0, none otherwise."""
    full = (part >= whole) | ((whole <= 0) & (part > 0))
    return (
        pl.when(part <= 0)
        .then(pl.lit(0, pl.Int64))
        .when(full)
        .then(amount)
        .otherwise(round_half_up_div(amount * part, whole))
    )


def cost_floor(cost: pl.Expr, margin_bp: pl.Expr | int) -> pl.Expr:
    """The lowest price in fen with `price >= cost * (1 + margin)`: the ceiling of
    cost * (10000 + margin_bp) / 10000, exactly in integers (cost >= 0). The price
    guard's min_margin and the profit report's loss makers both use it."""
    m = margin_bp if isinstance(margin_bp, pl.Expr) else pl.lit(margin_bp, pl.Int64)
    return -((-(cost * (m + 10_000))) // 10_000)
