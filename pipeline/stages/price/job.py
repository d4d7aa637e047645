"""The price stage over validated inputs: decide every SKU's new price by the rules and
write OUT/price/ (see pipeline/stages/price/outputs.py for the files)."""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import UsageError
from pipeline.orchestrate.locking import output_lock
from pipeline.outcome import StageResult
from pipeline.stages.price.engine import decide
from pipeline.stages.price.outputs import as_text, preview, write_outputs
from pipeline.stages.price.rules import RuleSet
from pipeline.validation.staging import StagedInputs


def require_costs(rules: RuleSet, given: bool) -> None:
    """A min_margin guard needs the cost file: refuse before any data is read."""
    if rules.margin_rules and not given:
        names = ", ".join(f'"{n}"' for n in rules.margin_rules)
        which = "rule" if len(rules.margin_rules) == 1 else "rules"
        raise UsageError(
            f"{{opt:costs}} is required: a min_margin guard applies to {which} {names}",
            "pass the cost file with {opt:costs} FILE, or turn the guard off for a rule with "
            "min_margin = false",
        )


def price_inputs(
    inputs: StagedInputs, rules: RuleSet, out: Path, *, dry_run: bool = False
) -> StageResult:
    """Decide the new prices of the validated products (and costs); write OUT/price/."""
    with output_lock(out):
        folder = out / "price"
        inputs.publish(folder)
        decided = decide(inputs.frame("products"), inputs.frame("costs"), rules).collect()
        rejected = inputs.rejected_rows
        result = write_outputs(decided, folder, rules, dry_run=dry_run, rejected_rows=rejected)
        lines = [preview(decided), ""] if dry_run else []
        lines += as_text(result).split("\n")
        blocked = sum(result.summary["blocked"].values())
        status = "attention" if blocked or rejected else "ok"
        return StageResult("price", status, result.summary, lines, [folder])
