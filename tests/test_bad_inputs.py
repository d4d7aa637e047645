"""The bad-input corpus of `tests/bad_inputs/` (issue 7) through the real CLI.

Each file is copied into a fresh sandbox folder and run as a subprocess,
`python -m pipeline validate KIND FILE --out out --json`, from that folder (so messages
name the file as given). For every file:

- the exit code is the documented one (1 the file cannot be used at all, 3 some rows
  rejected, 0 the file is in fact fine);
- stderr holds no traceback: nothing on exit 0 or 3; on exit 1 one `Error: FILE: ...`
  line (with the expected text) and at most one `  hint: ...` line;
- exit 3: the rejected CSV lists exactly the expected finding codes, and valid +
  rejected = rows (from --json), per file and for the rejected CSV's rows too;
- exit 1: no file at all under the output root (no partial output);
- nothing in the sandbox outside the output root is created, changed or removed (files
  with their sizes, mtimes and the input's bytes; TMPDIR points into the sandbox so a
  leaked temporary file shows up), and no temporary file (a name starting with `.`) is
  left in the output root.

The expected outcome of every file is in CASES below; README.md in tests/bad_inputs/
says what is broken in each. A case that the pipeline gets wrong today is an xfail
(strict) with the reason; fixing the pipeline turns it into a failure to remove the mark.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
OUT = "out"

_spec = importlib.util.spec_from_file_location("bad_inputs_build", CORPUS / "build.py")
assert _spec and _spec.loader
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


@dataclass(frozen=True)
class Case:
    file: str
    kind: str
    exit: int
    #: exit 0/3: the row count (--json `rows`); exit 1: None
    rows: int | None
    #: exit 3: the finding codes of the rejected CSV; exit 1: a substring of the error
    expect: frozenset[str] | str = frozenset()
    xfail: str | None = None


def ok(file: str, kind: str, rows: int, xfail: str | None = None) -> Case:
    return Case(file, kind, 0, rows, frozenset(), xfail)


def rejects(file: str, kind: str, rows: int, *codes: str, xfail: str | None = None) -> Case:
    return Case(file, kind, 3, rows, frozenset(codes), xfail)


def refuses(file: str, kind: str, error: str, xfail: str | None = None) -> Case:
    return Case(file, kind, 1, None, error, xfail)


MISSING_ORDER_COLUMNS = "missing required columns 主订单编号, 子订单编号 "
UNREADABLE = "cannot be read past its header"

# fmt: off
CASES: list[Case] = [
    # -- orders: unusable files (exit 1) --
    refuses("orders_binary_garbage.csv",      "orders", "is not a text export (it contains NUL bytes)"),
    refuses("orders_png_renamed.csv",         "orders", "is not a text export (it contains NUL bytes)"),
    refuses("orders_xls_renamed.csv",         "orders", "an old .xls workbook cannot be read"),
    refuses("orders_utf16.csv",               "orders", "is not a text export (it contains NUL bytes)"),
    refuses("orders_nul_bytes.csv",           "orders", "is not a text export (it contains NUL bytes)"),
    refuses("orders_only_bom.csv",            "orders", "has no header row"),
    refuses("orders_blank_lines_only.csv",    "orders", MISSING_ORDER_COLUMNS),
    refuses("orders_english_header.csv",      "orders", MISSING_ORDER_COLUMNS),
    refuses("orders_semicolon.csv",           "orders", MISSING_ORDER_COLUMNS),
    refuses("orders_duplicate_header.csv",    "orders", "the header '子订单编号' appears twice (columns 2 and 25)"),
    refuses("orders_mixed_encoding.csv",      "orders", "is neither UTF-8 nor GB18030 text"),
    refuses("orders_mixed_encoding_late.csv", "orders", f"{UNREADABLE}: it is not valid UTF-8 text after the header"),
    refuses("orders_truncated_mid_char.csv",  "orders", f"{UNREADABLE}: it is not valid UTF-8 text after the header"),
    refuses("orders_unterminated_quote.csv",  "orders", UNREADABLE),
    rejects("orders_stray_quote.csv",         "orders", 2, "cell-spans-rows"),
    refuses("orders_cr_only.csv",             "orders", "the header row cannot be read as CSV"),
    refuses("orders_cr_rows.csv",             "orders", UNREADABLE),
    refuses("orders_products_export.xlsx",    "orders", "missing required columns 主订单编号, 子订单编号 "),
    refuses("orders_no_sheets.xlsx",          "orders", "the workbook has no sheets"),
    refuses("orders_empty_sheet.xlsx",        "orders", "sheet '订单' is empty"),
    refuses("orders_corrupt.xlsx",            "orders", "cannot be opened as an XLSX workbook"),
    refuses("orders_truncated.parquet",       "orders", "cannot be read as Parquet"),
    # -- orders: rows rejected (exit 3) --
    rejects("orders_truncated_mid_row.csv",   "orders", 3, "missing-value"),
    rejects("orders_extra_cells.csv",         "orders", 3, "extra-cells"),
    rejects("orders_fewer_cells.csv",         "orders", 3, "missing-value"),
    rejects("orders_all_invalid.csv",         "orders", 7, "bad-id", "bad-money", "bad-timestamp", "missing-value",
            "money-out-of-range", "quantity-not-positive", "time-order"),
    rejects("orders_sci_ids_every_row.csv",   "orders", 3, "id-scientific-notation"),
    rejects("orders_three_decimals.csv",      "orders", 3, "bad-money"),
    rejects("orders_impossible_dates.csv",    "orders", 5, "bad-timestamp"),
    rejects("orders_negative_quantity.csv",   "orders", 4, "quantity-not-positive", "bad-integer"),
    rejects("orders_float_ids.parquet",       "orders", 3, "id-scientific-notation"),
    rejects("orders_error_cells.xlsx",        "orders", 3, "missing-value", "bad-integer"),
    rejects("orders_odd_number_cells.xlsx",   "orders", 3, "bad-id", "bad-timestamp", "bad-integer"),
    # -- orders: tricky but fine (exit 0) --
    ok("orders_lf.csv",                       "orders", 3),
    ok("orders_mixed_line_ends.csv",          "orders", 3),
    ok("orders_newline_in_cell.csv",          "orders", 3),
    ok("orders_utc_times.parquet",            "orders", 3),  # values: see test_parquet_utc_times
    ok("orders_long_quoted_note.csv",         "orders", 3),
    ok("orders_trailing_blank_lines.csv",     "orders", 3),
    ok("orders_zero_width_header.csv",        "orders", 3),  # values: tests/test_hostile_inputs.py
    ok("orders_hidden_first_sheet.xlsx",      "orders", 3),  # which sheet: tests/test_hostile_inputs.py
    ok("orders_serial_times.xlsx",            "orders", 3),  # values: tests/test_hostile_inputs.py
    ok("orders_excel_resave.csv",             "orders", 3),  # the warning: tests/test_hostile_inputs.py
    # -- orders: hostile files --
    refuses("orders_far_cell.xlsx",           "orders", "sheet '订单' reaches row 1,048,576 and column XFD (17,179,869,184 cells) but holds only 96: a stray cell far from the data"),
    refuses("orders_stray_cell.xlsx",         "orders", "sheet '订单' reaches row 1,000,000 and column X (24,000,000 cells) but holds only 96"),
    refuses("orders_merged_header.xlsx",      "orders", "sheet '订单' has merged header cells J1:K1 ('运费')"),
    refuses("orders_two_aliases.csv",         "orders", "the headers '商品单价' (column 8) and '商品金额' (column 9) are two names of one column"),
    rejects("orders_bad_time_values.csv",     "orders", 4, "bad-timestamp"),
    # -- after-sales --
    refuses("after_sales_orders_export.csv",  "after-sales", "missing required column 售后单号 (is this a 售后导出 export?)"),
    refuses("after_sales_gb18030_truncated.csv", "after-sales", "ends in the middle of a GB18030 character"),
    rejects("after_sales_bad_times.csv",      "after-sales", 3, "time-order", "bad-timestamp"),
    ok("after_sales_header_only.csv",         "after-sales", 0),
    # -- bill --
    rejects("bill_all_invalid.csv",           "bill", 5, "bad-money", "id-scientific-notation", "missing-value",
            "money-out-of-range"),
    rejects("bill_no_note_row_no_order_id.csv", "bill", 3, "missing-value"),
    ok("bill_no_note_row.csv",                "bill", 3),
    ok("bill_note_only.csv",                  "bill", 0),
    ok("bill_header_only.xlsx",               "bill", 0),
    # -- products --
    ok("products_zip_renamed.csv",            "products", 2),  # read as the zip archive it is
    refuses("products_commissions_export.parquet", "products", "missing required column SKU ID "),
    rejects("products_negative_stock.csv",    "products", 2, "negative-stock"),
    ok("products_huge_cell.csv",              "products", 2),  # written at test time (5 MB)
    # -- costs --
    refuses("costs_empty.csv",                "costs", "the file is empty (0 bytes)"),
    refuses("costs_garbage_text.csv",         "costs", "is neither UTF-8 nor GB18030 text"),
    rejects("costs_missing_key.csv",          "costs", 2, "missing-key"),
    ok("costs_trailing_blank_lines.csv",      "costs", 2),
    ok("costs_multiline_header.csv",          "costs", 2),
    # -- commissions --
    refuses("commissions_duplicate_header.csv", "commissions", "the header '预估佣金支出' appears twice"),
    refuses("commissions_tab_separated.csv",  "commissions", "missing required columns 订单id, 预估佣金支出"),
    ok("commissions_bom_header_only.csv",     "commissions", 0),
]
# fmt: on


def _params() -> list:
    return [
        pytest.param(
            c, id=c.file, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else []
        )
        for c in CASES
    ]


# --- running one file in a sandbox ------------------------------------------------------


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    sandbox: Path
    before: dict[str, tuple]
    after: dict[str, tuple]

    @property
    def out(self) -> Path:
        return self.sandbox / OUT


def _snapshot(root: Path) -> dict[str, tuple]:
    """Every file and folder under `root` except the output root: files with their size,
    mtime and sha256, folders by name."""
    seen: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if rel == Path("."):
            dirnames[:] = [d for d in dirnames if d != OUT]
        for d in dirnames:
            seen[str(rel / d) + "/"] = ("dir",)
        for f in filenames:
            p = Path(dirpath) / f
            st = p.stat()
            seen[str(rel / f)] = (
                st.st_size,
                st.st_mtime_ns,
                hashlib.sha256(p.read_bytes()).hexdigest(),
            )
    return seen


def _place(case: Case, sandbox: Path) -> None:
    if case.file == build.HUGE_CELL:
        build.build_huge_cell(sandbox / case.file)
    else:
        shutil.copy2(CORPUS / case.file, sandbox / case.file)


def run_case(case: Case, tmp_path: Path) -> Result:
    sandbox = tmp_path / "sandbox"
    (sandbox / "tmp").mkdir(parents=True)
    _place(case, sandbox)
    before = _snapshot(sandbox)
    env = {k: v for k, v in os.environ.items() if k != "DOUDIAN_DEBUG"}
    env.update(TMPDIR=str(sandbox / "tmp"), TEMP=str(sandbox / "tmp"), TMP=str(sandbox / "tmp"))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "validate",
            case.kind,
            case.file,
            "--out",
            OUT,
            "--json",
        ],
        cwd=sandbox,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr, sandbox, before, _snapshot(sandbox))


def _read_rejected(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return rows


# --- the corpus through the CLI ----------------------------------------------------------


@pytest.mark.parametrize("case", _params())
def test_bad_input(case: Case, tmp_path: Path) -> None:
    r = run_case(case, tmp_path)
    detail = f"exit {r.code}\nstdout: {r.stdout[:2000]}\nstderr: {r.stderr[:2000]}"

    # No traceback, at most two lines on stderr; the exit code as documented.
    assert "Traceback" not in r.stderr, detail
    assert "internal error" not in r.stderr, detail
    assert r.code == case.exit, detail
    lines = r.stderr.splitlines()
    if case.exit == 1:
        assert 1 <= len(lines) <= 2, detail
        assert lines[0].startswith(f"Error: {case.file}: "), detail
        assert case.expect in lines[0], detail
        if len(lines) == 2:
            assert lines[1].startswith("  hint: "), detail
    else:
        assert lines == [], detail

    # Nothing outside the output root touched; no temporary file left in it.
    assert r.after == r.before, "the sandbox outside the output root changed"
    leftovers = [p for p in r.out.rglob("*") if p.name.startswith(".")] if r.out.exists() else []
    assert leftovers == [], leftovers

    if case.exit == 1:
        written = [p for p in r.out.rglob("*") if p.is_file()] if r.out.exists() else []
        assert written == [], f"partial output on exit 1: {written}"
        return

    summary = json.loads(r.stdout)
    assert summary["rows"] == case.rows, detail
    assert summary["valid"] + summary["rejected"] == summary["rows"]
    [per_file] = summary["files"]
    # a zip archive's member is named archive!member
    assert per_file["file"].partition("!")[0] == case.file
    assert per_file["valid"] + per_file["rejected"] == per_file["rows"] == case.rows
    assert summary["exit_code"] == case.exit

    valid = pl.read_parquet(r.out / "valid" / f"{case.kind}.parquet")
    assert valid.height == summary["valid"]
    assert valid.get_column("source_file").unique().to_list() in ([], [per_file["file"]])

    rejected = _read_rejected(r.out / "rejected" / f"{case.kind}.csv")
    codes = {row["code"] for row in rejected}
    assert codes == set(case.expect), rejected
    assert set(summary["findings"]) == set(case.expect)
    assert {row["file"] for row in rejected} <= {per_file["file"]}
    # one line per finding, so the rejected rows are the distinct row numbers
    assert len({row["row"] for row in rejected}) == summary["rejected"]
    if case.exit == 3:
        assert summary["rejected"] > 0
    else:
        assert summary["rejected"] == 0 and summary["valid"] == case.rows


def test_parquet_utc_times(tmp_path: Path) -> None:
    """The Parquet copy with time-zone-aware UTC datetimes must give the same instants
    as the China-time text (10:15:22 CST), not the UTC wall time read as China time."""
    case = next(c for c in CASES if c.file == "orders_utc_times.parquet")
    r = run_case(case, tmp_path)
    assert r.code == 0, r.stderr
    valid = pl.read_parquet(r.out / "valid" / "orders.parquet").sort("source_row")
    created = [t.strftime("%Y-%m-%d %H:%M:%S%z") for t in valid.get_column("created_at")]
    assert created == [
        "2026-10-03 10:15:22+0800",
        "2026-10-12 21:47:03+0800",
        "2026-10-25 23:59:58+0800",
    ]


def test_exit_1_creates_no_folder(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.file == "costs_empty.csv")
    r = run_case(case, tmp_path)
    assert r.code == 1
    assert not r.out.exists(), sorted(str(p.relative_to(r.sandbox)) for p in r.out.rglob("*"))


# --- the corpus itself -----------------------------------------------------------------


def test_table_covers_the_corpus() -> None:
    """Every committed corpus file (and the huge one written at test time) has exactly
    one expected outcome, and at least 30 files span every kind."""
    files = [c.file for c in CASES]
    assert len(files) == len(set(files))
    committed = sorted(
        p.name for p in CORPUS.iterdir() if p.is_file() and p.name not in ("build.py", "README.md")
    )
    assert committed == build.names()
    assert sorted(files) == sorted([*committed, build.HUGE_CELL])
    assert len(files) >= 30
    assert {c.kind for c in CASES} == {
        "orders",
        "after-sales",
        "bill",
        "products",
        "costs",
        "commissions",
    }


def test_readme_lists_every_file() -> None:
    """tests/bad_inputs/README.md has one table line per file, with its kind and the
    same exit code as CASES."""
    text = (CORPUS / "README.md").read_text(encoding="utf-8")
    listed = {}
    for line in text.splitlines():
        m = re.match(r"^\| `([^`]+)` \| (\S+) \| .* \| exit (\d)", line)
        if m:
            listed[m.group(1)] = (m.group(2), int(m.group(3)))
    assert listed == {c.file: (c.kind, c.exit) for c in CASES}


def test_build_is_byte_stable(tmp_path: Path) -> None:
    """build.py rewrites every committed corpus file byte for byte."""
    out = tmp_path / "build"
    subprocess.run(
        [sys.executable, str(CORPUS / "build.py"), str(out)], check=True, capture_output=True
    )
    built = sorted(p.name for p in out.iterdir())
    assert built == build.names()
    for name in built:
        assert (out / name).read_bytes() == (CORPUS / name).read_bytes(), name


def test_corpus_is_small() -> None:
    total = sum(p.stat().st_size for p in CORPUS.iterdir() if p.is_file())
    assert total < 8 * 1024 * 1024
    assert not (CORPUS / build.HUGE_CELL).exists()


def test_huge_cell_is_huge(tmp_path: Path) -> None:
    """products_huge_cell.csv: row 2's 商品名称 alone is 5 MB of UTF-8."""
    path = build.build_huge_cell(tmp_path / build.HUGE_CELL)
    lines = path.read_bytes().split(b"\r\n")
    header = lines[0].decode("utf-8-sig").split(",")
    title = lines[1].split(b",")[header.index("商品名称")]
    assert len(title) >= 5 * 1000 * 1000 and len(lines) == 4 and lines[3] == b""
