"""The catalogue of finding codes: every reason a row can be rejected (or warned about)
in validation. Codes are stable kebab-case; the messages are what users read. The
README's table of codes is generated from this dict."""

from __future__ import annotations

import polars as pl

#: code -> (severity, message)
CODES: dict[str, tuple[str, str]] = {
    "missing-value": ("error", "a required value is empty"),
    "id-scientific-notation": (
        "error",
        "the ID was turned into a number by Excel (like 6.9E+18) and has lost its last "
        "digits; export again, or format the column as text before saving",
    ),
    "bad-id": ("error", "not an ID of 16 to 19 digits"),
    "bad-shop-id": (
        "error",
        "not a shop ID (letters, digits, - or _, starting with a letter or a digit)",
    ),
    "bad-money": ("error", "not an amount in yuan with at most 2 decimals"),
    "bad-integer": ("error", "not a whole number"),
    "bad-timestamp": (
        "error",
        "not a date and time (YYYY-MM-DD HH:MM:SS, YYYY/MM/DD HH:MM, or an Excel date)",
    ),
    "money-out-of-range": (
        "error",
        "amount out of range (0 to 10,000,000.00 yuan; only bill amounts may be negative)",
    ),
    "quantity-not-positive": ("error", "the quantity must be at least 1"),
    "negative-stock": ("error", "stock cannot be negative"),
    "time-order": (
        "error",
        "earlier than the time before it (订单提交时间 <= 支付完成时间 <= 订单完成时间; "
        "售后申请时间 <= 售后关闭/完结时间)",
    ),
    "missing-key": ("error", "neither SKU ID nor 商家编码 is given"),
    "duplicate-sub-order": ("error", "this 子订单编号 appeared before; the first copy is kept"),
    "duplicate-after-sale": ("error", "this 售后单号 appeared before; the first copy is kept"),
    "duplicate-bill-row": (
        "error",
        "this 子订单号 already has a row of this 结算单类型; the first copy is kept",
    ),
    "duplicate-flow": ("error", "this 动账流水号 appeared before; the first copy is kept"),
    "bad-direction": ("error", "动账方向 must be 入账 or 出账"),
    "duplicate-sku": ("error", "this SKU ID appeared before; the first copy is kept"),
    "extra-cells": (
        "error",
        "the row has more cells than the header (an unquoted comma in a cell?); the row is not used",
    ),
    "cell-spans-rows": (
        "error",
        "a quote opened in this row is closed rows later, so the rows in between were read "
        "into one cell (the value shows where); fix the quote in the file and export again",
    ),
    "schema": ("error", "the value does not fit the column's type"),
    "duplicate-shop": ("error", "this 店铺ID appeared before; the first copy is kept"),
    "bad-score": ("error", "not a shop score (店铺评分) from 0 to 5 with at most 2 decimals"),
    "bad-rate": ("error", "not a rate like 85.00% or 0.85 (at most 2 decimals of a percent)"),
    "negative-count": ("error", "a count cannot be negative"),
    "unknown-status": ("warning", "a status this tool does not know; the row is kept"),
    "time-without-seconds": (
        "warning",
        "times without seconds (like 2026/1/3 20:11: a file re-saved by Excel) are read "
        "as :00; one line per file gives their count",
    ),
    "not-listed": (
        "note",
        "at most 10,000 rows of a file are listed in a findings file; the counts in the "
        "summary include every row",
    ),
    "unknown-money-column": (
        "warning",
        "a column this tool does not read, whose cells look like money: its amounts are not "
        "used (a fee under a new name?)",
    ),
}

FINDING_SCHEMA = {
    "file": pl.String,
    "row": pl.Int64,
    "column": pl.String,
    "value": pl.String,
    "code": pl.String,
    "message": pl.String,
}


def message_expr(code: pl.Expr, column: pl.Expr) -> pl.Expr:
    """`<header>: <message of the code>`."""
    text = code.replace_strict(
        list(CODES), [m for _, m in CODES.values()], default="invalid value", return_dtype=pl.String
    )
    return pl.concat_str([column, pl.lit(": "), text])


def empty_findings() -> pl.DataFrame:
    return pl.DataFrame(schema=FINDING_SCHEMA)
