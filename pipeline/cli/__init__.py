"""The `doudian` command line: options, messages and exit codes over the stages.

Exit codes: 0 done and every row valid; 3 done, but some rows were rejected (or a check
found a warning); 1 a file cannot be used at all, or an internal error; 2 a usage error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from pipeline import __version__
from pipeline.cli.options import (
    OPTION_NAMES,
    encoding_arg,
    json_option,
    out_option,
    reading_options,
    show,
)
from pipeline.errors import EXIT_FILE, DoudianError
from pipeline.outcome import exit_codes_text
from schemas import KINDS


class DoudianGroup(click.Group):
    """Turns the project's errors into one clear line on stderr and a documented exit
    code, never a traceback (set DOUDIAN_DEBUG=1 to see one)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DoudianError as exc:
            click.echo(f"Error: {exc.render(OPTION_NAMES)}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # a bug of ours: say so briefly, exit 1
            if os.environ.get("DOUDIAN_DEBUG"):
                raise
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            click.echo(f"Error: internal error ({type(exc).__name__}: {detail})", err=True)
            click.echo("  hint: rerun with DOUDIAN_DEBUG=1 to see where, and report it", err=True)
            ctx.exit(EXIT_FILE)


@click.group(cls=DoudianGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="doudian")
def main() -> None:
    """Batch jobs over 抖店 (Douyin shop) exports: validate, settle, reconcile, and
    bulk shipping-mode and price files."""


main.help = f"{main.help}\n\nExit codes:\n\n\b\n{exit_codes_text()}"


@main.command()
@click.argument("kind", type=click.Choice(list(KINDS)))
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(dir_okay=True, readable=False, path_type=str)
)
@out_option
@reading_options
@json_option
def validate(
    kind: str,
    files: tuple[str, ...],
    out: Path,
    encoding: str,
    sheet: str | None,
    shop_id: str | None,
    as_json: bool,
) -> None:
    """Read and validate FILES of one KIND of export as one table.

    Writes OUT/valid/KIND.parquet (canonical typed rows), OUT/rejected/KIND.csv (one
    line per finding: file, row, column, value, code, message) and OUT/warnings/KIND.csv.
    Exit 0 when every row is valid, 3 when some were rejected, 1 when a file cannot be
    used at all.
    """
    from pipeline.validation.checker import validate_files
    from pipeline.validation.report import validation_report

    result = validate_files(
        kind,
        list(files),
        valid_path=out / "valid" / f"{kind}.parquet",
        rejected_path=out / "rejected" / f"{kind}.csv",
        warnings_path=out / "warnings" / f"{kind}.csv",
        encoding=encoding_arg(encoding),
        sheet=sheet,
        shop_id=shop_id,
    )
    show(validation_report(result), as_json)


@main.command()
@click.option(
    "--shops", type=click.IntRange(min=1), default=1, show_default=True, help="Number of shops."
)
@click.option(
    "--orders",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Order rows (sub-orders) in all.",
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="Random seed: the same seed gives the same files.",
)
@click.option(
    "--format",
    "formats",
    type=click.Choice(["csv", "parquet", "both"]),
    default="csv",
    show_default=True,
    help="Write CSV exports, Parquet copies, or both.",
)
@click.option(
    "--per-shop", is_flag=True, help="Also write each shop's own CSV exports to OUT/<店铺ID>/."
)
@out_option
def fixtures(shops: int, orders: int, seed: int, formats: str, per_shop: bool, out: Path) -> None:
    """Generate realistic, consistent exports of every kind (orders, after-sales,
    settlement bill, products, costs, commissions) for demos, tests and benchmarks.

    For the finance close it also writes bill_refunds.csv (the bill's rows of refunds
    after settlement and 保证金退款, a second --bill file), fund_flow.csv (资金账单) and
    account_flow.csv (账户流水) of the settlement cycle the exports are taken in, with a
    few planted cases of every status of the close."""
    from pipeline.demo.generator import generate, split_by_shop

    fmts = ("csv", "parquet") if formats == "both" else (formats,)
    counts = generate(out, shops=shops, orders=orders, seed=seed, formats=fmts)
    for name, n in counts.items():
        click.echo(f"{name:<12} {n:>12,} rows", err=False)
    if per_shop:
        ids = split_by_shop(out)
        click.echo(f"per shop: {', '.join(str(out / i) for i in ids)}")
    click.echo(f"written to {out}")


@main.group()
def check() -> None:
    """Checks that print a verdict and exit 0 (ok), 3 (warning) or 4 (ineligible)."""


# The stage commands, each module with `register(main, check)`; registered explicitly, so
# a module that cannot be imported fails at once instead of dropping its command.
from pipeline.cli import checks, price, profit, report, run, settle, shipping  # noqa: E402

for _module in (settle, profit, report, shipping, price, checks, run):
    _module.register(main, check)
