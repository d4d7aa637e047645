"""`doudian settle` and `doudian reconcile`."""

from __future__ import annotations

import click

from pipeline.cli.options import (
    INPUT_FILES,
    encoding_arg,
    out_option,
    policy_option,
    reading_options,
    show,
    statement_option,
)
from pipeline.errors import UsageError


@click.command()
@click.option(
    "--orders",
    "orders",
    multiple=True,
    required=True,
    type=INPUT_FILES,
    help="Order export (订单导出); repeat for several files.",
)
@click.option(
    "--after-sales",
    "after_sales",
    multiple=True,
    type=INPUT_FILES,
    help="After-sales export (售后导出); repeat for several files.",
)
@click.option(
    "--products",
    "products",
    multiple=True,
    type=INPUT_FILES,
    help="Product export (商品导出), for each product's first-level category.",
)
@click.option(
    "--commissions",
    "commissions",
    multiple=True,
    type=INPUT_FILES,
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
@click.option(
    "--resettle",
    is_flag=True,
    help="Settle the period again although later periods were settled from it; they are marked stale and must be settled again, in order.",
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
    resettle,
):  # noqa: ANN001
    """Semi-monthly settlement: on the 1st, sub-orders received from the 16th to month
    end with no after-sales; on the 16th, those of the 1st to 15th (docs/settlement.md).

    Writes OUT/settlement/PERIOD/ (statement.csv, statement.parquet, excluded.csv,
    summary.json, rejected/) and the period's ledger file OUT/ledger/PERIOD.parquet,
    listed with its sha256 in OUT/ledger/index.json. Exit 0 when every input row was
    valid, 3 when some were rejected (the valid ones were still settled), 1 when a file
    (a ledger file too) cannot be used, 2 on a usage error or when later periods were
    settled from this one (see --resettle), 75 when another command works in OUT.
    """
    from pipeline.policy import load_policy
    from pipeline.stages.settle.job import not_due, run_settlement
    from pipeline.stages.settle.periods import Period
    from pipeline.stages.settle.policy import SettlementPolicy

    if (on is None) == (period_text is None):
        raise UsageError("give exactly one of --on DATE and --period YYYY-MM-H1|H2")
    period = Period.due_on(on.date()) if on is not None else Period.parse(period_text)
    if period is None:
        show(not_due(on.date()))
    rates = SettlementPolicy.from_policy(load_policy(policy))
    result = run_settlement(
        period=period, out=out, orders=list(orders), after_sales=list(after_sales), products=list(products),
        commissions=list(commissions), policy=rates, encoding=encoding_arg(encoding), sheet=sheet,
        shop_id=shop_id, xlsx=xlsx, resettle=resettle,
    )  # fmt: skip
    show(result.report)


@click.command()
@statement_option
@click.option(
    "--bill",
    "bill",
    multiple=True,
    required=True,
    type=INPUT_FILES,
    help="The platform's 结算账单; repeat for several files.",
)
@click.option(
    "--fund-flow",
    "fund_flow",
    multiple=True,
    type=INPUT_FILES,
    help="资金账单 / 动账明细 (fund flow): run the full close; repeat for several files.",
)
@click.option(
    "--account-flow",
    "account_flow",
    multiple=True,
    type=INPUT_FILES,
    help="账户流水 with 账户余额: check the balance chain (runs the full close).",
)
@click.option(
    "--orders",
    "orders",
    multiple=True,
    type=INPUT_FILES,
    help="Order export, for the close's payable recheck.",
)
@click.option(
    "--after-sales",
    "after_sales",
    multiple=True,
    type=INPUT_FILES,
    help="After-sales export, for the after-sale behind each refund in the close.",
)
@out_option
@policy_option
@reading_options
@click.option(
    "--all-bill-rows",
    is_flag=True,
    help="Match every bill row, not only those settled in the period's cycle (and, in "
    "the close, take every fund row given as the period's).",
)
def reconcile(
    statement, bill, fund_flow, account_flow, orders, after_sales, out, policy, encoding, sheet,
    shop_id, all_bill_rows,
):  # fmt: skip  # noqa: ANN001
    """Match a settled period's statement against the platform's 结算账单 by 子订单号.

    Writes OUT/reconciliation/PERIOD/reconciliation.csv (sub_order_id, status,
    expected_net, billed_net, difference; fen) and summary.json. By default only bill
    rows whose 结算时间 falls in the period's settlement cycle (from its settle date to
    the next one) are matched. Exit 0 when everything matches, 3 when there are
    differences or rejected bill rows.

    With --fund-flow or --account-flow it runs the finance close (docs/close.md):
    reconciliation.csv gains the bill-vs-funds columns, and bill_checks.csv,
    order_checks.csv, refunds.csv, other_funds.csv, balance.csv and not_in_scope.csv
    (the fund rows of other cycles) are written beside it. Exit 0 when statement, bill
    and funds agree and nothing is unclassified, else 3.
    """
    from pipeline.orchestrate.locking import output_lock, refuse_inputs_inside
    from pipeline.policy import load_policy
    from pipeline.stages.close.policy import CloseRules
    from pipeline.stages.reconcile import read_statement, reconcile_inputs
    from pipeline.validation.staging import staged_inputs

    close = bool(fund_flow or account_flow)
    if (orders or after_sales) and not close:
        raise UsageError(
            "--orders and --after-sales are for the close: give --fund-flow or --account-flow too"
        )
    rules = CloseRules.from_policy(load_policy(policy)) if close else None
    period, _ = read_statement(statement)
    files = {"bill": list(bill), "fund-flow": list(fund_flow), "account-flow": list(account_flow),
             "orders": list(orders), "after-sales": list(after_sales)}  # fmt: skip
    refuse_inputs_inside(out, [f for paths in files.values() for f in paths])
    with (
        output_lock(out),
        staged_inputs(
            files,
            out / "reconciliation" / period.id,
            encoding=encoding_arg(encoding),
            sheet=sheet,
            shop_id=shop_id,
            stage="reconcile",
        ) as inputs,
    ):
        result = reconcile_inputs(
            inputs, statement, out, all_bill_rows=all_bill_rows, close_rules=rules
        )
    show(result)


def register(main: click.Group, check: click.Group) -> None:
    main.add_command(settle)
    main.add_command(reconcile)
