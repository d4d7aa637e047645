"""`doudian profit`: profit per settled line, SKU and shop."""

from __future__ import annotations

import click

from pipeline.cli.options import (
    INPUT_FILES,
    encoding_arg,
    json_option,
    out_option,
    policy_option,
    reading_options,
    show,
    statement_option,
)


def _orders_columns() -> list[str]:
    """The order cells profit reads: those settlement checks, and the cost keys."""
    from pipeline.stages.profit.engine import ORDER_COLUMNS
    from pipeline.stages.settle.job import SETTLE_COLUMNS
    from schemas import KINDS

    names = KINDS["orders"].spec.names
    return [c for c in (*SETTLE_COLUMNS["orders"], *ORDER_COLUMNS) if c in names]


@click.command()
@statement_option
@click.option(
    "--orders",
    "orders",
    multiple=True,
    required=True,
    type=INPUT_FILES,
    help="The order export the period was settled from (for 商品数量 and the cost keys).",
)
@click.option(
    "--costs",
    "costs",
    multiple=True,
    required=True,
    type=INPUT_FILES,
    help="Cost file (成本价, by SKU ID, 商家编码 or 货号); repeat for several files.",
)
@out_option
@policy_option
@reading_options
@json_option
def profit(statement, orders, costs, out, policy, encoding, sheet, shop_id, as_json):  # noqa: ANN001
    """Profit per settled line, SKU and shop: cost = 成本价 x 商品数量, profit = net -
    cost - fulfilment (the policy's fee per parcel), in fen; see docs/profit.md.

    Writes OUT/profit/PERIOD/: profit.csv and profit.parquet (one row per line, with
    the cost key used or no-cost), no_cost.csv, by_sku.csv, by_shop.csv,
    loss_makers.csv, summary.json, and rejected/ for invalid input rows. Exit 0 when
    every line has a cost and every row was valid, 3 when some line has no cost (its
    profit is left empty) or some rows were rejected, 1 when a file cannot be used.
    """
    from pipeline.orchestrate.locking import output_lock, refuse_inputs_inside
    from pipeline.policy import load_policy
    from pipeline.stages.profit import ProfitPolicy
    from pipeline.stages.profit.job import profit_inputs, read_statement
    from pipeline.validation.staging import staged_inputs

    rules = ProfitPolicy.from_policy(load_policy(policy))
    settled, _, _ = read_statement(statement)
    refuse_inputs_inside(out, [*orders, *costs])
    with (
        output_lock(out),
        staged_inputs(
            {"orders": list(orders), "costs": list(costs)},
            out / "profit" / settled["period"],
            encoding=encoding_arg(encoding),
            sheet=sheet,
            shop_id=shop_id,
            keep={"orders": _orders_columns()},
        ) as inputs,
    ):
        result = profit_inputs(inputs, statement, out, rules)
    show(result, as_json)


def register(main: click.Group, check: click.Group) -> None:
    main.add_command(profit)
