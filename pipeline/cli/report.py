"""`doudian report`: report.xlsx and report.html for a period."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.options import (
    INPUT_FILES,
    encoding_arg,
    out_option,
    policy_option,
    reading_options,
    show,
)

REPORT_ORDER_COLUMNS = ("sub_order_id", "shop_id", "payable", "product_title", "created_at",
                        "paid_at", "promised_ship_at", "received_at")  # fmt: skip


@click.command()
@out_option
@click.option("--period", "period_text", required=True, metavar="YYYY-MM-H1|H2",
              help="The settled period to report on (OUT/settlement/PERIOD).")  # fmt: skip
@click.option("--shop", "shops", multiple=True, metavar="ID",
              help="Report on this shop only; repeat for a set of shops (default: every shop).")  # fmt: skip
@click.option("--orders", "orders", multiple=True, type=INPUT_FILES,
              help="Order export (订单导出): adds the amounts held back and the 60-day spot share.")  # fmt: skip
@click.option("--to", "folder", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the two files (default OUT/report/PERIOD, or "
                   "OUT/report/PERIOD/shops-A-B for --shop A --shop B).")  # fmt: skip
@policy_option
@reading_options
def report(out, period_text, shops, orders, folder, policy, encoding, sheet, shop_id):  # noqa: ANN001
    """The report for people: report.xlsx (汇总, 结算明细, 未结算, 对账差异, 利润, 亏损商品;
    money in yuan) and report.html (a self-contained page of charts that opens offline),
    from what settle, reconcile and profit wrote under OUT for PERIOD; see docs/report.md.

    Exit 0 when written, 3 when some order rows were rejected, 1 when the period was
    not settled under OUT, 2 on a usage error.
    """
    from pipeline.policy import load_policy
    from pipeline.stages.reporting import default_folder, report_stage
    from pipeline.stages.settle.periods import Period
    from pipeline.validation.staging import staged_inputs

    period = Period.parse(period_text)
    rules = load_policy(policy)
    folder = folder or default_folder(out, period, list(shops))
    if not orders:
        show(report_stage(out, period, list(shops), folder, policy=rules))
    with staged_inputs(
        {"orders": list(orders)}, folder, encoding=encoding_arg(encoding), sheet=sheet,
        shop_id=shop_id, keep={"orders": REPORT_ORDER_COLUMNS},
    ) as inputs:  # fmt: skip
        result = report_stage(out, period, list(shops), folder, orders=inputs, policy=rules)
    show(result)


def register(main: click.Group, check: click.Group) -> None:
    main.add_command(report)
