"""Hostile and odd inputs through the real CLI (`doudian validate`): files that are not
regular files, names that are not UTF-8, zip archives, a sheet with a far cell, blank
lines by the hundred thousand, Excel re-saves, formula-like cells in the files people
open, the umask, and writes that fail (full disk, read-only folder, unreadable input).
Each test asserts the exact exit code and message."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.read import archive

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
REPO = CORPUS.parents[1]
CN = ZoneInfo("Asia/Shanghai")
_spec = importlib.util.spec_from_file_location("bad_inputs_build", CORPUS / "build.py")
assert _spec and _spec.loader
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


@pytest.fixture
def validate(tmp_path, monkeypatch):
    """`validate(kind, *files)` runs `doudian validate KIND FILES --out out --json` in
    `tmp_path` (file names as given, relative): (exit code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DOUDIAN_DEBUG", raising=False)

    def run(kind: str, *files: str, out: str = "out") -> tuple[int, str, str]:
        result = CliRunner().invoke(main, ["validate", kind, *files, "--out", out, "--json"])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr

    return run


def three_orders() -> bytes:
    return build.export(build.ORDER_HEADER, [build.order(0), build.order(1), build.order(2)])


def findings_csv(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def import_json(text: str) -> dict:
    import json

    return json.loads(text)


# --- not regular files, odd names ---------------------------------------------------------


def test_fifo_device_and_folder_refused_by_name(tmp_path: Path) -> None:
    """Refused from `os.stat` alone: a FIFO is never opened (that would hang), nor is
    /dev/zero behind a link (that would read for ever). A subprocess, so that a hang
    fails the test instead of stopping the suite."""
    os.mkfifo(tmp_path / "orders.csv")
    (tmp_path / "zero.csv").symlink_to("/dev/zero")
    (tmp_path / "folder.csv").mkdir()
    expected = {
        "orders.csv": "Error: orders.csv: is a FIFO (named pipe), not a file",
        "zero.csv": "Error: zero.csv: is a device, not a file",
        "folder.csv": "Error: folder.csv: is a folder, not a file",
    }
    for name, message in expected.items():
        proc = subprocess.run(
            [sys.executable, "-m", "pipeline", "validate", "orders", name, "--out", "out"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.splitlines() == [message, "  hint: give the path of an export file"]
    assert not (tmp_path / "out").exists()


GBK_NAME = "订单.csv".encode("gbk")  # what unzip leaves of a name made on Chinese Windows
ESCAPED = r"\xb6\xa9\xb5\xa5.csv"


def test_name_that_is_not_utf8_is_escaped_and_works(validate, tmp_path: Path) -> None:
    rows = [build.order(0), build.order(1, 订单应付金额="abc"), build.order(2)]
    (tmp_path / os.fsdecode(GBK_NAME)).write_bytes(build.export(build.ORDER_HEADER, rows))
    code, out, err = validate("orders", os.fsdecode(GBK_NAME))
    assert (code, err) == (3, "")
    summary = import_json(out)
    assert [f["file"] for f in summary["files"]] == [ESCAPED]
    assert (summary["rows"], summary["valid"], summary["rejected"]) == (3, 2, 1)
    rejected = findings_csv(tmp_path / "out" / "rejected" / "orders.csv")
    assert [r[:5] for r in rejected[1:]] == [[ESCAPED, "3", "订单应付金额", "abc", "bad-money"]]
    valid = pl.read_parquet(tmp_path / "out" / "valid" / "orders.parquet")
    assert valid.get_column("source_file").unique().to_list() == [ESCAPED]


@pytest.mark.parametrize("corpus_file", ["orders_serial_times.xlsx", "orders_float_ids.parquet"])
def test_workbook_and_parquet_with_a_name_that_is_not_utf8(validate, tmp_path, corpus_file):
    """A library written in Rust cannot take such a name; the file is given to it
    through its descriptor."""
    name = os.fsdecode("订单".encode("gbk") + Path(corpus_file).suffix.encode())
    shutil.copy(CORPUS / corpus_file, tmp_path / name)
    code, out, err = validate("orders", name)
    assert err == "" and code in (0, 3)
    assert import_json(out)["files"][0]["file"] == r"\xb6\xa9\xb5\xa5" + Path(corpus_file).suffix
    assert import_json(out)["rows"] == 3


def test_unreadable_input_exits_1(tmp_path: Path) -> None:
    """Permission denied on the input: exit 1 (a file that cannot be used), naming it.
    Run as another user (nobody) when the suite runs as root, who may read anything."""
    sandbox = _shared_sandbox()
    try:
        (sandbox / "orders.csv").write_bytes(three_orders())
        (sandbox / "orders.csv").chmod(0)
        proc = _run_unprivileged(["validate", "orders", "orders.csv", "--out", "out"], sandbox)
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.splitlines() == ["Error: orders.csv: cannot be read (permission denied)"]
    finally:
        shutil.rmtree(sandbox)


def test_read_only_output_folder_exits_1(tmp_path: Path) -> None:
    sandbox = _shared_sandbox()
    try:
        (sandbox / "orders.csv").write_bytes(three_orders())
        (sandbox / "out").mkdir()
        (sandbox / "out").chmod(0o555)
        proc = _run_unprivileged(["validate", "orders", "orders.csv", "--out", "out"], sandbox)
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.splitlines() == ["Error: permission denied writing out/valid"]
        assert list((sandbox / "out").iterdir()) == []
    finally:
        shutil.rmtree(sandbox)


def _shared_sandbox() -> Path:
    """A folder another user may work in (pytest's tmp_path is its owner's only)."""
    sandbox = Path(tempfile.mkdtemp(prefix="doudian-perm-", dir="/tmp"))
    sandbox.chmod(0o777)
    return sandbox


def _run_unprivileged(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m pipeline ARGS` in `cwd`; as the user nobody (setpriv) when run as
    root."""
    command = [sys.executable, "-m", "pipeline", *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: permissions cannot be tried")
        command = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    env = {k: v for k, v in os.environ.items() if k != "DOUDIAN_DEBUG"}
    env.update(PYTHONPATH=str(REPO), TMPDIR=str(cwd), HOME=str(cwd))
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


# --- workbooks ----------------------------------------------------------------------------


def test_far_cell_refused_before_the_sheet_is_loaded(validate, tmp_path: Path) -> None:
    """2.6 KB with a cell at XFD1048576: the XLSX library would ask for 512 GiB. The
    sheet's XML is read first and the file refused, at once."""
    shutil.copy(CORPUS / "orders_far_cell.xlsx", tmp_path)
    assert (tmp_path / "orders_far_cell.xlsx").stat().st_size < 3000
    started = time.perf_counter()
    code, _, err = validate("orders", "orders_far_cell.xlsx")
    assert time.perf_counter() - started < 1.0
    assert code == 1
    assert err.splitlines() == [
        "Error: orders_far_cell.xlsx: sheet '订单' reaches row 1,048,576 and column XFD "
        "(17,179,869,184 cells) but holds only 96: a stray cell far from the data",
        "  hint: delete the rows and columns past the data in Excel and save again",
    ]


def test_hidden_first_sheet_is_not_read(validate, tmp_path: Path) -> None:
    shutil.copy(CORPUS / "orders_hidden_first_sheet.xlsx", tmp_path)
    assert validate("orders", "orders_hidden_first_sheet.xlsx")[0] == 0
    valid = pl.read_parquet(tmp_path / "out" / "valid" / "orders.parquet")
    assert valid.get_column("sub_order_id").to_list() == [
        "6938812345678901232",
        "6938820011223344552",
        "6938845566778899002",
    ]
    # named, the hidden sheet is read
    code, out, _ = validate("orders", "orders_hidden_first_sheet.xlsx", "--sheet", "旧数据")
    assert (code, import_json(out)["rows"]) == (0, 2)


def test_serial_numbers_are_times_only_in_workbook_number_cells(validate, tmp_path) -> None:
    shutil.copy(CORPUS / "orders_serial_times.xlsx", tmp_path)
    assert validate("orders", "orders_serial_times.xlsx")[0] == 0
    valid = pl.read_parquet(tmp_path / "out" / "valid" / "orders.parquet")
    assert valid.row(0, named=True)["created_at"] == dt.datetime(2026, 10, 3, 10, 15, 22, tzinfo=CN)
    assert valid.row(0, named=True)["paid_at"] == dt.datetime(2026, 10, 3, 10, 15, 40, tzinfo=CN)
    shutil.copy(CORPUS / "orders_bad_time_values.csv", tmp_path)
    assert validate("orders", "orders_bad_time_values.csv", out="csv")[0] == 3
    rejected = findings_csv(tmp_path / "csv" / "rejected" / "orders.csv")
    assert [r[1:5] for r in rejected[1:]] == [
        ["2", "订单完成时间", "2026-10-15 23:59:60", "bad-timestamp"],
        ["3", "订单提交时间", "0000-01-01 10:00:00", "bad-timestamp"],
        ["3", "支付完成时间", "0000-01-01 10:01:00", "bad-timestamp"],
        ["4", "发货时间", "46300", "bad-timestamp"],
    ]


def test_zero_width_space_in_a_header_still_reads_the_column(validate, tmp_path) -> None:
    shutil.copy(CORPUS / "orders_zero_width_header.csv", tmp_path)
    assert validate("orders", "orders_zero_width_header.csv")[0] == 0
    valid = pl.read_parquet(tmp_path / "out" / "valid" / "orders.parquet")
    assert valid.get_column("freight").to_list() == [0, 800, 600]


# --- Excel re-saves, long notes, blank lines ------------------------------------------------


def test_times_without_seconds_warned_once_per_file(validate, tmp_path: Path) -> None:
    shutil.copy(CORPUS / "orders_excel_resave.csv", tmp_path)
    code, out, err = validate("orders", "orders_excel_resave.csv")
    assert (code, err) == (0, "")
    summary = import_json(out)
    assert summary["warnings"] == {"time-without-seconds": 3}
    assert summary["files"][0]["warnings"] == {"time-without-seconds": 3}
    warnings = findings_csv(tmp_path / "out" / "warnings" / "orders.csv")
    assert warnings[1:] == [
        [
            "orders_excel_resave.csv",
            "2",
            "订单提交时间, 支付完成时间",
            "2026/10/3 10:15",
            "time-without-seconds",
            "订单提交时间, 支付完成时间: 3 times in this file have no seconds (a file "
            "re-saved by Excel?); they are read as :00",
        ]
    ]
    valid = pl.read_parquet(tmp_path / "out" / "valid" / "orders.parquet")
    assert valid.row(0, named=True)["created_at"] == dt.datetime(2026, 10, 3, 10, 15, tzinfo=CN)


def test_quoted_note_with_many_commas_is_a_valid_row(validate, tmp_path: Path) -> None:
    shutil.copy(CORPUS / "orders_long_quoted_note.csv", tmp_path)
    data = (tmp_path / "orders_long_quoted_note.csv").read_bytes().decode("utf-8-sig")
    assert '"送人的,包装好,一,二,三,四,五,六,七,八,九,十,十一,谢谢\r\n第二行"' in data
    code, out, _ = validate("orders", "orders_long_quoted_note.csv")
    assert (code, import_json(out)["valid"]) == (0, 3)


BLANK_LINES = 100_000  # 200 KB of CRLF


def test_blank_lines_amid_the_data_are_listed_up_to_the_cap(validate, tmp_path) -> None:
    """100,000 blank lines between two orders: each is a rejected row (the counts match
    the file), but rejected/orders.csv lists 10,000 rows and one line for the rest."""
    head = three_orders()
    last = build.csv_text([[build.order(0, 99)[h] for h in build.ORDER_HEADER]])
    (tmp_path / "orders.csv").write_bytes(head + b"\r\n" * BLANK_LINES + last.encode())
    code, out, _ = validate("orders", "orders.csv")
    summary = import_json(out)
    assert code == 3
    assert (summary["rows"], summary["valid"], summary["rejected"]) == (100_004, 4, 100_000)
    per_row = summary["findings"]["missing-value"] // BLANK_LINES
    assert summary["findings"] == {"missing-value": per_row * BLANK_LINES}
    path = tmp_path / "out" / "rejected" / "orders.csv"
    lines = findings_csv(path)[1:]
    assert path.stat().st_size < 10_000_000  # all 100,000 rows would take 63 MB
    listed = [r for r in lines if r[4] == "missing-value"]
    assert len({r[1] for r in listed}) == 10_000 and len(listed) == 10_000 * per_row
    assert {int(r[1]) for r in listed} == set(range(5, 10_005))
    assert lines[-1] == [
        "orders.csv",
        "",
        "",
        "",
        "not-listed",
        f"90,000 more rejected rows ({90_000 * per_row:,} lines) are not listed: at most "
        "10,000 rows of a file are listed in a findings file; the counts in the summary "
        "include every row",
    ]
    assert len(lines) == len(listed) + 1


# --- zip archives ---------------------------------------------------------------------------


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_zip_of_csv_and_xlsx_is_read_in_name_order(validate, tmp_path: Path) -> None:
    bad = build.export(build.ORDER_HEADER, [build.order(0, 1, 订单应付金额="abc")])
    xlsx = (CORPUS / "orders_serial_times.xlsx").read_bytes()
    _zip(tmp_path / "export.zip", {"b.csv": bad, "folder/": b"", "a.xlsx": xlsx})
    code, out, err = validate("orders", "export.zip")
    assert (code, err) == (3, "")
    summary = import_json(out)
    assert [(f["file"], f["format"], f["rows"]) for f in summary["files"]] == [
        ("export.zip!a.xlsx", "xlsx", 3),
        ("export.zip!b.csv", "csv", 1),
    ]
    rejected = findings_csv(tmp_path / "out" / "rejected" / "orders.csv")
    assert [r[:5] for r in rejected[1:]] == [
        ["export.zip!b.csv", "2", "订单应付金额", "abc", "bad-money"]
    ]
    valid = pl.read_parquet(tmp_path / "out" / "valid" / "orders.parquet")
    assert valid.get_column("source_file").unique(maintain_order=True).to_list() == [
        "export.zip!a.xlsx"
    ]


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"a.csv": b"x", "readme.txt": b"hello"}, "export.zip!readme.txt: is neither CSV nor XLSX: only CSV and XLSX files are read from a zip"),
        ({"inner.zip": b"PK\x03\x04"}, "export.zip!inner.zip: is a zip inside the zip archive: unpack it first"),
        ({"inner.csv": "zip"}, "export.zip!inner.csv: is a zip inside the zip archive: unpack it first"),
        ({"folder/": b""}, "export.zip: the zip archive holds no file"),
    ],
)  # fmt: skip
def test_zip_holding_other_files_refused(validate, tmp_path, members, message) -> None:
    if members.get("inner.csv") == "zip":
        members = {"inner.csv": (CORPUS / "products_zip_renamed.csv").read_bytes()}
    _zip(tmp_path / "export.zip", members)
    code, _, err = validate("orders", "export.zip")
    assert code == 1
    assert err.splitlines()[0] == f"Error: {message}"
    assert not (tmp_path / "out").exists()


def test_zip_bomb_refused(validate, tmp_path: Path, monkeypatch) -> None:
    """Members that would unpack to more than BOMB_BYTES and more than BOMB_RATIO times
    the archive (1 GiB and 100 times; a smaller bound here, with the same rule)."""
    assert (archive.BOMB_BYTES, archive.BOMB_RATIO) == (1 << 30, 100)
    monkeypatch.setattr(archive, "BOMB_BYTES", 1 << 20)
    _zip(tmp_path / "export.zip", {"orders.csv": three_orders() + b"\r\n" * (1 << 20)})
    size = (tmp_path / "export.zip").stat().st_size
    total = len(three_orders()) + (2 << 20)
    code, _, err = validate("orders", "export.zip")
    assert code == 1
    assert err.splitlines()[0] == (
        f"Error: export.zip: the zip archive would unpack to {total:,} bytes from {size:,} "
        f"({total // size:,} times its size): refused as a zip bomb"
    )


def test_member_names_written_in_gbk_are_read_as_chinese() -> None:
    info = zipfile.ZipInfo("订单.csv".encode("gbk").decode("cp437"))
    assert archive.member_name(info) == "订单.csv"


# --- outputs for people, modes, failed writes ---------------------------------------------

FORMULA_LIKE = re.compile(r"^[ \t\r]*[=+\-@＝＋－＠]")
NUMBER = re.compile(r"^[+-]?[0-9][0-9,]*(\.[0-9]+)?$")
HOSTILE = [
    ("订单应付金额", '=HYPERLINK("http://x","y")'),
    ("运费", "+cmd|' /C calc'!A0"),
    ("支付优惠", "@SUM(1+1)"),
    ("商品单价", "\t=1+1"),
    ("达人实际承担优惠金额", "\r=1+1"),
    ("平台实际承担优惠金额", "  =1+1"),
    ("商品数量", "＝1+1"),
    ("商品ID", "-A1"),
    ("订单提交时间", "＠A1"),
]


def test_no_formula_reaches_a_file_people_open(validate, tmp_path: Path) -> None:
    """Every cell of every CSV that validate writes for people (rejected, warnings)
    either is a plain number or does not start like a formula; -12.50 stays a number."""
    rows = [build.order(0, i, **{column: value}) for i, (column, value) in enumerate(HOSTILE)]
    rows.append(build.order(1, 50, 订单应付金额="-12.50"))
    name = "=orders.csv"
    (tmp_path / name).write_bytes(build.export(build.ORDER_HEADER, rows))
    code, out, _ = validate("orders", name)
    assert code == 3 and import_json(out)["rejected"] == len(rows)
    cells = []
    for path in sorted((tmp_path / "out").rglob("*.csv")):
        for line in findings_csv(path)[1:]:
            cells += line
    assert "-12.50" in cells and "'=orders.csv" in cells
    risky = [c for c in cells if FORMULA_LIKE.match(c) and not NUMBER.match(c)]
    assert risky == []
    values = {line[3] for line in findings_csv(tmp_path / "out" / "rejected" / "orders.csv")[1:]}
    assert {"'" + v for _, v in HOSTILE} <= values
    # the platform's tab before an ID is no formula: kept as it is
    twice = [build.order(0), build.order(0)]  # the second copy is a duplicate
    (tmp_path / "ids.csv").write_bytes(build.export(build.ORDER_HEADER, twice))
    assert validate("orders", "ids.csv", out="ids")[0] == 3
    rejected = findings_csv(tmp_path / "ids" / "rejected" / "orders.csv")
    assert [r[3:5] for r in rejected[1:]] == [["\t6938812345678901232", "duplicate-sub-order"]]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_outputs_respect_the_umask(validate, tmp_path: Path, umask: int, mode: int) -> None:
    (tmp_path / "orders.csv").write_bytes(three_orders())
    old = os.umask(umask)
    try:
        assert validate("orders", "orders.csv")[0] == 0
    finally:
        os.umask(old)
    files = sorted(p for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert len(files) == 3
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {mode}


def test_full_disk_is_named(validate, tmp_path: Path, monkeypatch) -> None:
    """Every temporary output file is a link to /dev/full: the real write fails with
    ENOSPC, and the message says so, naming the output (exit 1, no internal error)."""
    import pipeline.write.files as write

    def full(final: Path) -> Path:
        link = final.parent / f".{final.name}.full.tmp"
        link.symlink_to("/dev/full")
        return link

    monkeypatch.setattr(write, "_temporary_beside", full)
    (tmp_path / "orders.csv").write_bytes(three_orders())
    code, _, err = validate("orders", "orders.csv")
    assert code == 1
    assert err.splitlines() == ["Error: no space left on device writing out/valid/orders.parquet"]
    assert [p for p in (tmp_path / "out").rglob("*") if p.is_file() or p.is_symlink()] == []


def test_not_listed_is_in_the_catalogue() -> None:
    from pipeline.validation.findings import CODES
    from pipeline.validation.listing import LISTED_ROWS, NO_SECONDS, NOT_LISTED

    assert LISTED_ROWS == 10_000
    assert CODES[NOT_LISTED][0] == "note" and CODES[NO_SECONDS][0] == "warning"


def test_a_bytes_path_is_read_and_named_escaped(tmp_path: Path) -> None:
    from pipeline.read.exports import open_exports
    from schemas import KINDS

    path = os.fsencode(tmp_path) + b"/" + GBK_NAME
    with open(path, "wb") as fh:
        fh.write(three_orders())
    [raw] = open_exports(KINDS["orders"].spec, path)
    assert raw.path == f"{tmp_path}/{ESCAPED}"
    with raw.scan(tmp_path, {}) as cells:
        assert cells.select(pl.len()).collect().item() == 3
