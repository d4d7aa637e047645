"""`doudian shipping-mode` and `doudian check tiered-shipping` (docs/shipping.md):
options and outputs over `pipeline.stages.shipping.plan`."""

from __future__ import annotations

import contextlib
import datetime as dt
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import click

from pipeline.cli.options import (
    INPUT_FILES,
    encoding_arg,
    json_option,
    out_option,
    policy_option,
    reading_options,
    show,
)
from pipeline.errors import UsageError
from pipeline.orchestrate.locking import output_lock, refuse_inputs_inside
from pipeline.stages.shipping import job as shipping_job
from pipeline.stages.shipping import plan as shipping
from pipeline.validation.staging import staged_inputs


def _as_of_option(func):  # type: ignore[no-untyped-def]
    return click.option(
        "--as-of",
        "as_of",
        required=True,
        type=click.DateTime(formats=["%Y-%m-%d"]),
        metavar="DATE",
        help="Run date YYYY-MM-DD: the window ends at 00:00 China time of this day.",
    )(func)


def _share_option(option: str, value: str | None) -> Fraction | None:
    if value is None:
        return None
    try:
        return shipping.parse_share(value)
    except ValueError:
        raise UsageError(f"{option} {value}: must be a share between 0 and 1 (e.g. 0.5)") from None


#: --orders: the order export(s) the spot share is measured on
_orders_option = click.option(
    "--orders",
    multiple=True,
    required=True,
    type=INPUT_FILES,
    help="订单导出 file covering the window; repeat the option for several files.",
)


@click.command("shipping-mode")
@click.option(
    "--products",
    multiple=True,
    required=True,
    type=INPUT_FILES,
    help="商品导出 file, one row per SKU; repeat the option for several files.",
)
@_orders_option
@_as_of_option
@out_option
@policy_option
@click.option(
    "--spot-stock",
    type=click.IntRange(min=0),
    metavar="N",
    help="Spot stock (现货库存) of each product switched to 阶梯发货, capped at its stock.",
)
@click.option(
    "--spot-stock-ratio",
    metavar="R",
    help="Spot stock as a share of each switched product's stock (0-1, rounded down).",
)
@click.option(
    "--custom-keyword",
    "custom_keywords",
    multiple=True,
    metavar="TEXT",
    help="Title keyword of custom goods (全款预售); repeat for several; replaces the policy's list.",
)
@click.option(
    "--min-share",
    metavar="R",
    help="Floor of the projected spot share for tiered switches; default: the policy's warning line.",
)
@reading_options
@json_option
def shipping_mode(
    products: tuple[str, ...],
    orders: tuple[str, ...],
    as_of: dt.datetime,
    out: Path,
    policy: str | None,
    spot_stock: int | None,
    spot_stock_ratio: str | None,
    custom_keywords: tuple[str, ...],
    min_share: str | None,
    encoding: str,
    sheet: str | None,
    shop_id: str | None,
    as_json: bool,
) -> None:
    """Plan the bulk switch of products whose spot promise is too long (the old
    "2-15天现货") to 阶梯发货, or custom goods to 全款预售, keeping the shop's 60-day
    spot share at or above --min-share.

    Writes OUT/shipping_mode/: upload.xlsx and upload.csv (the back-office file),
    payloads.jsonl (open-platform edits), skipped.csv (product_id, reason) and
    summary.json. Exit 0 when every candidate changed, 3 when some were skipped, rows
    were rejected or the shop is in warning, 4 when the shop is ineligible.
    """
    if spot_stock is not None and spot_stock_ratio is not None:
        raise UsageError("--spot-stock and --spot-stock-ratio cannot be used together")
    if any(not k.strip() for k in custom_keywords):
        raise UsageError("--custom-keyword: must not be empty")
    floor = _share_option("--min-share", min_share)
    ratio = _share_option("--spot-stock-ratio", spot_stock_ratio)
    rules = shipping_job.shipping_policy(policy)
    stock_rule = (
        shipping.SpotStock(ratio=ratio)
        if ratio is not None
        else shipping.SpotStock(units=spot_stock)
        if spot_stock is not None
        else None
    )
    refuse_inputs_inside(out, [*products, *orders])
    click.get_current_context().with_resource(output_lock(out))  # held until the command ends
    with staged_inputs(
        {"products": list(products), "orders": list(orders)},
        out / "shipping_mode",
        encoding=encoding_arg(encoding),
        sheet=sheet,
        shop_id=shop_id,
        stage="shipping-mode",
    ) as inputs:
        result = shipping_job.shipping_mode(
            inputs,
            as_of.date(),
            out,
            rules,
            min_share=floor,
            spot_stock=stock_rule,
            keywords=tuple(k.strip() for k in custom_keywords) or None,
        )
    show(result, as_json)


@contextlib.contextmanager
def _stage_dir(out: Path | None) -> Iterator[Path]:
    if out is not None:
        yield out / "tiered_shipping"
        return
    with tempfile.TemporaryDirectory(prefix="doudian-check-") as tmp:
        yield Path(tmp)


@click.command("tiered-shipping")
@_orders_option
@_as_of_option
@policy_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the rejected order rows (OUT/tiered_shipping/rejected/); default: not kept.",
)
@reading_options
@json_option
def tiered_shipping(
    orders: tuple[str, ...],
    as_of: dt.datetime,
    policy: str | None,
    out: Path | None,
    encoding: str,
    sheet: str | None,
    shop_id: str | None,
    as_json: bool,
) -> None:
    """May the shop use 阶梯发货? Its spot share over the paid sub-orders of the 60
    days before --as-of (承诺发货时间 at most 48 hours after payment).

    Exit 0 ok (share >= 55%), 3 warning (>= 50%), 4 ineligible (< 50%); the numbers
    come from the policy.
    """
    rules = shipping_job.shipping_policy(policy)
    with (
        _stage_dir(out) as stage,
        staged_inputs(
            {"orders": list(orders)},
            stage,
            encoding=encoding_arg(encoding),
            sheet=sheet,
            shop_id=shop_id,
            stage="check tiered-shipping",
        ) as inputs,
    ):
        result = shipping_job.tiered_shipping(
            inputs, as_of.date(), rules, stage if out is not None else None
        )
    show(result, as_json)


def register(main: click.Group, check: click.Group) -> None:
    main.add_command(shipping_mode)
    check.add_command(tiered_shipping)
