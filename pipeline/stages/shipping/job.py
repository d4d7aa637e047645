"""The shipping stages over validated inputs: `shipping_mode` plans the bulk switch and
writes its files; `tiered_shipping` measures the spot share (see pipeline/stages/shipping/plan.py
for the rules)."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from pathlib import Path

from pipeline.errors import EXIT_INELIGIBLE, EXIT_OK, DoudianError
from pipeline.orchestrate.locking import output_lock
from pipeline.outcome import StageResult
from pipeline.policy import load_policy
from pipeline.stages.shipping import plan as shipping
from pipeline.validation.staging import StagedInputs
from pipeline.write.files import write_csv, write_json, write_text, write_xlsx

#: status of a result by the exit code the rules give it
_STATUS = {EXIT_OK: "ok", shipping.EXIT_WARNING: "attention", EXIT_INELIGIBLE: "ineligible"}


def shipping_policy(spec: str | None) -> shipping.ShippingPolicy:
    policy = load_policy(spec)
    return shipping.ShippingPolicy.from_section(policy.name, policy.section("shipping"))


def _one_shop(inputs: StagedInputs, *kinds: str) -> None:
    shops = shipping.shop_ids(*(inputs.frame(k) for k in kinds))
    if len(shops) > 1:
        raise DoudianError(
            f"the files hold {len(shops)} shops ({', '.join(shops)}): the spot share is per shop",
            hint="run once per shop with that shop's files",
        )


def _rejected_note(inputs: StagedInputs, where: Path | None) -> str | None:
    counts = [f"{k} {r.rejected}" for k, r in inputs.results.items() if r.rejected]
    if not counts:
        return None
    place = f"see {where / 'rejected'}" if where else "pass {opt:out} DIR to see them"
    return f"rejected rows (not counted): {', '.join(counts)}; {place}"


def _pct(value: float | None) -> str:
    return "n/a (no paid sub-orders in the window)" if value is None else f"{value:.4f}"


def _share_line(share: shipping.SpotShare) -> str:
    last_day = (share.window_end - dt.timedelta(days=1)).date()
    return (
        f"spot share {_pct(shipping.rounded_share(share.spot, share.total))}: "
        f"{share.spot} spot of {share.total} paid sub-orders paid "
        f"{share.window_start.date()} to {last_day} (China time); status {share.status}"
    )


def shipping_mode(
    inputs: StagedInputs,
    as_of: dt.date,
    out: Path,
    rules: shipping.ShippingPolicy,
    *,
    min_share: Fraction | None = None,
    spot_stock: shipping.SpotStock | None = None,
    keywords: tuple[str, ...] | None = None,
) -> StageResult:
    """Plan the switch of the products (and measure the orders' spot share) of one shop;
    write OUT/shipping_mode/ (upload.xlsx, upload.csv, payloads.jsonl, skipped.csv,
    summary.json, the inputs' findings)."""
    with output_lock(out):
        stage = out / "shipping_mode"
        inputs.publish(stage)
        _one_shop(inputs, "products", "orders")
        shipping.require_shipping_columns(inputs.frame("products"))
        result = shipping.plan(
            inputs.frame("products"),
            inputs.frame("orders"),
            as_of,
            rules,
            min_share=min_share,
            spot_stock=spot_stock,
            keywords=keywords,
        )
        note = _rejected_note(inputs, stage)
        upload = shipping.upload_frame(result)
        write_xlsx(upload, stage / "upload.xlsx", sheet="批量修改发货模式")
        write_csv(upload, stage / "upload.csv")
        write_text(shipping.payloads_frame(result).write_ndjson(), stage / "payloads.jsonl")
        write_csv(shipping.skipped_frame(result), stage / "skipped.csv")
        summary = shipping.summary(result)
        write_json(summary, stage / "summary.json")
        changed, skipped = summary["changed"], summary["skipped"]
        reasons = ", ".join(f"{k} {n}" for k, n in skipped.items())
        text = [
            _share_line(result.share),
            f"projected spot share {_pct(result.projected_share)} (floor {float(result.min_share):.4f})",
            f"changed: {changed['tiered']} to 阶梯发货, {changed['presale']} to 全款预售; "
            f"skipped: {sum(skipped.values())}{f' ({reasons})' if reasons else ''}; "
            f"unchanged: {summary['unchanged']}",
            f"written to {stage}",
        ]
        code = shipping.exit_code(result)
        if note and code == EXIT_OK:
            code = shipping.EXIT_WARNING
        return StageResult(
            "shipping-mode", _STATUS[code], summary, text, [stage], [note] if note else []
        )


def tiered_shipping(
    inputs: StagedInputs, as_of: dt.date, rules: shipping.ShippingPolicy, stage: Path | None
) -> StageResult:
    """May the shop use 阶梯发货: its spot share over the 60 days before `as_of`. With
    `stage`, the inputs' findings are kept there."""
    if stage is not None:
        inputs.publish(stage)
    _one_shop(inputs, "orders")
    share = shipping.measure(inputs.frame("orders"), as_of, rules)
    note = _rejected_note(inputs, stage)
    status = _STATUS[shipping.status_exit_code(share)]
    return StageResult(
        "check-tiered-shipping",
        status,
        share.as_dict(),
        [_share_line(share)],
        [],
        [note] if note else [],
    )
