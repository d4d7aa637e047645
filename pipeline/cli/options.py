"""Options shared by several commands, defined once."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from pipeline.errors import SETTING
from pipeline.outcome import StageResult, render

#: How the command line names each setting a library error may name (`{opt:...}`).
OPTION_NAMES: dict[str, str] = {
    "policy": "--policy",
    "period": "--period",
    "shop_id": "--shop-id",
    "encoding": "--encoding",
    "rules": "--rules",
    "min_share": "--min-share",
    "config": "--config",
    "out": "--out",
    "costs": "--costs",
    "resettle": "--resettle",
    "orders": "--orders",
    "as_of": "--as-of",
    "entity": "--entity",
    "category": "--category",
    "last_month_gmv": "--last-month-gmv",
}


#: An export file given on the command line: whether it can be read (a regular file,
#: readable, not a folder or a FIFO) is for the reader to say, with exit 1, as for a
#: file named in a config.
INPUT_FILES = click.Path(dir_okay=True, readable=False, path_type=str)


def reading_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options every command that reads exports takes: --encoding, --sheet, --shop-id."""

    @click.option(
        "--encoding",
        type=click.Choice(["auto", "utf-8", "gb18030", "gbk"], case_sensitive=False),
        default="auto",
        show_default=True,
        help="Text encoding of CSV files; auto tells UTF-8 (with or without BOM) from GB18030.",
    )
    @click.option(
        "--sheet",
        metavar="NAME|N",
        help="XLSX sheet to read (name or 1-based number); default the first.",
    )
    @click.option("--shop-id", metavar="ID", help="Shop ID for exports that have no 店铺ID column.")
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


def out_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--out",
        "out",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Output folder (created if missing).",
    )(func)


def policy_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--policy",
        metavar="NAME|FILE",
        default=None,
        help="Policy: a shipped name (default, 2025, seed-era) or a TOML file; default: default.",
    )(func)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(func)


def encoding_arg(encoding: str) -> str | None:
    return None if encoding == "auto" else encoding


def show(result: StageResult, as_json: bool = False) -> NoReturn:
    """Print a stage's result (text, or its summary as JSON), its notes on stderr, and
    exit with its status's code."""
    click.echo(render(result, as_json))
    for note in result.notes:
        click.echo(SETTING.sub(lambda m: OPTION_NAMES.get(m.group(1), m.group(1)), note), err=True)
    sys.exit(result.exit_code)


def statement_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """--statement DIR: a settled period's folder (reconcile, profit)."""
    return click.option(
        "--statement",
        "statement",
        required=True,
        type=click.Path(file_okay=False, exists=True, path_type=Path),
        help="A settled period's folder, OUT/settlement/PERIOD.",
    )(func)
