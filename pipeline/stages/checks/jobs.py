"""The shop checks as stages: typed inputs in, a `StageResult` out (its text, its
`--json` document, the files written, its status). `alliance` judges the shops of
validated metrics files; `deposit_one` / `reopen_one` judge one shop from its values,
`deposit_many` / `reopen_many` the shops of a shop list (`read_shops`), writing one
result row per shop to OUT/CHECK.csv.

Settings are named as `{opt:...}` (the caller says where they came from); the JSON of
many shops is written by polars (`StageResult.json_text`), with no loop over shops.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.errors import InputError, UsageError
from pipeline.outcome import StageResult
from pipeline.stages.checks import Refused, render
from pipeline.stages.checks.alliance import AllianceRules, gmv_from_orders, gmv_window, judge
from pipeline.stages.checks.deposit import DepositRules, categories_expr, deposits, split_categories
from pipeline.stages.checks.reopen import Calendar, ShopRules, reopen_dates
from pipeline.stages.checks.roster import Roster, read_roster
from pipeline.validation.staging import StagedInputs
from pipeline.write.files import write_csv
from schemas import Kind, shops

#: The kinds of shop list (`read_shops`).
SHOP_LISTS = {
    "deposit-shops": Kind(shops.DEPOSIT_SHOPS, shops.DepositShops),
    "closed-shops": Kind(shops.CLOSED_SHOPS, shops.ClosedShops),
}


def _single(stage: str, data: dict[str, Any], lines: list[str]) -> StageResult:
    """The result of one shop: its JSON is the dict as it is (keys in their order)."""
    result = StageResult(stage, "ok", data, lines)
    result.json_text = json.dumps(data, ensure_ascii=False)
    return result


def _shops_json(frame: pl.DataFrame) -> str:
    """`{"shops": [...]}` of a frame of shops, written by polars."""
    return '{"shops": ' + frame.write_json() + "}"


# --- shop lists ----------------------------------------------------------------------


def read_shops(
    kind: str, path: str, out: Path, *, encoding: str | None = None, sheet: str | None = None
) -> Roster:
    """A shop list of `kind` (deposit-shops, closed-shops); its findings go to
    OUT/rejected/KIND.csv."""
    out.mkdir(parents=True, exist_ok=True)
    return read_roster(SHOP_LISTS[kind], path, out, encoding=encoding, sheet=sheet)


def _roster_lines(roster: Roster, out: Path, kind: str, check: str) -> list[str]:
    lines = []
    if roster.rejected:
        where = out / "rejected" / f"{kind}.csv"
        lines.append(f"rejected: {roster.rejected:,} of {roster.rows:,} rows ({where})")
    return [*lines, f"results: {out / f'{check}.csv'}"]


def _many(
    stage: str, status: str, frame: pl.DataFrame, roster: Roster, lines: list[str], path: Path
) -> StageResult:
    summary = {"shops": frame.height, "rejected": roster.rejected, "results": str(path)}
    result = StageResult(stage, status, summary, lines, [path])
    result.json_text = _shops_json(frame)
    return result


# --- alliance ------------------------------------------------------------------------


def _findings_note(path: Path) -> str:
    """Every finding of a rejected-rows CSV, one line each (for stderr, when there is
    no output folder to keep the file in)."""
    frame = pl.read_csv(path, infer_schema=False)
    lines = frame.select(pl.format("rejected: {}:{}: {} [{}]", "file", "row", "message", "code"))
    return "\n".join(lines.to_series().to_list())


def _require_gmv_column(paths: list[str], encoding: str | None, sheet: str | None) -> None:
    """Without orders, each metrics file must have the 近30天成交金额 column (an empty
    cell is 0; a missing column would make every shop `no-gmv-30d`). Called after the
    files were validated, so a missing column is the only way this can fail."""
    from pipeline.read.exports import open_export
    from schemas.metrics import SPEC

    columns = tuple(replace(c, required=c.required or c.name == "gmv_30d") for c in SPEC.columns)
    for path in paths:
        try:
            open_export(replace(SPEC, columns=columns), path, encoding=encoding, sheet=sheet)
        except InputError:
            raise InputError(
                path,
                "has no 近30天成交金额 column",
                "pass {opt:orders} FILE {opt:as_of} DATE to compute the 30-day GMV from the orders",
            ) from None


def _gmv(inputs: StagedInputs, as_of: dt.date, days: int) -> pl.LazyFrame:
    orders = inputs.frame("orders")
    unknown = orders.filter(pl.col("shop_id").is_null()).select(pl.len()).collect().item()
    if unknown:
        raise UsageError(
            f"{unknown:,} valid order rows have no 店铺ID: pass {{opt:shop_id}} ID for a "
            "single-shop export"
        )
    return gmv_from_orders(orders, as_of, days)


def alliance(
    inputs: StagedInputs,
    rules: AllianceRules,
    *,
    as_of: dt.date | None = None,
    out: Path | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
) -> StageResult:
    """精选联盟 entry of the shops of the validated metrics (with orders and `as_of`:
    the 30-day GMV from the orders). With `out`, the verdicts go to OUT/alliance.csv and
    the findings stay in the stage folder; without, the findings are the notes.
    `encoding` and `sheet` are those the metrics were read with (to check, without
    orders, that each file has the GMV column)."""
    gmv = None
    if as_of is not None and inputs.given("orders"):
        gmv = _gmv(inputs, as_of, rules.gmv_window_days)
    else:
        paths = [f.path for f in inputs.results["metrics"].files]
        _require_gmv_column(paths, encoding, sheet)
    verdicts = judge(inputs.frame("metrics"), rules, gmv).collect()
    rejected = {kind: r for kind, r in inputs.results.items() if r.rejected}
    notes = [] if out is not None else [_findings_note(r.rejected_path) for r in rejected.values()]
    outputs = []
    if out is not None:
        write_csv(render.alliance_table(verdicts), out / "alliance.csv")
        outputs.append(out / "alliance.csv")

    lines = render.alliance_lines(verdicts)
    if gmv is not None and as_of is not None:
        start, end = gmv_window(as_of, rules.gmv_window_days)
        lines.append(
            f"近30天成交金额 from the orders: paid {start:%Y-%m-%d} to {end - dt.timedelta(days=1):%Y-%m-%d}"
        )
    for kind, result in rejected.items():
        where = result.rejected_path if out is not None else "listed on stderr"
        lines.append(f"rejected: {result.rejected:,} of {result.rows:,} {kind} rows ({where})")
    if out is not None:
        lines.append(f"results: {out / 'alliance.csv'}")

    flagged = (pl.col("result") == "not-eligible") | (pl.col("warnings").list.len() > 0)
    status = "attention" if rejected or verdicts.filter(flagged).height else "ok"
    summary = {"shops": verdicts.height, "rejected": sum(r.rejected for r in rejected.values())}
    result = StageResult("check-alliance", status, summary, lines, outputs, notes, verdicts)
    result.json_text = _shops_json(render.alliance_json(verdicts))
    return result


# --- deposit -------------------------------------------------------------------------


def yuan_to_fen(text: str) -> int:
    """Last month's GMV in yuan, read exactly as money cells are (`52,000.50`, `¥59.90`)."""
    from pipeline.canonical.cells import canonicalize
    from schemas.base import ColumnSpec

    parsed = canonicalize(pl.DataFrame({"gmv": [text]}), (ColumnSpec("gmv", "money", ("gmv",)),))
    fen = parsed.item(0, "gmv")
    if fen is None or fen < 0:
        raise UsageError(
            f"{{opt:last_month_gmv}} {text}: not an amount in yuan (like 52000 or 52,000.50)"
        )
    return fen


def _deposit_shop(
    rules: DepositRules, entity: str, categories: list[str], last_month_gmv: str | None
) -> pl.LazyFrame:
    """The one-row shops frame of one shop's values, checked against the policy."""
    if entity not in rules.entities:
        known = ", ".join(rules.entities)
        raise UsageError(
            f"{{opt:entity}} {entity}: not an entity type of policy {rules.policy} ({known})"
        )
    wanted = split_categories(categories)
    gmv_fen = yuan_to_fen(last_month_gmv) if last_month_gmv is not None else None
    if rules.model == "category" and not wanted:
        raise UsageError(
            f"{{opt:category}} is required: policy {rules.policy} sets the deposit by category"
        )
    if rules.model == "gmv-tiers" and gmv_fen is None:
        raise UsageError(
            f"{{opt:policy}} {rules.policy} tiers the deposit by last month's GMV: pass "
            "{opt:last_month_gmv} YUAN"
        )
    return pl.LazyFrame(
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


def deposit_one(
    rules: DepositRules, entity: str, categories: list[str], last_month_gmv: str | None = None
) -> StageResult:
    """The deposit of one shop: its entity type, its categories (several in one value
    are split) and, for a GMV-tiered policy, last month's GMV in yuan (text, as given).
    Raises `Refused` naming the categories the entity type may not open."""
    row = deposits(_deposit_shop(rules, entity, categories, last_month_gmv), rules)
    row = row.collect().row(0, named=True)
    if row["status"] == "refused":
        allowed = ", ".join(rules.allowed(entity)) or "none"
        raise Refused(
            f"refused: {entity} may not open {', '.join(row['refused'])} (policy {rules.policy} "
            f"has no deposit for {entity} there; {entity} may open: {allowed})"
        )
    data = {"deposit_yuan": row["deposit_yuan"], "set_by": row["set_by"], "policy": rules.policy}
    text = f"deposit: {row['deposit_yuan']} yuan, set by {row['set_by']} (policy {rules.policy})"
    return _single("check-deposit", data, [text])


def deposit_many(roster: Roster, rules: DepositRules, out: Path) -> StageResult:
    """The deposit of each valid shop of a deposit-shops list; OUT/deposit.csv. Status
    ineligible when a shop is refused, else attention when a row was rejected or a shop
    invalid."""
    shops = roster.valid.select(
        "shop_id",
        "entity",
        categories_expr(pl.col("categories")).alias("categories"),
        "last_month_gmv",
    )
    results = (
        deposits(shops.lazy(), rules).collect().with_columns(pl.lit(rules.policy).alias("policy"))
    )
    path = out / "deposit.csv"
    write_csv(render.deposit_table(results), path)
    lines = render.deposit_lines(results, rules.policy) + _roster_lines(
        roster, out, "deposit-shops", "deposit"
    )
    status = results.get_column("status")
    verdict = (
        "ineligible"
        if (status == "refused").any()
        else "attention"
        if roster.rejected or (status == "invalid").any()
        else "ok"
    )
    return _many("check-deposit", verdict, results, roster, lines, path)


# --- reopen --------------------------------------------------------------------------


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _reopen_note(rules: ShopRules) -> str:
    return (
        f"reopen: {rules.reopen_after_months} calendar months after closure (the month's last "
        f"day when shorter); refund: by the {_ordinal(rules.refund_working_days)} working day "
        "after closure, when there is no penalty record, no arrears and payouts are settled"
    )


def reopen_one(closed_on: dt.date, rules: ShopRules, calendar: Calendar) -> StageResult:
    """The earliest reopening date and the refund deadline of a shop closed on `closed_on`."""
    one = pl.LazyFrame(
        {"shop_id": [None], "closed_on": [closed_on]},
        schema={"shop_id": pl.String, "closed_on": pl.Date},
    )
    row = render.reopen_iso(reopen_dates(one, rules, calendar).collect()).row(0, named=True)
    data = {key: row[key] for key in ("closed_on", "reopen_on", "refund_by")}
    lines = [
        f"closed on: {row['closed_on']}",
        f"reopen on: {row['reopen_on']}",
        f"refund by: {row['refund_by']}",
        _reopen_note(rules),
    ]
    return _single("check-reopen", data, lines)


def reopen_many(roster: Roster, rules: ShopRules, calendar: Calendar, out: Path) -> StageResult:
    """The dates of each valid shop of a closed-shops list; OUT/reopen.csv. Status
    attention when a row was rejected."""
    shops = roster.valid.select("shop_id", pl.col("closed_on").dt.date())
    results = reopen_dates(shops.lazy(), rules, calendar).collect()
    path = out / "reopen.csv"
    write_csv(results, path)
    lines = [
        *render.reopen_lines(results),
        _reopen_note(rules),
        *_roster_lines(roster, out, "closed-shops", "reopen"),
    ]
    status = "attention" if roster.rejected else "ok"
    return _many("check-reopen", status, render.reopen_iso(results), roster, lines, path)
