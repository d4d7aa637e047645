"""A validation result as a stage's result: its summary (the JSON `--json` prints) and
the text summary for people."""

from __future__ import annotations

from collections import Counter

from pipeline.errors import EXIT_OK, EXIT_REJECTED
from pipeline.outcome import StageResult
from pipeline.validation.checker import FileResult, ValidationResult


def exit_code(result: ValidationResult) -> int:
    return EXIT_REJECTED if result.rejected else EXIT_OK


def _file_dict(f: FileResult) -> dict[str, object]:
    return {
        "file": f.path,
        "format": f.format,
        "encoding": f.encoding,
        "rows": f.rows,
        "valid": f.valid,
        "rejected": f.rejected,
        "findings": dict(sorted(f.findings.items())),
        "warnings": dict(sorted(f.warnings.items())),
        "not_read": list(f.unread),
    }


def as_dict(result: ValidationResult) -> dict[str, object]:
    return {
        "kind": result.kind,
        "rows": result.rows,
        "valid": result.valid,
        "rejected": result.rejected,
        "findings": dict(sorted(result.findings().items())),
        "warnings": dict(sorted(result.warnings().items())),
        "files": [_file_dict(f) for f in result.files],
        "outputs": {
            "valid": str(result.valid_path),
            "rejected": str(result.rejected_path),
            "warnings": str(result.warnings_path),
        },
        "exit_code": exit_code(result),
    }


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _counts(title: str, counts: Counter[str], width: int) -> list[str]:
    if not counts:
        return []
    return [f"{title}:"] + [f"  {code:<{width}}  {n:>10,}" for code, n in sorted(counts.items())]


def as_text(result: ValidationResult) -> str:
    findings, warnings = result.findings(), result.warnings()
    lines = [
        f"{result.kind}: {_plural(result.rows, 'row')} in {_plural(len(result.files), 'file')}: "
        f"{result.valid:,} valid, {result.rejected:,} rejected"
        f" ({_plural(sum(findings.values()), 'finding')}), {_plural(sum(warnings.values()), 'warning')}"
    ]
    width = max(len(f.path) for f in result.files) if result.files else 0
    for f in result.files:
        encoding = f" {f.encoding}" if f.encoding else ""
        lines.append(
            f"  {f.path:<{width}}  {f.format}{encoding}  {f.rows:,} rows, {f.valid:,} valid, "
            f"{f.rejected:,} rejected"
        )
        if f.unread:
            lines.append(f"    {_plural(len(f.unread), 'column')} not read: {', '.join(f.unread)}")
    width = max((len(c) for c in [*findings, *warnings]), default=0)
    lines += _counts("findings", findings, width)
    lines += _counts("warnings", warnings, width)
    lines += [
        f"valid rows: {result.valid_path}",
        f"rejected:   {result.rejected_path}",
        f"warnings:   {result.warnings_path}",
    ]
    return "\n".join(lines)


def validation_report(result: ValidationResult) -> StageResult:
    """A validation as a stage's result: attention when some row was rejected."""
    outputs = [p for p in (result.valid_path, result.rejected_path, result.warnings_path) if p]
    status = "attention" if result.rejected else "ok"
    return StageResult(
        "validate", status, as_dict(result), as_text(result).split("\n"), outputs, [], result
    )
