"""Generate the CLI reference (docs/cli.md) from the commands' own --help, and the
README's tables of exit codes (`pipeline.outcome.EXITS`) and finding codes
(`pipeline.validation.findings.CODES`), between `<!-- generated: NAME -->` and `<!-- end -->`.

`make docs` rewrites both; tests/test_docs.py fails when either drifts."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.outcome import EXITS
from pipeline.validation.findings import CODES


def _commands(group: click.Group, prefix: list[str]) -> list[list[str]]:
    out = [prefix]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            out += _commands(cmd, prefix + [name])
        else:
            out.append(prefix + [name])
    return out


def cli_reference() -> str:
    runner = CliRunner()
    parts = [
        "# CLI reference",
        "",
        "Generated from `--help` by `make docs` (`python -m pipeline.cli.docs`); do not edit by hand.",
        "",
    ]
    for path in _commands(main, []):
        result = runner.invoke(main, [*path, "--help"], prog_name="doudian", terminal_width=88)
        title = " ".join(["doudian", *path])
        parts += [f"## `{title}`", "", "```", result.output.rstrip(), "```", ""]
    parts += ["## Exit codes", "", exit_codes_table(), "", "## Finding codes", "", findings_table()]
    return "\n".join(parts) + "\n"


def exit_codes_table() -> str:
    rows = ["| code | status | meaning |", "|---|---|---|"]
    rows += [f"| {code} | {status or ''} | {meaning} |" for code, status, meaning in EXITS]
    return "\n".join(rows)


def findings_table() -> str:
    rows = ["| code | severity | meaning |", "|---|---|---|"]
    rows += [f"| `{code}` | {sev} | {msg} |" for code, (sev, msg) in CODES.items()]
    return "\n".join(rows)


SECTIONS = {"exit-codes": exit_codes_table, "finding-codes": findings_table}


def readme(text: str) -> str:
    """`text` (the README) with each generated section made anew."""
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- generated: {name} -->\n).*?(?=<!-- end -->)", flags=re.DOTALL)
        if not pattern.search(text):
            raise ValueError(f"README.md has no generated section {name!r}")
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + "\n", text)
    return text


if __name__ == "__main__":
    if sys.argv[1:] == ["readme"]:
        path = Path(__file__).resolve().parents[2] / "README.md"
        path.write_text(readme(path.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(cli_reference(), end="")
