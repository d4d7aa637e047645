"""`doudian price`: bulk price updates (批量改价) by an ordered rules file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from pipeline.errors import EXIT_OK, EXIT_REJECTED, UsageError
from pipeline.options import encoding_arg, json_option, out_option, reading_options

FILES = click.Path(dir_okay=False, path_type=str)


@click.command()
@click.option(
    "--products",
    "products",
    multiple=True,
    required=True,
    type=FILES,
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
    type=FILES,
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
    from pipeline.inputs import staged_inputs
    from pipeline.price.engine import decide
    from pipeline.price.outputs import as_text, preview, write_outputs
    from pipeline.price.rules import load_rules

    rules = load_rules(rules_path)
    if rules.margin_rules and not costs:
        names = ", ".join(f'"{n}"' for n in rules.margin_rules)
        which = "rule" if len(rules.margin_rules) == 1 else "rules"
        raise UsageError(
            f"--costs is required: a min_margin guard applies to {which} {names}",
            "pass the cost file with --costs FILE, or turn the guard off for a rule with min_margin = false",
        )
    folder = out / "price"
    files = {"products": list(products), "costs": list(costs)}
    with staged_inputs(
        files, folder, encoding=encoding_arg(encoding), sheet=sheet, shop_id=shop_id, stage="price"
    ) as inputs:
        decided = decide(inputs.frame("products"), inputs.frame("costs"), rules).collect()
        rejected = inputs.rejected_rows
    result = write_outputs(decided, folder, rules, dry_run=dry_run, rejected_rows=rejected)
    if as_json:
        click.echo(json.dumps(result.summary, ensure_ascii=False, indent=2, sort_keys=True))
    else:
        if dry_run:
            click.echo(preview(decided))
            click.echo()
        click.echo(as_text(result))
    blocked = sum(result.summary["blocked"].values())
    sys.exit(EXIT_REJECTED if blocked or rejected else EXIT_OK)


def register(main: click.Group, check: click.Group) -> None:
    main.add_command(price)
