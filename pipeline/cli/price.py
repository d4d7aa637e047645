"""`doudian price`: bulk price updates (批量改价) by an ordered rules file."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.options import (
    INPUT_FILES,
    encoding_arg,
    json_option,
    out_option,
    reading_options,
    show,
)


@click.command()
@click.option(
    "--products",
    "products",
    multiple=True,
    required=True,
    type=INPUT_FILES,
    help="Product export (商品导出, one row per SKU); repeat for several files.",
)
@click.option(
    "--rules",
    "rules_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The rules file (TOML): ordered [[rule]] tables and [guards]; see docs/price.md.",
)
@click.option(
    "--costs",
    "costs",
    multiple=True,
    type=INPUT_FILES,
    help="Cost file (成本价, by SKU ID or 商家编码); needed when a min_margin guard applies.",
)
@out_option
@reading_options
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the before/after table and write only the reports (no upload files).",
)
@json_option
def price(products, rules_path, costs, out, encoding, sheet, shop_id, dry_run, as_json):  # noqa: ANN001
    """Bulk price updates: the first rule that selects a SKU sets its new price
    (percent, then amount or set, then round, then ending, in integer fen), unless a
    guard (min_price, max_price, min_margin over cost, max_change_pct) blocks it.

    Writes OUT/price/: upload.xlsx and upload.csv (批量改价), payloads.jsonl
    (/sku/editPrice, price in fen), changes.csv, blocked.csv, summary.json, and
    rejected/ for invalid input rows. Exit 0 when no SKU is blocked and every row was
    valid, 3 when some SKU is blocked or some rows were rejected, 2 for a bad rules
    file (checked before any data is read), 1 when a file cannot be used.
    """
    from pipeline.orchestrate.locking import output_lock, refuse_inputs_inside
    from pipeline.stages.price.job import price_inputs, require_costs
    from pipeline.stages.price.rules import load_rules
    from pipeline.validation.staging import staged_inputs

    rules = load_rules(rules_path)
    require_costs(rules, bool(costs))
    files = {"products": list(products), "costs": list(costs)}
    refuse_inputs_inside(out, [*products, *costs, rules_path])
    click.get_current_context().with_resource(output_lock(out))  # held until the command ends
    with staged_inputs(
        files,
        out / "price",
        encoding=encoding_arg(encoding),
        sheet=sheet,
        shop_id=shop_id,
        stage="price",
    ) as inputs:
        show(price_inputs(inputs, rules, out, dry_run=dry_run), as_json)


def register(main: click.Group, check: click.Group) -> None:
    main.add_command(price)
