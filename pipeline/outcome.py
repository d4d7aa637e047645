"""The one report model: what a stage returns, and how it is shown.

Every stage function returns a `StageResult`: its status, the summary it wrote (the same
dict `--json` prints), the text a person reads, and the files it wrote. The command line
renders it (`render`) and exits with `result.exit_code`; `doudian run` records it in the
manifest. The status-to-exit-code table below is the only place exit codes are decided.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import (
    EXIT_FILE,
    EXIT_INELIGIBLE,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_USAGE,
)

#: The exit codes: (code, status, meaning). A stage's status gives its exit code; the
#: rows without a status are the errors no stage returns. `doudian --help`, the README
#: and the CLI reference show this table.
EXITS: tuple[tuple[int, str | None, str], ...] = (
    (EXIT_OK, "ok", "done; every row valid, nothing to look at"),
    (EXIT_OK, "not-due", "nothing is due on this date (settlement runs on the 1st and the 16th)"),
    (EXIT_OK, "skipped", "(`run`) the stage does not apply: an input it needs is not configured"),
    (
        EXIT_REJECTED,
        "attention",
        "done; some rows were rejected (the valid rows were still used), or something needs a "
        "look: differences in reconciliation, blocked SKUs, skipped products, a warning status",
    ),
    (
        EXIT_FILE,
        "failed",
        "a file cannot be used at all (missing, empty, unreadable, not a regular file, wrong "
        "kind, missing column), or an output cannot be written (no space left on device, a "
        "read-only or forbidden folder, named in the message); nothing was written. Also an "
        "internal error, reported in one line (`DOUDIAN_DEBUG=1` shows the traceback)",
    ),
    (
        EXIT_USAGE,
        None,
        "a usage error: an unknown kind, a missing or bad option, config key, policy or rules "
        "file; nothing was done",
    ),
    (
        EXIT_INELIGIBLE,
        "ineligible",
        "a check's verdict: the shop is not eligible for 阶梯发货 (`check tiered-shipping`, "
        "`shipping-mode`), or a category is refused (`check deposit`)",
    ),
    (
        EXIT_LOCKED,
        None,
        "another doudian command holds the output folder's lock; nothing was done, try later",
    ),
)
#: status -> exit code
STATUS_EXIT: dict[str, int] = {status: code for code, status, _ in EXITS if status}
#: How `doudian --help` names each exit code.
SHORT: dict[int, str] = {
    EXIT_OK: "done, all rows valid (or nothing due)",
    EXIT_REJECTED: "done, something needs a look (rejected rows, differences, warnings)",
    EXIT_FILE: "a file cannot be used at all",
    EXIT_USAGE: "a usage error",
    EXIT_INELIGIBLE: "a check's verdict: ineligible or refused",
    EXIT_LOCKED: "another command holds the output folder's lock",
}


def exit_codes_text() -> str:
    """The exit codes as short lines, for `doudian --help`."""
    codes = sorted({code for code, _, _ in EXITS})
    return "\n".join(f"{code:>3}  {SHORT[code]}" for code in codes)


@dataclass
class StageResult:
    """What one stage did. `summary` is JSON-ready (sorted when rendered); `lines` is the
    text for people; `outputs` are the files it wrote."""

    stage: str
    status: str
    summary: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    #: warnings for stderr (e.g. stale later periods, rejected rows not counted)
    notes: list[str] = field(default_factory=list)
    #: the stage's own typed result (a ValidationResult, a SettleResult, ...)
    detail: Any = None
    #: the JSON document as it is printed, when it is not the summary (a frame of shops
    #: written by polars, or a dict with its keys in their own order)
    json_text: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUS_EXIT:
            raise ValueError(f"unknown status {self.status!r}")

    @property
    def exit_code(self) -> int:
        return STATUS_EXIT[self.status]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def message(self) -> str:
        """One line for a run's log and manifest: the first two lines of the text."""
        text = [line.strip() for line in self.lines if line.strip()]
        return "; ".join(text[:2])


def render(result: StageResult, as_json: bool) -> str:
    if as_json and result.json_text is not None:
        return result.json_text
    if as_json:
        return json.dumps(result.summary, ensure_ascii=False, indent=2, sort_keys=True)
    return result.text
