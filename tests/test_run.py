"""`doudian run`: the cron entry. Real subprocesses, killed with SIGKILL at named points
(pipeline/faults.py) and rerun; two runs on one output root; config errors; logs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.demo.generator import generate, shops_config, split_by_shop

REPO = Path(__file__).resolve().parent.parent
ON = "2026-11-01"


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    out = tmp_path_factory.mktemp("exports")
    generate(out, shops=2, orders=6000, seed=11)
    split_by_shop(out)
    return out


def write_config(folder: Path, exports: Path, output: str = "out", extra: str = "") -> Path:
    shops = shops_config(
        exports, ["1000001", "1000002"], REPO / "fixtures" / "price" / "rules.toml"
    )
    path = folder / "pipeline.toml"
    path.write_text(f'output = "{output}"\n{extra}{shops}', encoding="utf-8")
    return path


def doudian_run(config: Path, *args: str, env: dict | None = None, wait: bool = True):
    command = [sys.executable, "-m", "pipeline", "run", "--config", str(config), "--on", ON, *args]
    full_env = {**os.environ, **(env or {})}
    full_env.pop("DOUDIAN_DEBUG", None)
    if not wait:
        return subprocess.Popen(
            command,
            cwd=REPO,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    return subprocess.run(
        command, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=300
    )


def tree(root: Path) -> dict[str, bytes]:
    """Every output file's bytes, except the manifest (it holds timings) and the lock."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in ("manifest.json", ".doudian.lock")
    }


@pytest.fixture(scope="module")
def clean_run(exports, tmp_path_factory):
    folder = tmp_path_factory.mktemp("clean")
    result = doudian_run(write_config(folder, exports))
    return result, tree(folder / "out"), folder / "out"


def test_clean_run_outcomes_and_manifest(clean_run):
    result, files, out = clean_run
    assert result.returncode == 3, result.stderr  # reconcile finds the planted differences
    assert "Traceback" not in result.stderr
    lines = [line.split()[:3] for line in result.stdout.splitlines()[:-1]]
    assert lines == [
        [shop, stage, outcome]
        for shop in ("1000001", "1000002")
        for stage, outcome in (
            ("validate", "ok"), ("settle", "ok"), ("reconcile", "attention"), ("profit", "attention"),
            ("shipping-mode", "ok"), ("price", "attention"), ("check-tiered-shipping", "ok"),
            ("report", "ok"),
        )
    ]  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(manifest) == sorted(
        [
            "tool",
            "version",
            "config",
            "run_date",
            "started_at",
            "seconds",
            "exit_code",
            "stages",
            "shops",
            "inputs",
            "outputs",
        ]
    )
    assert manifest["exit_code"] == 3 and manifest["run_date"] == ON
    assert [(s["shop"], s["worker"]) for s in manifest["shops"]] == [
        ("1000001", "local"), ("1000002", "local"),
    ]  # fmt: skip
    assert all(s["seconds"] > 0 for s in manifest["shops"])
    assert len(manifest["inputs"]) == 12 and all(
        i["rows"] and len(i["sha256"]) == 64 for i in manifest["inputs"]
    )
    listed = {o["path"] for o in manifest["outputs"]}
    assert listed == set(files)
    statement = next(
        o for o in manifest["outputs"] if o["path"] == "1000001/settlement/2026-10-H2/statement.csv"
    )
    summary = json.loads(files["1000001/settlement/2026-10-H2/summary.json"])
    assert statement["rows"] == sum(summary["lines"].values())
    assert {s["stage"] for s in manifest["stages"]} == {
        "validate", "settle", "reconcile", "profit", "shipping-mode", "price",
        "check-tiered-shipping", "report",
    }  # fmt: skip
    assert {
        "1000001/report/2026-10-H2/report.xlsx",
        "1000001/report/2026-10-H2/report.html",
    } <= listed


def test_rerun_is_byte_identical(clean_run, exports, tmp_path):
    _, files, _ = clean_run
    again = doudian_run(write_config(tmp_path, exports))
    assert again.returncode == 3
    assert tree(tmp_path / "out") == files


@pytest.mark.parametrize(
    "point", ["validate-batch", "settle-computed", "before-rename", "after-settle", "after-price"]
)
def test_killed_run_then_rerun_equals_a_clean_run(clean_run, exports, tmp_path, point):
    _, files, _ = clean_run
    config = write_config(tmp_path, exports)
    killed = doudian_run(config, env={"DOUDIAN_FAULT": point})
    assert killed.returncode == -signal.SIGKILL
    out = tmp_path / "out"
    # nothing half-written under a final name: every file there is complete or absent
    for name, data in tree(out).items():
        if not any(part.startswith(".") for part in Path(name).parts):
            assert data == files[name], f"{name} was left half-written"
    rerun = doudian_run(config)
    assert rerun.returncode == 3, rerun.stderr
    assert "took over the lock left by a run that did not finish" in rerun.stderr
    assert tree(out) == files


def test_a_second_run_on_the_same_root_exits_at_once(exports, tmp_path):
    config = write_config(tmp_path, exports)
    first = doudian_run(config, env={"DOUDIAN_PAUSE": "after-validate:30"}, wait=False)
    # its log says when shop 1000001's validation is done: it then pauses 30 s (room for a slow start of the second run), lock held
    while "shop 1000001 validate: ok" not in (line := first.stderr.readline()):
        assert line, "the first run ended before pausing"
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*")}
    second = doudian_run(config)
    assert second.returncode == 75
    assert second.stderr.startswith(
        f"Error: {tmp_path / 'out'}: another doudian run holds the lock (pid {first.pid} on "
    )
    assert "nothing was done" in second.stderr
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*") if p in before} == before
    first.communicate(timeout=300)
    assert first.returncode == 3
    assert (tmp_path / "out" / "manifest.json").is_file()


def test_one_shops_bad_file_does_not_stop_the_others(exports, tmp_path):
    config = write_config(tmp_path, exports)
    text = config.read_text(encoding="utf-8")
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"\x00\x01garbage")
    config.write_text(
        text.replace(str(exports / "1000001" / "orders.csv"), str(broken)), encoding="utf-8"
    )
    result = doudian_run(config)
    assert result.returncode == 1
    rows = {tuple(line.split()[:3]) for line in result.stdout.splitlines()[:-1]}
    assert ("1000001", "validate", "failed") in rows and ("1000001", "settle", "failed") in rows
    assert {(shop, stage, outcome) for shop, stage, outcome in rows if shop == "1000002"} == {
        ("1000002", "validate", "ok"), ("1000002", "settle", "ok"), ("1000002", "reconcile", "attention"),
        ("1000002", "shipping-mode", "ok"), ("1000002", "price", "attention"), ("1000002", "check-tiered-shipping", "ok"),
        ("1000002", "profit", "attention"), ("1000002", "report", "ok"),
    }  # fmt: skip
    # a shop whose settle failed gets no reconciliation, profit or report of an old statement
    assert {row for row in rows if row[0] == "1000001" and row[1] in ("reconcile", "profit", "report")} == {
        ("1000001", "reconcile", "skipped"), ("1000001", "profit", "skipped"), ("1000001", "report", "skipped"),
    }  # fmt: skip
    assert "settle failed: no current statement for 2026-10-H2" in result.stdout
    assert "Traceback" not in result.stderr


def test_a_failed_stage_does_not_pass_off_old_files_as_current(exports, tmp_path):
    config = write_config(tmp_path, exports)
    assert doudian_run(config).returncode == 3
    text = config.read_text(encoding="utf-8")
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"\x00\x01garbage")
    config.write_text(
        text.replace(str(exports / "1000001" / "orders.csv"), str(broken)), encoding="utf-8"
    )
    assert doudian_run(config).returncode == 1
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    current = {o["path"] for o in manifest["outputs"]}
    stale = {o["path"]: o["why"] for o in manifest["stale_outputs"]}
    # shop 1000001's files from the first run: its settle, shipping and report failed or
    # did not run, so they are listed apart, never as this run's
    assert "1000001/shipping_mode/upload.xlsx" in stale
    assert stale["1000001/settlement/2026-10-H2/statement.csv"] == (
        "left by an earlier run: settle failed"
    )
    assert stale["1000001/reconciliation/2026-10-H2/summary.json"] == (
        "left by an earlier run: reconcile did not run"
    )
    assert not any(p.startswith("1000001/") and not p.startswith("1000001/ledger") and
                   not p.startswith("1000001/price") for p in current)  # fmt: skip
    assert "1000002/shipping_mode/upload.xlsx" in current


def test_json_logs(exports, tmp_path):
    config = write_config(tmp_path, exports, extra='stages = ["validate"]\n')
    result = doudian_run(config, "--log-format", "json")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(r["level"], r["shop"], r["stage"]) for r in records] == [
        ("info", None, None), ("info", "1000001", "validate"), ("info", "1000001", None),
        ("info", "1000002", "validate"), ("info", "1000002", None),
    ]  # fmt: skip
    assert records[2]["message"] == "done by local" and records[2]["seconds"] >= 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'output = "out"\nshop = 1\n',
            "unknown key 'shop' (known: encoding, engine, output, policy, scheduler, shops, stages, workers)",
        ),
        ('output = "out"\n', "at least one [[shops]] table is required"),
        (
            'output = "out"\nstages = ["settle", "pay"]\n[[shops]]\nid = "1"\n',
            "unknown stage 'pay'",
        ),
        (
            'output = "out"\n[[shops]]\nid = "../x"\n',
            "shop 1: 'id' must be a shop ID of letters, digits, - or _",
        ),
        (  # a leading - reads as a formula in a spreadsheet
            'output = "out"\n[[shops]]\nid = "-A1"\n',
            "shop 1: 'id' must be a shop ID of letters, digits, - or _, starting with a letter",
        ),
        (  # a trailing line break is not part of an ID
            'output = "out"\n[[shops]]\nid = "1000001\\n"\n',
            "shop 1: 'id' must be a shop ID of letters, digits, - or _",
        ),
        (
            'output = "out"\n[[shops]]\nid = "1"\norders = 5\n',
            "shop 1 (1): 'orders' must be a path or a list of paths",
        ),
        (
            'output = "out"\n[[shops]]\nid = "1"\norder = "a.csv"\n',
            "shop 1 (1): unknown key 'order'",
        ),
        ("output = [", "not a valid TOML file"),
    ],
)
def test_config_errors_exit_2_naming_the_key(tmp_path, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text, encoding="utf-8")
    result = doudian_run(config)
    assert result.returncode == 2
    assert result.stderr.startswith(f"Error: --config {config}: ") and message in result.stderr
    assert not (tmp_path / "out").exists()


# --- the output root's lock on every writing command, and clean-up of what is ours -----

HOLD = """import sys, time
from pathlib import Path
from pipeline.orchestrate.locking import output_lock
with output_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def _settle_args(exports: Path, out: Path) -> list[str]:
    e = exports / "1000001"
    return ["settle", "--period", "2026-10-H2", "--out", str(out), "--orders", str(e / "orders.csv"),
            "--after-sales", str(e / "after_sales.csv"), "--products", str(e / "products.csv")]  # fmt: skip


def test_every_writing_command_exits_75_while_another_holds_the_root(doudian, exports, tmp_path):
    out = tmp_path / "out"
    e = exports / "1000001"
    assert doudian(*_settle_args(exports, out)).exit_code == 0
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], cwd=REPO, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline() == "held\n"
        commands = {
            "settle": _settle_args(exports, out),
            "reconcile": ["reconcile", "--statement", str(out / "settlement" / "2026-10-H2"), "--bill", str(e / "bill.csv"), "--out", str(out)],
            "price": ["price", "--rules", str(REPO / "fixtures" / "price" / "rules.toml"), "--products", str(e / "products.csv"), "--costs", str(e / "costs.csv"), "--out", str(out)],
            "shipping-mode": ["shipping-mode", "--as-of", ON, "--products", str(e / "products.csv"), "--orders", str(e / "orders.csv"), "--out", str(out)],
        }  # fmt: skip
        for name, args in commands.items():
            run = doudian(*args)
            assert run.exit_code == 75, (name, run.stderr)
            assert run.stderr.startswith(
                f"Error: {out}: another doudian run holds the lock (pid {holder.pid} on "
            ), name
            assert run.stderr.endswith(
                "; nothing was done\n  hint: wait for it to finish; a lock whose holder has died is taken over by the next run\n"
            )
        assert not (out / "reconciliation").exists() and not (out / "price").exists()
        assert not (out / "shipping_mode").exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_run_or_a_second_settle_exits_75_while_a_settle_works(exports, tmp_path):
    """A manual settle into a shop's folder of a run's output: a second settle there,
    and a `doudian run` over the whole output, exit 75 at once and leave its staging
    folder alone; the settle then finishes."""
    root = tmp_path / "out"
    shop = root / "1000001"
    env = {**os.environ, "DOUDIAN_PAUSE": "settle-computed:15"}
    env.pop("DOUDIAN_DEBUG", None)
    first = subprocess.Popen(
        [sys.executable, "-m", "pipeline", *_settle_args(exports, shop)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    folder = shop / "settlement" / "2026-10-H2"
    while not list(folder.glob(".settle-*/lines-*.parquet")):
        assert first.poll() is None, first.communicate()
    scratch = sorted(folder.glob(".*"))
    second = subprocess.run(
        [sys.executable, "-m", "pipeline", *_settle_args(exports, shop)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert second.returncode == 75
    assert second.stderr.startswith(f"Error: {shop}: another doudian run holds the lock (pid {first.pid} on ")  # fmt: skip
    run = doudian_run(write_config(tmp_path, exports))
    assert run.returncode == 75, run.stderr
    assert run.stderr.startswith(
        f"Error: {root}: another doudian run holds the lock of {shop} (pid {first.pid} on "
    )
    assert sorted(folder.glob(".*")) == scratch and all(p.exists() for p in scratch)
    first.communicate(timeout=120)
    assert first.returncode == 0
    assert (folder / "summary.json").is_file() and not (root / "manifest.json").exists()


def test_clean_up_removes_only_what_this_tool_left(doudian, tmp_path):
    """The user's dot-files that look like temporary names survive `doudian run`; the
    marked scratch folder and the temporary file a killed command left are removed, and
    a marked folder still in use is not."""
    from pipeline.orchestrate.locking import SCRATCH_MARK, clear_leftovers, in_use

    out = tmp_path / "out"
    mine = [out / ".staging-x" / "notes.txt", out / ".foo.tmp", out / ".settle-old" / "a.csv",
            out / "1000001" / ".validate-y", out / "1000001" / ".statement.csv.abc.tmp"]  # fmt: skip
    for path in mine:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("the user's", encoding="utf-8")
    left = out / "1000001" / "settlement" / "2026-10-H2" / ".settle-k1ll3d"
    left.mkdir(parents=True)
    (left / SCRATCH_MARK).write_text("", encoding="utf-8")
    (left / "lines-000000.parquet").write_bytes(b"PAR1")
    tmp_file = out / "1000001" / ".summary.json.x1y2.doudian-tmp"
    tmp_file.write_text("{", encoding="utf-8")
    config = tmp_path / "pipeline.toml"
    config.write_text(
        f'output = "out"\nstages = ["validate"]\n[[shops]]\nid = "1000001"\n'
        f'orders = "{REPO / "fixtures" / "orders_utf8_bom.csv"}"\n',
        encoding="utf-8",
    )
    run = doudian("run", "--config", str(config), "--on", ON)
    assert run.exit_code == 0, run.stderr
    assert "removed 2 temporary file(s) left by a run that did not finish" in run.stderr
    assert not left.exists() and not tmp_file.exists()
    assert all(p.read_text(encoding="utf-8") == "the user's" for p in mine)
    busy = out / ".validate-busy"
    busy.mkdir()
    (busy / SCRATCH_MARK).write_text("", encoding="utf-8")
    with in_use(busy / SCRATCH_MARK):
        assert clear_leftovers(out) == 0
    assert clear_leftovers(out) == 1 and not busy.exists()


@pytest.mark.parametrize("command", ["settle", "price", "shipping-mode"])
def test_an_output_root_holding_an_input_is_refused_before_writing(doudian, tmp_path, command):
    exports = tmp_path / "exports"
    exports.mkdir()
    for name in ("orders_utf8_bom.csv", "products.csv"):
        shutil.copy(REPO / "fixtures" / name, exports / name)
    orders, products = exports / "orders_utf8_bom.csv", exports / "products.csv"
    args = {
        "settle": ["settle", "--period", "2026-10-H2", "--orders", str(orders), "--out", str(tmp_path)],
        "price": ["price", "--rules", str(REPO / "fixtures" / "price" / "rules_no_blocks.toml"), "--products", str(products), "--out", str(exports)],
        "shipping-mode": ["shipping-mode", "--as-of", ON, "--products", str(products), "--orders", str(orders), "--out", str(exports)],
    }  # fmt: skip
    run = doudian(*args[command])
    out = Path(args[command][args[command].index("--out") + 1])
    shown = orders if command == "settle" else products
    assert (run.exit_code, run.stderr) == (
        2,
        f"Error: --out {out} holds the input file {shown}: the output folder must be outside "
        "the folders of the exports\n",
    )
    assert sorted(p.name for p in exports.iterdir()) == ["orders_utf8_bom.csv", "products.csv"]
