"""`doudian check alliance | deposit | reopen`: the shop checks of domain.md 8.

Each judges one shop from its options, or many from a file (`--shops FILE`, with
`--out DIR` for the per-shop results). The rules are in `pipeline.checks`, the numbers
in the policy; this module checks the options (before reading any data), reads the
files and prints.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import polars as pl

from pipeline.checks import EXIT_INELIGIBLE, Refused, render
from pipeline.checks.roster import Roster
from pipeline.errors import EXIT_OK, EXIT_REJECTED, UsageError
from pipeline.io.write import write_csv
from pipeline.options import encoding_arg, json_option, policy_option, reading_options
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


def _emit(data: Any, lines: list[str], as_json: bool) -> None:
    """The result: JSON (a dict, or a frame of shops written by polars as
    `{"shops": [...]}` without a Python loop over its rows) or text lines."""
    if not as_json:
        click.echo("\n".join(lines))
    elif isinstance(data, pl.DataFrame):
        click.echo('{"shops": ' + data.write_json() + "}")
    else:
        click.echo(json.dumps(data, ensure_ascii=False))


def _read_shops(kind: str, path: str, out: Path, encoding: str, sheet: str | None) -> Roster:
    """A --shops file of deposit or reopen; its findings go to OUT/rejected/KIND.csv."""
    from pipeline.checks.roster import read_roster
    from schemas import Kind, shops

    spec, model = {
        "deposit-shops": (shops.DEPOSIT_SHOPS, shops.DepositShops),
        "closed-shops": (shops.CLOSED_SHOPS, shops.ClosedShops),
    }[kind]
    out.mkdir(parents=True, exist_ok=True)
    return read_roster(Kind(spec, model), path, out, encoding=encoding_arg(encoding), sheet=sheet)


def _roster_lines(roster: Roster, out: Path, kind: str, check: str) -> list[str]:
    lines = []
    if roster.rejected:
        where = out / "rejected" / f"{kind}.csv"
        lines.append(f"rejected: {roster.rejected:,} of {roster.rows:,} rows ({where})")
    return [*lines, f"results: {out / f'{check}.csv'}"]


# --- alliance ------------------------------------------------------------------------


@contextlib.contextmanager
def _stage_dir(out: Path | None) -> Iterator[Path]:
    """OUT when given, else a temporary folder for the validation outputs."""
    if out is not None:
        yield out
        return
    with tempfile.TemporaryDirectory(prefix="doudian-check-") as tmp:
        yield Path(tmp)


def _echo_findings(path: Path) -> None:
    """Every finding of a rejected-rows CSV on stderr, one line each (no --out to keep
    the file in)."""
    frame = pl.read_csv(path, infer_schema=False)
    lines = frame.select(pl.format("rejected: {}:{}: {} [{}]", "file", "row", "message", "code"))
    click.echo("\n".join(lines.to_series().to_list()), err=True)


def _require_gmv_column(paths: list[str], encoding: str, sheet: str | None) -> None:
    """Without --orders, each metrics file must have the 近30天成交金额 column (an empty
    cell is 0; a missing column would make every shop `no-gmv-30d`). Called after the
    files were validated, so a missing column is the only way this can fail."""
    from dataclasses import replace

    from pipeline.errors import InputError
    from pipeline.io.read import open_export
    from schemas.metrics import SPEC

    columns = tuple(replace(c, required=c.required or c.name == "gmv_30d") for c in SPEC.columns)
    for path in paths:
        try:
            open_export(
                replace(SPEC, columns=columns), path, encoding=encoding_arg(encoding), sheet=sheet
            )
        except InputError:
            raise InputError(
                path,
                "has no 近30天成交金额 column",
                "pass --orders FILE --as-of DATE to compute the 30-day GMV from the orders",
            ) from None


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
    from pipeline.checks.alliance import AllianceRules, gmv_from_orders, gmv_window, judge
    from pipeline.inputs import staged_inputs

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

    with _stage_dir(out) as stage:
        with staged_inputs(
            files,
            stage,
            encoding=encoding_arg(encoding),
            sheet=sheet,
            shop_id=shop_id,
            stage="check alliance",
        ) as inputs:
            gmv = None
            if as_of is not None and inputs.given("orders"):
                orders = inputs.frame("orders")
                unknown = (
                    orders.filter(pl.col("shop_id").is_null()).select(pl.len()).collect().item()
                )
                if unknown:
                    raise UsageError(
                        f"{unknown:,} valid order rows have no 店铺ID: pass --shop-id ID for a "
                        "single-shop export"
                    )
                gmv = gmv_from_orders(orders, as_of.date(), rules.gmv_window_days)
            else:
                _require_gmv_column(files["metrics"], encoding, sheet)
            verdicts = judge(inputs.frame("metrics"), rules, gmv).collect()
            rejected = {kind: r for kind, r in inputs.results.items() if r.rejected}
        if out is None:
            for result in rejected.values():
                _echo_findings(result.rejected_path)
    if out is not None:
        write_csv(render.alliance_table(verdicts), out / "alliance.csv")

    lines = render.alliance_lines(verdicts)
    if gmv is not None and as_of is not None:
        start, end = gmv_window(as_of.date(), rules.gmv_window_days)
        lines.append(
            f"近30天成交金额 from the orders: paid {start:%Y-%m-%d} to {end - dt.timedelta(days=1):%Y-%m-%d}"
        )
    for kind, result in rejected.items():
        where = result.rejected_path if out is not None else "listed on stderr"
        lines.append(f"rejected: {result.rejected:,} of {result.rows:,} {kind} rows ({where})")
    if out is not None:
        lines.append(f"results: {out / 'alliance.csv'}")
    _emit(render.alliance_json(verdicts), lines, as_json)

    flagged = (pl.col("result") == "not-eligible") | (pl.col("warnings").list.len() > 0)
    raise SystemExit(EXIT_REJECTED if rejected or verdicts.filter(flagged).height else EXIT_OK)


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
    from pipeline.checks.deposit import DepositRules, categories_expr, deposits, split_categories

    single = {"--entity": entity, "--category": categories, "--last-month-gmv": last_month_gmv}
    _batch_flags(shops_file, out, single)
    rules = DepositRules.from_policy(load_policy(policy))

    if shops_file and out is not None:
        roster = _read_shops("deposit-shops", shops_file, out, encoding, sheet)
        shops = roster.valid.select(
            "shop_id",
            "entity",
            categories_expr(pl.col("categories")).alias("categories"),
            "last_month_gmv",
        )
        results = (
            deposits(shops.lazy(), rules)
            .collect()
            .with_columns(pl.lit(rules.policy).alias("policy"))
        )
        write_csv(render.deposit_table(results), out / "deposit.csv")
        lines = render.deposit_lines(results, rules.policy) + _roster_lines(
            roster, out, "deposit-shops", "deposit"
        )
        _emit(results, lines, as_json)
        status = results.get_column("status")
        if (status == "refused").any():
            raise SystemExit(EXIT_INELIGIBLE)
        raise SystemExit(
            EXIT_REJECTED if roster.rejected or (status == "invalid").any() else EXIT_OK
        )

    if not entity:
        raise UsageError(f"--entity is required ({', '.join(rules.entities)}), or --shops FILE")
    if entity not in rules.entities:
        known = ", ".join(rules.entities)
        raise UsageError(
            f"--entity {entity}: not an entity type of policy {rules.policy} ({known})"
        )
    wanted = split_categories(list(categories))
    gmv_fen = _yuan_to_fen(last_month_gmv) if last_month_gmv is not None else None
    if rules.model == "category" and not wanted:
        raise UsageError(
            f"--category is required: policy {rules.policy} sets the deposit by category"
        )
    if rules.model == "gmv-tiers" and gmv_fen is None:
        raise UsageError(
            f"--policy {rules.policy} tiers the deposit by last month's GMV: pass --last-month-gmv YUAN"
        )
    one = pl.LazyFrame(
        {
            "shop_id": [None],
            "entity": [entity],
            "categories": [wanted],
            "last_month_gmv": [gmv_fen],
        },
        schema={
            "shop_id": pl.String,
            "entity": pl.String,
            "categories": pl.List(pl.String),
            "last_month_gmv": pl.Int64,
        },
    )
    row = deposits(one, rules).collect().row(0, named=True)
    if row["status"] == "refused":
        allowed = ", ".join(rules.allowed(entity)) or "none"
        raise Refused(
            f"refused: {entity} may not open {', '.join(row['refused'])} (policy {rules.policy} "
            f"has no deposit for {entity} there; {entity} may open: {allowed})"
        )
    data = {"deposit_yuan": row["deposit_yuan"], "set_by": row["set_by"], "policy": rules.policy}
    text = f"deposit: {row['deposit_yuan']} yuan, set by {row['set_by']} (policy {rules.policy})"
    _emit(data, [text], as_json)


def _yuan_to_fen(text: str) -> int:
    """--last-month-gmv, read exactly as money cells are (`52,000.50`, `¥59.90`)."""
    from pipeline.clean import canonicalize
    from schemas.base import ColumnSpec

    parsed = canonicalize(pl.DataFrame({"gmv": [text]}), (ColumnSpec("gmv", "money", ("gmv",)),))
    fen = parsed.item(0, "gmv")
    if fen is None or fen < 0:
        raise UsageError(
            f"--last-month-gmv {text}: not an amount in yuan (like 52000 or 52,000.50)"
        )
    return fen


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
    from pipeline.checks.reopen import Calendar, ShopRules, read_holidays, reopen_dates

    _batch_flags(shops_file, out, {"--closed-on": closed_on})
    if closed_on is None and not shops_file:
        raise UsageError("give --closed-on DATE (or --shops FILE with --out DIR)")
    rules = ShopRules.from_policy(load_policy(policy))
    calendar = read_holidays(holidays) if holidays else Calendar()
    note = (
        f"reopen: {rules.reopen_after_months} calendar months after closure (the month's last "
        f"day when shorter); refund: by the {_ordinal(rules.refund_working_days)} working day "
        "after closure, when there is no penalty record, no arrears and payouts are settled"
    )

    if shops_file and out is not None:
        roster = _read_shops("closed-shops", shops_file, out, encoding, sheet)
        shops = roster.valid.select("shop_id", pl.col("closed_on").dt.date())
        results = reopen_dates(shops.lazy(), rules, calendar).collect()
        write_csv(results, out / "reopen.csv")
        lines = [
            *render.reopen_lines(results),
            note,
            *_roster_lines(roster, out, "closed-shops", "reopen"),
        ]
        _emit(render.reopen_iso(results), lines, as_json)
        raise SystemExit(EXIT_REJECTED if roster.rejected else EXIT_OK)

    assert closed_on is not None
    one = pl.LazyFrame(
        {"shop_id": [None], "closed_on": [closed_on.date()]},
        schema={"shop_id": pl.String, "closed_on": pl.Date},
    )
    row = render.reopen_iso(reopen_dates(one, rules, calendar).collect()).row(0, named=True)
    data = {key: row[key] for key in ("closed_on", "reopen_on", "refund_by")}
    lines = [
        f"closed on: {row['closed_on']}",
        f"reopen on: {row['reopen_on']}",
        f"refund by: {row['refund_by']}",
        note,
    ]
    _emit(data, lines, as_json)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def register(main: click.Group, check: click.Group) -> None:
    """Add the shop checks to `doudian check`."""
    for command in (alliance, deposit, reopen):
        check.add_command(command)
