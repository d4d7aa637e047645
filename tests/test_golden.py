"""Every output of `doudian run` over a small generated set keeps its bytes: the sha256 of
each file is pinned in tests/golden/run.sha256. A change that means to change an output
regenerates the list (`DOUDIAN_GOLDEN=write .venv/bin/python -m pytest tests/test_golden.py`)
and the diff of that file shows which outputs changed; a restructuring must leave it as
it is. Files that hold the test's own folder (the valid rows name their source file) are
compared by content instead of listed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
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


def test_valid_rows_keep_their_bytes_whatever_pieces_polars_cuts(tmp_path):
    """`doudian validate` writes the same valid-rows file (row groups of a fixed size)
    whether polars' streaming engine works in pieces of 5,000 rows or of 100,000: the
    bytes depend on the input only."""
    exports = tmp_path / "exports"
    generate(exports, shops=1, orders=150_000, seed=5)
    digests = []
    for piece in ("5000", "100000"):
        out = tmp_path / f"out-{piece}"
        env = {**os.environ, "POLARS_IDEAL_MORSEL_SIZE": piece}
        argv = [sys.executable, "-m", "pipeline", "validate", "orders", "exports/orders.csv"]
        done = subprocess.run(
            [*argv, "--out", str(out)], cwd=tmp_path, env=env, capture_output=True
        )
        assert done.returncode in (0, 3), done.stderr
        files = [out / "valid" / "orders.parquet", out / "rejected" / "orders.csv"]
        digests.append([hashlib.sha256(f.read_bytes()).hexdigest() for f in files])
    assert digests[0] == digests[1]
    assert pl.read_parquet(tmp_path / "out-5000" / "valid" / "orders.parquet").height > 140_000
