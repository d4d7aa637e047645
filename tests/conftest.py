"""Shared helpers: run the real `doudian` CLI in-process (click's CliRunner) from the
repository root, so that file names in outputs read `fixtures/...`, and read back what
a run wrote (valid Parquet, rejected and warnings CSV, the --json summary)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
FINDING_HEADER = ["file", "row", "column", "value", "code", "message"]


def read_findings(path: Path) -> list[tuple[str, int, str, str, str]]:
    """(file, row, column, value, code) of a rejected/warnings CSV, after checking its
    header and that each message is `<column>: ...`."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == FINDING_HEADER
    out = []
    for file, row, column, value, code, message in rows[1:]:
        assert message.startswith(f"{column}: "), message
        out.append((file, int(row), column, value, code))
    return out


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str
    out: Path

    def json(self) -> dict:
        return json.loads(self.stdout)

    def valid(self, kind: str) -> pl.DataFrame:
        return pl.read_parquet(self.out / "valid" / f"{kind}.parquet")

    def rejected(self, kind: str) -> list[tuple[str, int, str, str, str]]:
        return read_findings(self.out / "rejected" / f"{kind}.csv")

    def warnings(self, kind: str) -> list[tuple[str, int, str, str, str]]:
        return read_findings(self.out / "warnings" / f"{kind}.csv")


@pytest.fixture
def doudian(tmp_path, monkeypatch):
    """`doudian(*args)` runs `doudian *args` in-process from the repository root.
    `validate(kind, *files_and_options)` adds `--out` (a fresh folder under tmp_path)."""
    from pipeline.cli import main

    monkeypatch.chdir(REPO)
    monkeypatch.delenv("DOUDIAN_DEBUG", raising=False)
    runs = iter(range(1_000_000))

    def run(*args: str, out: Path | None = None) -> Run:
        result = CliRunner().invoke(main, [str(a) for a in args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Run(result.exit_code, result.stdout, result.stderr, out or tmp_path)

    def validate(kind: str, *args: str) -> Run:
        out = tmp_path / f"out{next(runs)}"
        return run("validate", kind, *args, "--out", str(out), out=out)

    run.validate = validate  # type: ignore[attr-defined]
    return run
