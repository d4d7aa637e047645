"""One period's profit: read a settled period's folder, price its lines at cost, write
the profit files (each atomically; summary.json last)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.errors import EXIT_OK, EXIT_REJECTED, InputError
from pipeline.orchestrate.locking import output_lock
from pipeline.outcome import StageResult
from pipeline.policy import Policy
from pipeline.stages.profit import outputs
from pipeline.stages.profit.engine import NO_COST, profit_lines, refunded_lines
from pipeline.stages.profit.policy import ProfitPolicy
from pipeline.stages.settle.periods import Period
from pipeline.validation.staging import StagedInputs
from pipeline.write.files import write_csv, write_json, write_parquet

FILES = ("profit.parquet", "profit.csv", "no_cost.csv", "by_sku.csv", "by_shop.csv",
         "loss_makers.csv", "summary.json")  # fmt: skip


@dataclass
class ProfitResult:
    """What `profit_period` wrote: counts, fen totals (over the lines with a cost; see
    `pipeline.stages.profit.outputs`), the files (names inside `folder`) and the exit code
    (0, or 3 when some line has no cost)."""

    period: str
    folder: Path
    lines: int
    no_cost_lines: int
    loss_makers: int
    totals: dict[str, Any]
    summary: dict[str, Any]
    files: list[str] = field(default_factory=lambda: list(FILES))
    exit_code: int = EXIT_OK


def read_statement(statement_dir: Path) -> tuple[dict[str, Any], pl.LazyFrame, pl.LazyFrame]:
    """A settled period's summary, statement lines and exclusions; InputError when the
    folder is not one."""
    need = ("summary.json", "statement.parquet", "excluded.csv")
    missing = [n for n in need if not (statement_dir / n).is_file()]
    if missing:
        raise InputError(
            str(statement_dir),
            f"is not a settled period (no {', '.join(missing)})",
            "pass the period's folder OUT/settlement/PERIOD that `doudian settle` wrote",
        )
    summary = json.loads((statement_dir / "summary.json").read_text(encoding="utf-8"))
    excluded = pl.scan_csv(
        statement_dir / "excluded.csv",
        schema={"sub_order_id": pl.String, "shop_id": pl.String, "reason": pl.String},
    )
    return summary, pl.scan_parquet(statement_dir / "statement.parquet"), excluded


def profit_period(
    statement_dir: Path,
    orders: pl.LazyFrame,
    costs: pl.LazyFrame,
    policy: ProfitPolicy | Policy,
    folder: Path,
) -> ProfitResult:
    """Profit of the settled period in `statement_dir` (OUT/settlement/PERIOD), from the
    valid order rows (for 商品数量 and the cost keys) and the valid cost rows; writes
    FILES into `folder` (OUT/profit/PERIOD by convention)."""
    if isinstance(policy, Policy):
        policy = ProfitPolicy.from_policy(policy)
    settled, statement, excluded = read_statement(Path(statement_dir))
    period = Period.parse(settled["period"])
    refunded = refunded_lines(
        excluded, orders, period.id, period.settle_date,
        (period.window_start, period.window_end), statement.collect_schema(),
    )  # fmt: skip
    lines = profit_lines(pl.concat([statement, refunded]), orders, costs, policy).collect()
    skus = outputs.by_sku(lines.lazy()).collect()
    shops = outputs.by_shop(lines.lazy()).collect()
    losers = outputs.loss_makers(skus.lazy(), policy.min_margin_bp).collect()
    folder.mkdir(parents=True, exist_ok=True)
    write_parquet(lines, folder / "profit.parquet")
    write_csv(lines, folder / "profit.csv")
    write_csv(lines.filter(pl.col("cost_key") == NO_COST), folder / "no_cost.csv")
    write_csv(skus.drop("__goods_income"), folder / "by_sku.csv")
    write_csv(shops, folder / "by_shop.csv")
    write_csv(losers, folder / "loss_makers.csv")
    summary = {
        "period": settled["period"],
        "statement_lines": statement.select(pl.len()).collect().item(),
        "policy": policy.as_dict(),
        **outputs.summary(lines, shops, losers.height),
    }
    write_json(summary, folder / "summary.json")
    no_cost = summary["cost_keys"][NO_COST]
    return ProfitResult(
        period=settled["period"],
        folder=folder,
        lines=lines.height,
        no_cost_lines=no_cost,
        loss_makers=losers.height,
        totals=summary["totals"],
        summary=summary,
        exit_code=EXIT_REJECTED if no_cost else EXIT_OK,
    )


def profit_inputs(
    inputs: StagedInputs, statement_dir: Path, out: Path, rules: ProfitPolicy
) -> StageResult:
    """Profit of a settled period's lines from the validated orders and costs; writes
    OUT/profit/PERIOD/ with the inputs' findings."""
    with output_lock(out):
        settled, _, _ = read_statement(statement_dir)
        folder = out / "profit" / settled["period"]
        inputs.publish(folder)
        result = profit_period(
            statement_dir, inputs.frame("orders"), inputs.frame("costs"), rules, folder
        )
    t = result.totals
    margin = "-" if t["margin_bp"] is None else f"{t['margin_bp'] / 100:.2f}%"
    text = [
        f"{result.period}: {result.lines:,} lines, {result.no_cost_lines:,} without a cost, "
        f"{result.loss_makers:,} loss-making SKUs",
        f"  net {t['net'] / 100:,.2f}  cost {(t['cost'] or 0) / 100:,.2f}  "
        f"fulfilment {t['fulfilment'] / 100:,.2f}  profit {(t['profit'] or 0) / 100:,.2f} yuan"
        f" (margin {margin}, lines with a cost only)",
        f"  outputs: {result.folder}",
    ]
    status = "attention" if inputs.rejected_rows or result.exit_code else "ok"
    return StageResult("profit", status, result.summary, text, [folder], detail=result)
