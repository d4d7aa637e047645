"""The CLI reference is generated from --help and must not drift."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli import main
from pipeline.cli.docs import _commands, cli_reference, readme

ROOT = Path(__file__).resolve().parent.parent


def test_cli_reference_is_current():
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == cli_reference(), "docs/cli.md is stale: run `make docs`"


def test_every_command_has_help_text():
    for path in _commands(main, []):
        cmd: click.Command = main
        ctx = click.Context(main)
        for name in path:
            cmd = cmd.get_command(ctx, name)  # type: ignore[union-attr]
        assert cmd.help and len(cmd.help.strip()) > 20, f"doudian {' '.join(path)} has no help"
        for param in cmd.params:
            if isinstance(param, click.Option):
                assert param.help, f"doudian {' '.join(path)} {param.opts[0]} has no help"


def test_readme_shows_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme


def test_readme_tables_are_generated_from_the_code():
    current = (ROOT / "README.md").read_text(encoding="utf-8")
    assert current == readme(current), "README.md's code tables are stale: run `make docs`"
    assert "| 75 |" in current and "| `duplicate-sub-order` |" in current
