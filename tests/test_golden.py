"""Every output of `doudian run` over a small generated set keeps its bytes: the sha256 of
each file is pinned in tests/golden/run.sha256. A change that means to change an output
regenerates the list (`DOUDIAN_GOLDEN=write .venv/bin/python -m pytest tests/test_golden.py`)
and the diff of that file shows which outputs changed; a restructuring must leave it as
it is. Files that hold the test's own folder (the valid rows name their source file) are
compared by content instead of listed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import polars as pl
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.demo.generator import generate, shops_config, split_by_shop

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden" / "run.sha256"
DATES = ("2026-10-16", "2026-11-01", "2026-11-05")


def run_outputs(root: Path) -> dict[str, str]:
    exports = root / "exports"
    generate(exports, shops=2, orders=2000, seed=21)
    split_by_shop(exports)
    config = root / "pipeline.toml"
    rules = REPO / "fixtures" / "price" / "rules.toml"
    config.write_text(
        'output = "out"\n' + shops_config(exports, ["1000001", "1000002"], rules), "utf-8"
    )
    for day in DATES:
        result = CliRunner().invoke(main, ["run", "--config", str(config), "--on", day])
        assert result.exit_code == 3, result.output
    out = root / "out"
    hashes = {}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if not path.is_file() or rel in ("manifest.json", ".doudian.lock") or rel.startswith("."):
            continue
        data = path.read_bytes()
        if str(root).encode() in data:  # names the test's folder: compare what it holds
            if path.suffix == ".parquet":
                frame = pl.read_parquet(path)
                if "source_file" in frame.columns:
                    frame = frame.with_columns(pl.col("source_file").str.replace(str(root), "ROOT"))
                data = frame.write_csv().encode()
            else:
                data = data.replace(str(root).encode(), b"ROOT")
        hashes[rel] = hashlib.sha256(data).hexdigest()
    return hashes


def test_run_outputs_keep_their_bytes(tmp_path):
    hashes = run_outputs(tmp_path)
    text = "".join(f"{digest}  {rel}\n" for rel, digest in hashes.items())
    if os.environ.get("DOUDIAN_GOLDEN") == "write":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert len(hashes) > 100
    assert text == GOLDEN.read_text(encoding="utf-8"), (
        "outputs changed: if that is meant, regenerate tests/golden/run.sha256 "
        "(DOUDIAN_GOLDEN=write) and review its diff"
    )
