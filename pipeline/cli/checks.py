"""`doudian check alliance | deposit | reopen`: the shop checks (docs/checks.md).

Each judges one shop from its options, or many from a file (`--shops FILE`, with
`--out DIR` for the per-shop results). The stages are `pipeline.stages.checks.jobs`, the
numbers in the policy; this module checks the options (before reading any data),
calls the stage and shows its result.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from pipeline.cli.options import encoding_arg, json_option, policy_option, reading_options, show
from pipeline.errors import UsageError
from pipeline.policy import load_policy

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

# --- options -------------------------------------------------------------------------


def _out_option(check: str) -> Decorator:
    """--out DIR, optional here (the shared `out_option` is required)."""
    return click.option(
        "--out",
        metavar="DIR",
        type=click.Path(file_okay=False, path_type=Path),
        help=f"Output folder (created if missing): the per-shop results OUT/{check}.csv and the "
        "input files' rejected rows OUT/rejected/KIND.csv; needed with --shops.",
    )


def _shops_option(columns: str, instead: str, check: str) -> Decorator:
    return click.option(
        "--shops",
        "shops_file",
        metavar="FILE",
        help=f"Many shops, one row each ({columns}){instead}, for service providers: one "
        f"result row per shop in OUT/{check}.csv; needs --out.",
    )


def _file_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--encoding and --sheet exactly as `reading_options` defines them (a shop list has
    its own 店铺ID column, so --shop-id does not apply)."""
    probe = reading_options(lambda **_: None)
    shared = [p for p in probe.__click_params__ if p.name in ("encoding", "sheet")]  # type: ignore[attr-defined]
    func.__click_params__ = [*getattr(func, "__click_params__", []), *shared]  # type: ignore[attr-defined]
    return func


def _date_option(name: str, text: str) -> Decorator:
    return click.option(name, type=click.DateTime(["%Y-%m-%d"]), metavar="DATE", help=text)


def _batch_flags(shops_file: str | None, out: Path | None, single: dict[str, Any]) -> None:
    """The flags of the two modes: one shop from options, or --shops FILE with --out."""
    given = [name for name, value in single.items() if value]
    if shops_file:
        if given:
            raise UsageError(f"--shops gives each shop's own values: drop {', '.join(given)}")
        if out is None:
            raise UsageError("--shops needs --out DIR (where the per-shop results are written)")
    elif out is not None:
        raise UsageError(
            "--out is for --shops (the per-shop results); for one shop the result is printed"
        )


# --- alliance ------------------------------------------------------------------------


@contextlib.contextmanager
def _stage_dir(out: Path | None) -> Iterator[Path]:
    """OUT when given, else a temporary folder for the validation outputs."""
    if out is not None:
        yield out
        return
    with tempfile.TemporaryDirectory(prefix="doudian-check-") as tmp:
        yield Path(tmp)


@click.command("alliance")
@click.option(
    "--metrics",
    "metrics_files",
    multiple=True,
    metavar="FILE",
    help="Shop metrics, one row per shop: 店铺ID, 店铺评分, 近60天好评率, 有效评价数, 店铺状态, "
    "账户状态, 近365天违规次数 and (without --orders) 近30天成交金额; repeat for several files.",
)
@_shops_option("the --metrics columns", "", "alliance")
@click.option(
    "--orders",
    "order_files",
    multiple=True,
    metavar="FILE",
    help="Order exports: the 30-day GMV is computed from them (paid in the 30 days before "
    "--as-of) instead of read from 近30天成交金额; repeat for several files.",
)
@_date_option(
    "--as-of",
    "The day of the check (YYYY-MM-DD): the GMV window ends at its start; needed with --orders.",
)
@_out_option("alliance")
@policy_option
@reading_options
@json_option
def alliance(
    metrics_files: tuple[str, ...],
    shops_file: str | None,
    order_files: tuple[str, ...],
    as_of: dt.datetime | None,
    out: Path | None,
    policy: str | None,
    encoding: str,
    sheet: str | None,
    shop_id: str | None,
    as_json: bool,
) -> None:
    """精选联盟 entry, per shop: formal, trial or not-eligible with every failed condition
    (dsr-below-4.5, good-rate-below-80, no-gmv-30d, shop-not-normal, account-not-normal,
    violation-365d), and the daily warnings (dsr-low, good-rate-low).

    Exit 0 when every shop is eligible without a warning; 3 when a shop has a warning or
    is not eligible, or some input rows were rejected.
    """
    from pipeline.stages.checks import jobs
    from pipeline.stages.checks.alliance import AllianceRules
    from pipeline.validation.staging import staged_inputs

    if metrics_files and shops_file:
        raise UsageError("--metrics and --shops both give the metrics file: give one")
    if not metrics_files and not shops_file:
        raise UsageError("no metrics: give --metrics FILE (or --shops FILE with --out DIR)")
    if shops_file and out is None:
        raise UsageError("--shops needs --out DIR (where the per-shop results are written)")
    if order_files and as_of is None:
        raise UsageError("--orders needs --as-of DATE (the 30-day GMV window ends there)")
    rules = AllianceRules.from_policy(load_policy(policy))
    files = {
        "metrics": [shops_file] if shops_file else list(metrics_files),
        "orders": list(order_files),
    }
    reading = {"encoding": encoding_arg(encoding), "sheet": sheet}
    with (
        _stage_dir(out) as stage,
        staged_inputs(files, stage, **reading, shop_id=shop_id, stage="check alliance") as inputs,
    ):
        day = as_of.date() if as_of is not None else None
        result = jobs.alliance(inputs, rules, as_of=day, out=out, **reading)
    show(result, as_json)


# --- deposit -------------------------------------------------------------------------


@click.command("deposit")
@click.option(
    "--entity", metavar="TYPE", help="The shop's entity type (主体类型): 个人, 个体工商户 or 企业."
)
@click.option(
    "--category",
    "categories",
    multiple=True,
    metavar="C",
    help="A first-level category (一级类目) of the shop; repeat it (or separate with , ; 、) for "
    "several: the highest deposit applies.",
)
@click.option(
    "--last-month-gmv",
    metavar="YUAN",
    help="Last month's GMV in yuan (上月成交金额), for a GMV-tiered policy (--policy 2025).",
)
@_shops_option(
    "店铺ID, 主体类型, 类目, 上月成交金额",
    " instead of --entity, --category, --last-month-gmv",
    "deposit",
)
@_out_option("deposit")
@policy_option
@_file_options
@json_option
def deposit(
    entity: str | None,
    categories: tuple[str, ...],
    last_month_gmv: str | None,
    shops_file: str | None,
    out: Path | None,
    policy: str | None,
    encoding: str,
    sheet: str | None,
    as_json: bool,
) -> None:
    """保证金 (deposit) in yuan and the category (or GMV tier) that set it. Several
    categories: the highest applies. A category the entity type may not open (no number
    in the policy) is refused, naming it.

    Exit 0 with the deposit; 4 when refused. With --shops: 4 when any shop is refused,
    else 3 when a row was rejected or invalid, else 0.
    """
    from pipeline.stages.checks import jobs
    from pipeline.stages.checks.deposit import DepositRules

    single = {"--entity": entity, "--category": categories, "--last-month-gmv": last_month_gmv}
    _batch_flags(shops_file, out, single)
    rules = DepositRules.from_policy(load_policy(policy))
    if shops_file and out is not None:
        reading = {"encoding": encoding_arg(encoding), "sheet": sheet}
        roster = jobs.read_shops("deposit-shops", shops_file, out, **reading)
        show(jobs.deposit_many(roster, rules, out), as_json)
    if not entity:
        raise UsageError(f"--entity is required ({', '.join(rules.entities)}), or --shops FILE")
    show(jobs.deposit_one(rules, entity, list(categories), last_month_gmv), as_json)


# --- reopen --------------------------------------------------------------------------


@click.command("reopen")
@_date_option("--closed-on", "The day the shop was closed (YYYY-MM-DD).")
@click.option(
    "--holidays",
    metavar="FILE",
    help="Public holidays (not working days) and make-up working days (调休), one date per "
    "line: see docs/checks.md.",
)
@_shops_option("店铺ID, 关店日期", " instead of --closed-on", "reopen")
@_out_option("reopen")
@policy_option
@_file_options
@json_option
def reopen(
    closed_on: dt.datetime | None,
    holidays: str | None,
    shops_file: str | None,
    out: Path | None,
    policy: str | None,
    encoding: str,
    sheet: str | None,
    as_json: bool,
) -> None:
    """The earliest reopening date after closing a shop (6 calendar months later, or the
    month's last day when that month is shorter: closed 31 August, reopen 28/29
    February) and the deposit refund deadline (the 7th working day after closure;
    weekends and the --holidays days skipped).

    Exit 0; with --shops, 3 when some rows were rejected.
    """
    from pipeline.stages.checks import jobs
    from pipeline.stages.checks.reopen import Calendar, ShopRules, read_holidays

    _batch_flags(shops_file, out, {"--closed-on": closed_on})
    if closed_on is None and not shops_file:
        raise UsageError("give --closed-on DATE (or --shops FILE with --out DIR)")
    rules = ShopRules.from_policy(load_policy(policy))
    calendar = read_holidays(holidays) if holidays else Calendar()
    if shops_file and out is not None:
        reading = {"encoding": encoding_arg(encoding), "sheet": sheet}
        roster = jobs.read_shops("closed-shops", shops_file, out, **reading)
        show(jobs.reopen_many(roster, rules, calendar, out), as_json)
    assert closed_on is not None
    show(jobs.reopen_one(closed_on.date(), rules, calendar), as_json)


def register(main: click.Group, check: click.Group) -> None:
    """Add the shop checks to `doudian check`."""
    for command in (alliance, deposit, reopen):
        check.add_command(command)
