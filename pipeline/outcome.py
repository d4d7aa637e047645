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

from pipeline.errors import EXIT_FILE, EXIT_INELIGIBLE, EXIT_OK, EXIT_REJECTED, EXIT_USAGE

#: Exit code of each status, and what it means. `doudian --help`, the README and the CLI
#: reference show this table.
STATUS_EXIT: dict[str, tuple[int, str]] = {
    "ok": (EXIT_OK, "done, every row valid, nothing to look at"),
    "not-due": (EXIT_OK, "nothing is due on this date (settlement runs on the 1st and 16th)"),
    "skipped": (EXIT_OK, "the stage does not apply (an input it needs is not configured)"),
    "attention": (
        EXIT_REJECTED,
        "done, but some rows were rejected, differ or were held back, or a check warns",
    ),
    "ineligible": (EXIT_INELIGIBLE, "a check's verdict: not eligible, or a category refused"),
    "failed": (EXIT_FILE, "a file cannot be used at all (named in the message)"),
}
#: Exit codes that no stage status gives.
OTHER_EXITS: dict[int, str] = {
    EXIT_USAGE: "a usage error: a bad option, config key or rules file (nothing was done)",
    75: "another doudian command holds the output folder's lock (nothing was done)",
}


def exit_codes_text() -> str:
    """The exit-code table as lines, for `--help` and the docs."""
    codes: dict[int, list[str]] = {}
    for status, (code, meaning) in STATUS_EXIT.items():
        codes.setdefault(code, []).append(f"{meaning} [{status}]")
    for code, meaning in OTHER_EXITS.items():
        codes.setdefault(code, []).append(meaning)
    return "\n".join(f"{code:>3}  {'; '.join(parts)}" for code, parts in sorted(codes.items()))


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
        return STATUS_EXIT[self.status][0]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def message(self) -> str:
        """One line for a run's log and manifest: the first two lines of the text."""
        text = [line.strip() for line in self.lines if line.strip()]
        return "; ".join(text[:2])


def worst(statuses: list[str]) -> str:
    """The status of several results together: failed over attention over ok."""
    for status in ("failed", "ineligible", "attention"):
        if status in statuses:
            return status
    return "ok"


def render(result: StageResult, as_json: bool) -> str:
    if as_json and result.json_text is not None:
        return result.json_text
    if as_json:
        return json.dumps(result.summary, ensure_ascii=False, indent=2, sort_keys=True)
    return result.text
