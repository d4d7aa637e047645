"""`doudian settle` and `doudian reconcile`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import polars as pl

from pipeline.errors import EXIT_OK, EXIT_REJECTED, InputError, UsageError
from pipeline.options import encoding_arg, out_option, policy_option, reading_options

FILES = click.Path(dir_okay=False, path_type=str)


@click.command()
@click.option(
    "--orders",
    "orders",
    multiple=True,
    required=True,
    type=FILES,
    help="Order export (订单导出); repeat for several files.",
)
@click.option(
    "--after-sales",
    "after_sales",
    multiple=True,
    type=FILES,
    help="After-sales export (售后导出); repeat for several files.",
)
@click.option(
    "--products",
    "products",
    multiple=True,
    type=FILES,
    help="Product export (商品导出), for each product's first-level category.",
)
@click.option(
    "--commissions",
    "commissions",
    multiple=True,
    type=FILES,
    help="精选联盟 order export with 预估佣金支出.",
)
@click.option(
    "--on",
    "on",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Settle the period due on this date (the 1st or the 16th); any other date: nothing is due, exit 0.",
)
@click.option("--period", "period_text", metavar="YYYY-MM-H1|H2", help="Settle this period.")
@out_option
@policy_option
@reading_options
@click.option(
    "--xlsx",
    is_flag=True,
    help="Also write statement.xlsx for people (money in yuan, IDs as text).",
)
def settle(
    orders,
    after_sales,
    products,
    commissions,
    on,
    period_text,
    out,
    policy,
    encoding,
    sheet,
    shop_id,
    xlsx,
):  # noqa: ANN001
    """Semi-monthly settlement: on the 1st, sub-orders received from the 16th to month
    end with no after-sales; on the 16th, those of the 1st to 15th (domain.md S1-S7).

    Writes OUT/settlement/PERIOD/ (statement.csv, statement.parquet, excluded.csv,
    summary.json, rejected/) and the period's ledger file OUT/ledger/PERIOD.parquet.
    Exit 0 when every input row was valid, 3 when some were rejected (the valid ones
    were still settled), 1 when a file cannot be used, 2 on a usage error.
    """
    from pipeline.policy import load_policy
    from pipeline.settle.job import run_settlement
    from pipeline.settle.periods import Period
    from pipeline.settle.policy import SettlementPolicy

    if (on is None) == (period_text is None):
        raise UsageError("give exactly one of --on DATE and --period YYYY-MM-H1|H2")
    if on is not None:
        period = Period.due_on(on.date())
        if period is None:
            click.echo(
                f"nothing is due on {on.date().isoformat()}: settlement runs on the 1st and the 16th"
            )
            sys.exit(EXIT_OK)
    else:
        period = Period.parse(period_text)
    rates = SettlementPolicy.from_policy(load_policy(policy))
    result = run_settlement(
        period=period, out=out, orders=list(orders), after_sales=list(after_sales), products=list(products),
        commissions=list(commissions), policy=rates, encoding=encoding_arg(encoding), sheet=sheet,
        shop_id=shop_id, xlsx=xlsx,
    )  # fmt: skip
    s = result.summary
    lines = s["lines"]
    click.echo(
        f"{period.id}: window {s['window_start']} to {s['window_end']}, settles on {s['settle_date']}\n"
        f"  {s['input_rows']:,} order rows: {s['rejected_rows']:,} rejected, "
        f"{lines['sale']:,} sale, {lines['carry-over']:,} carry-over, {lines['clawback']:,} clawback lines, "
        f"{sum(s['excluded'].values()):,} excluded\n"
        f"  net {s['totals']['net'] / 100:,.2f} yuan ({s['totals']['net']} fen) over {len(s['per_shop'])} shop(s)\n"
        f"  outputs: {result.folder}"
    )
    if result.stale:
        names = ", ".join(p.id for p in result.stale)
        click.echo(
            f"warning: later periods were settled from the old {period.id} and are now stale: {names}",
            err=True,
        )
    sys.exit(result.exit_code)


@click.command()
@click.option(
    "--statement",
    "statement",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="A settled period's folder, OUT/settlement/PERIOD.",
)
@click.option(
    "--bill",
    "bill",
    multiple=True,
    required=True,
    type=FILES,
    help="The platform's 结算账单; repeat for several files.",
)
@out_option
@reading_options
@click.option(
    "--all-bill-rows",
    is_flag=True,
    help="Match every bill row, not only those settled in the period's cycle.",
)
def reconcile(statement, bill, out, encoding, sheet, shop_id, all_bill_rows):  # noqa: ANN001
    """Match a settled period's statement against the platform's 结算账单 by 子订单号.

    Writes OUT/reconciliation/PERIOD/reconciliation.csv (sub_order_id, status,
    expected_net, billed_net, difference; fen) and summary.json. By default only bill
    rows whose 结算时间 falls in the period's settlement cycle (from its settle date to
    the next one) are matched. Exit 0 when everything matches, 3 when there are
    differences or rejected bill rows.
    """
    from pipeline.inputs import staged_inputs
    from pipeline.io.write import write_csv, write_json
    from pipeline.reconcile import bill_in_cycle, summarize
    from pipeline.reconcile import reconcile as match
    from pipeline.settle.periods import Period

    summary_path = statement / "summary.json"
    statement_path = statement / "statement.parquet"
    if not summary_path.is_file() or not statement_path.is_file():
        raise InputError(
            str(statement), "is not a settled period (no summary.json and statement.parquet)"
        )
    period = Period.parse(json.loads(summary_path.read_text(encoding="utf-8"))["period"])
    folder = out / "reconciliation" / period.id
    with staged_inputs(
        {"bill": list(bill)},
        folder,
        encoding=encoding_arg(encoding),
        sheet=sheet,
        shop_id=shop_id,
        stage="reconcile",
    ) as inputs:
        rows = inputs.frame("bill")
        total = rows.select(pl.len()).collect().item()
        if not all_bill_rows:
            rows = rows.filter(bill_in_cycle(rows, period.settle_date, period.next().settle_date))
        result = match(pl.scan_parquet(statement_path), rows).collect()
        summary = summarize(result)
        summary["bill_rows_outside_cycle"] = int(total - rows.select(pl.len()).collect().item())
        write_csv(result, folder / "reconciliation.csv")
        write_json(summary, folder / "summary.json")
        rejected = inputs.rejected_rows
    click.echo(
        f"{period.id}: {summary['match']:,} match, {summary['amount-mismatch']:,} amount-mismatch, "
        f"{summary['missing-in-bill']:,} missing-in-bill, {summary['unexpected-in-bill']:,} unexpected-in-bill; "
        f"difference {summary['difference_total']} fen\n"
        f"  {summary['bill_rows_outside_cycle']:,} bill rows outside the cycle {period.settle_date} to "
        f"{period.next().settle_date} left out\n  outputs: {folder}"
    )
    differs = summary["match"] != len(result)
    sys.exit(EXIT_REJECTED if differs or rejected else EXIT_OK)


def register(main: click.Group, check: click.Group) -> None:
    main.add_command(settle)
    main.add_command(reconcile)
