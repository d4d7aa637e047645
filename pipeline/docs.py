"""Generate the CLI reference (docs/cli.md) from the commands' own --help, and the
table of finding codes from `pipeline.findings.CODES`.

`make docs` rewrites docs/cli.md; tests/test_docs.py fails when it drifts."""

from __future__ import annotations

import click
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.findings import CODES


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
        "Generated from `--help` by `make docs` (`python -m pipeline.docs`); do not edit by hand.",
        "",
    ]
    for path in _commands(main, []):
        result = runner.invoke(main, [*path, "--help"], prog_name="doudian", terminal_width=88)
        title = " ".join(["doudian", *path])
        parts += [f"## `{title}`", "", "```", result.output.rstrip(), "```", ""]
    parts += ["## Finding codes", "", "| code | severity | meaning |", "|---|---|---|"]
    parts += [f"| `{code}` | {sev} | {msg} |" for code, (sev, msg) in CODES.items()]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(cli_reference(), end="")
