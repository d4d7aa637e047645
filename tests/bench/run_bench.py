"""`make bench`: doudian against DuckDB, pandas and a polars floor, side by side.

    python -m tests.bench.run_bench --rows 10000000 --repeat 3 --dir bench
    python -m tests.bench.run_bench --rows 200000 --only settle,duckdb

1. Data: `doudian fixtures --format both` writes the exports (CSV with the real headers
   and quirks, and the same text cells as Parquet) into DIR/data/r{rows}-s{seed}-k{shops}/;
   a rerun with the same rows, seed and shops reuses them. Also cached there: a GB18030
   copy of orders.csv, the canonical typed order frame (for pandera against polars) and
   the reference summary.json of `doudian settle` for the period (the check's answer).
   The period is the one with the most sales in the data (`--period` to choose).
2. Jobs (`--only` picks some, by name or NAME/FORMAT glob; see JOBS), each run as a
   child process `--repeat` times, round-robin so that a noisy neighbour hurts all of
   them alike. Wall time is measured around the child; peak RSS and CPU time are the
   child's own (`os.wait4`). For the two check-only jobs the time is the check's, as the
   child reports it (reading the frame is not counted). The first run of every
   settlement is checked against the reference summary (line counts per type, income,
   freight, platform_fee, commission and net totals, excluded counts per reason,
   overall and per shop): a difference stops the bench with exit 1.
   The close job (`close/csv`) times `doudian reconcile` with the bill, bill_refunds,
   fund_flow and account_flow CSVs. The generator writes the flows of one settlement
   cycle (from the last 1st or 16th before the export day), so the close reconciles the
   period settling on that day (2026-10-H1 with the generator's defaults), whatever the
   bench's period; its statement is written once by an untimed `doudian settle` from
   Parquet and cached in the data folder (close/settlement/PERIOD).
   The cells job (`cells/csv`, `tests/bench/cells_floor.py`) is the floor of checking
   every cell: the orders' cells read as text and canonicalized as doudian does, no
   rule, no finding, no output.
   The run job (`run/csv`) times `doudian run` over RUN_SHOPS shops' own exports
   (`--run-rows` order rows in all, generated once into DIR/run/), every stage on RUN_DAY.
   A run's outputs are deleted after it (the checked summary.json is kept in
   DIR/runs/logs/ with every run's stdout and stderr), so the disk stays bounded.
3. Output: DIR/results.json, and a Markdown table with the machine, the library
   versions and the issue's targets. DIR/results-{rows}.json keeps every job measured
   at that many rows: this run's, and from earlier runs the jobs this one did not run
   (each with the time it was measured), so that a run of some jobs only does not lose
   the others for the scaling check.
"""

from __future__ import annotations

import argparse
import codecs
import datetime as dt
import fnmatch
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
DOUDIAN = [PY, "-m", "pipeline"]
POLICY = REPO / "pipeline" / "policies" / "default" / "settlement.toml"
MIB = 1024 * 1024
#: pandas falls back to a data set of this many rows when the full one does not fit
PANDAS_FALLBACK_ROWS = 2_000_000
SUMMARY_KEYS = ("lines", "excluded", "totals", "per_shop")
SETTLE_FILES = ("orders", "after_sales", "products", "commissions")


# ============================================================================= jobs


@dataclass(frozen=True)
class Job:
    name: str  # settle, duckdb, pandas, floor, cells, validate, pandera, polars-checks
    format: str  # csv, parquet, gb18030, typed
    label: str
    settles: bool  # writes a summary.json to check
    default: bool = True

    @property
    def key(self) -> str:
        return f"{self.name}/{self.format}"


JOBS = (
    Job("settle", "csv", "doudian settle", True),
    Job("settle", "parquet", "doudian settle", True),
    Job("duckdb", "csv", "DuckDB query", True),
    Job("duckdb", "parquet", "DuckDB query", True),
    Job("pandas", "csv", "pandas (chunked)", True),
    Job("floor", "csv", "polars floor", True),
    Job("floor", "parquet", "polars floor", True),
    Job("cells", "csv", "every cell canonicalized", False),
    Job("validate", "csv", "doudian validate orders", False),
    Job("validate", "gb18030", "doudian validate orders", False),
    Job("validate", "parquet", "doudian validate orders", False, default=False),
    Job("pandera", "typed", "pandera Orders.validate", False),
    Job("polars-checks", "typed", "same checks in polars", False),
    Job("close", "csv", "doudian reconcile (close)", False),
    Job("run", "csv", "doudian run, 50 shops", False),
)
#: `doudian run` (the `run` job): shops, and order rows in all, of its per-shop exports
RUN_SHOPS = 50
RUN_DAY = "2026-11-01"  # a settlement day: every stage runs
#: the finance close's inputs beside the statement: the bill's two files and the flows
CLOSE_FILES = (("--bill", "bill"), ("--bill", "bill_refunds"), ("--fund-flow", "fund_flow"),
               ("--account-flow", "account_flow"))  # fmt: skip


def code_version() -> dict[str, Any]:
    """The code being measured: git commit and uncommitted changes to pipeline/ and
    schemas/ (or $BENCH_CODE_VERSION outside a git checkout), and a fingerprint of the
    source files' modification times, to notice an edit during the run."""
    sources = sorted([*REPO.glob("pipeline/**/*.py"), *REPO.glob("schemas/*.py")])
    info: dict[str, Any] = {"mtime": max((p.stat().st_mtime for p in sources), default=0.0)}
    try:
        git = ["git", "-C", str(REPO)]
        info["commit"] = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            [*git, "status", "--porcelain", "--", "pipeline", "schemas"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        info["uncommitted"] = [line[3:] for line in status.splitlines()]
    except (OSError, subprocess.CalledProcessError):
        info["commit"] = os.environ.get("BENCH_CODE_VERSION", "unknown (not a git checkout)")
    return info


def select_jobs(only: str | None) -> list[Job]:
    if not only:
        return [j for j in JOBS if j.default]
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    chosen = [
        j for j in JOBS if any(p == j.name or fnmatch.fnmatchcase(j.key, p) for p in patterns)
    ]
    if not chosen:
        known = ", ".join(j.key for j in JOBS)
        raise SystemExit(f"--only {only!r} matches no job (jobs: {known})")
    return chosen


# ============================================================================= children


@dataclass
class Run:
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    exit_code: int
    load1: float
    stdout: str = ""
    stderr: str = ""


def run_child(argv: list[str], *, log: Path, timeout: float) -> Run:
    """Run argv from the repository root; wall time around it, peak RSS and CPU time
    from the child's own rusage (os.wait4), so each run is measured alone."""
    log.parent.mkdir(parents=True, exist_ok=True)
    load1 = os.getloadavg()[0]
    out_path, err_path = log.with_suffix(".out"), log.with_suffix(".err")
    with open(out_path, "w") as out, open(err_path, "w") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=err)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting again
    return Run(
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mib=usage.ru_maxrss * 1024 / MIB,  # ru_maxrss is in KiB on Linux
        exit_code=proc.returncode,
        load1=load1,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
    )


def fail(message: str) -> None:
    print(f"\nBENCH FAILED: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def checked(run: Run, what: str, ok: tuple[int, ...] = (0,)) -> Run:
    if run.exit_code not in ok:
        tail = "\n".join(run.stderr.strip().splitlines()[-15:])
        fail(f"{what} exited {run.exit_code}:\n{tail}")
    return run


# ============================================================================= data


@dataclass
class Dataset:
    rows: int
    seed: int
    shops: int
    root: Path
    meta: dict[str, Any] = field(default_factory=dict)
    run_config: Path = Path()  # the run job's config (`ensure_run_config`)

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def gb18030(self) -> Path:
        return self.root / "orders_gb18030.csv"

    @property
    def typed(self) -> Path:
        return self.root / "typed" / "valid" / "orders.parquet"

    def file(self, stem: str, fmt: str) -> Path:
        return self.exports / f"{stem}.{'parquet' if fmt == 'parquet' else 'csv'}"

    def statement(self, period: str) -> Path:
        """The close's statement: `doudian settle` of the fund flow's period, cached."""
        return self.root / "close" / "settlement" / period

    def settle_args(self, fmt: str) -> list[str]:
        return [
            arg
            for stem in SETTLE_FILES
            for arg in (f"--{stem.replace('_', '-')}", str(self.file(stem, fmt)))
        ]

    def save_meta(self) -> None:
        (self.root / "meta.json").write_text(json.dumps(self.meta, indent=2, sort_keys=True) + "\n")


def prepare(
    base: Path, rows: int, seed: int, shops: int, *, timeout: float, period: str | None = None
) -> Dataset:
    """Generate (or reuse) the exports of `rows` order rows; choose the period."""
    root = base / "data" / f"r{rows}-s{seed}-k{shops}"
    data = Dataset(rows, seed, shops, root)
    meta_path = root / "meta.json"
    if data.exports.is_dir() and meta_path.is_file():
        data.meta = json.loads(meta_path.read_text())
        say(f"data: reusing {data.exports} ({rows:,} order rows, seed {seed}, {shops} shops)")
    else:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        tmp = root / "exports.tmp"
        say(
            f"data: generating {rows:,} order rows ({shops} shops, seed {seed}) into {data.exports} ..."
        )
        argv = [
            *DOUDIAN,
            "fixtures",
            "--shops",
            str(shops),
            "--orders",
            str(rows),
            "--seed",
            str(seed),
        ]
        run = checked(
            run_child(
                [*argv, "--format", "both", "--out", str(tmp)],
                log=root / "logs" / "fixtures",
                timeout=timeout,
            ),
            "doudian fixtures",
        )
        tmp.rename(data.exports)
        data.meta = {
            "rows": rows,
            "seed": seed,
            "shops": shops,
            "generation": {
                "command": f"doudian fixtures --shops {shops} --orders {rows} --seed {seed} --format both",
                "seconds": round(run.seconds, 3),
                "cpu_seconds": round(run.cpu_seconds, 3),
                "peak_rss_mib": round(run.peak_rss_mib, 1),
            },
            "files": {p.name: p.stat().st_size for p in sorted(data.exports.iterdir())},
        }
        say(f"      {run.seconds:.1f} s, peak RSS {run.peak_rss_mib:,.0f} MiB")
        data.save_meta()
    if "period" not in data.meta:
        data.meta["period"], data.meta["sales_by_period"] = busiest_period(
            data.file("orders", "parquet")
        )
        data.save_meta()
    if period:
        data.meta["chosen_period"] = period
    else:
        data.meta["chosen_period"] = data.meta["period"]
    return data


def busiest_period(orders: Path) -> tuple[str, dict[str, int]]:
    """The half month with the most sale candidates: 已完成, no 售后状态, by receipt."""
    import polars as pl

    received = pl.col("订单完成时间")
    day = received.str.slice(8, 2).cast(pl.Int32)
    counts = (
        pl.scan_parquet(orders)
        .filter(
            (pl.col("订单状态") == "已完成") & (pl.col("售后状态") == "-") & received.is_not_null()
        )
        .group_by(
            (
                received.str.slice(0, 7)
                + pl.when(day < 16).then(pl.lit("-H1")).otherwise(pl.lit("-H2"))
            ).alias("p")
        )
        .len()
        .sort("len", "p", descending=[True, False])
        .collect()
    )
    by_period = dict(zip(counts["p"].to_list(), counts["len"].to_list(), strict=True))
    return counts["p"][0], dict(sorted(by_period.items()))


def close_period(data: Dataset) -> str:
    """The period whose bill cycle the fund flow covers: the generator writes the flows of
    the cycle from the last settle date (1st or 16th) before the export day, so the first
    动账时间's day is the settle date of the period the close reconciles."""
    if "close_period" not in data.meta:
        import polars as pl

        sys.path.insert(0, str(REPO))
        from pipeline.stages.settle.periods import Period

        first = (
            pl.scan_parquet(data.file("fund_flow", "parquet"))
            .select(pl.col("动账时间").min())
            .collect()
            .item()
        )
        period = Period.due_on(dt.date.fromisoformat(first[:10]))
        if period is None:
            fail(f"fund_flow starts on {first[:10]}, not a settle date (1st or 16th)")
        data.meta["close_period"] = period.id
        data.save_meta()
    return data.meta["close_period"]


def ensure_close_statement(data: Dataset, period: str, timeout: float) -> None:
    """The statement the close reconciles: one untimed `doudian settle` from Parquet."""
    if (data.statement(period) / "summary.json").is_file():
        return
    say(f"data: the close's statement of {period} (doudian settle, Parquet) ...")
    out = data.statement(period).parents[1]
    shutil.rmtree(out, ignore_errors=True)
    argv = [*DOUDIAN, "settle", "--period", period, "--out", str(out), *data.settle_args("parquet")]
    run = checked(
        run_child(argv, log=data.root / "logs" / "close-statement", timeout=timeout),
        "doudian settle",
        (0, 3),
    )
    say(f"      {run.seconds:.1f} s")


def ensure_gb18030(data: Dataset) -> None:
    """A GB18030 copy of orders.csv (as Excel on Chinese Windows saves it: no BOM)."""
    if data.gb18030.is_file():
        return
    say(f"data: transcoding orders.csv to GB18030 ({data.gb18030.name}) ...")
    start = time.perf_counter()
    tmp = data.gb18030.with_suffix(".tmp")
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    with open(data.file("orders", "csv"), "rb") as src, open(tmp, "wb") as dst:
        while chunk := src.read(1 << 24):
            dst.write(decoder.decode(chunk).encode("gb18030"))
        dst.write(decoder.decode(b"", final=True).encode("gb18030"))
    tmp.rename(data.gb18030)
    say(f"      {time.perf_counter() - start:.1f} s")


def ensure_typed(data: Dataset, timeout: float) -> None:
    """The canonical typed order frame: `doudian validate orders` on the Parquet copy."""
    if data.typed.is_file():
        return
    say("data: canonical typed orders (doudian validate orders, Parquet) ...")
    out = data.root / "typed"
    shutil.rmtree(out, ignore_errors=True)
    argv = [*DOUDIAN, "validate", "orders", str(data.file("orders", "parquet")), "--out", str(out)]
    run = checked(
        run_child(argv, log=data.root / "logs" / "typed", timeout=timeout),
        "doudian validate",
        (0, 3),
    )
    say(f"      {run.seconds:.1f} s")


def reference_summary(data: Dataset, period: str, timeout: float) -> dict[str, Any]:
    """doudian's summary.json for the period (one untimed run from Parquet, cached)."""
    path = data.root / f"reference-{period}.json"
    if not path.is_file():
        say(f"data: reference settlement of {period} (doudian settle, Parquet) ...")
        out = data.root / "reference"
        shutil.rmtree(out, ignore_errors=True)
        argv = [
            *DOUDIAN,
            "settle",
            "--period",
            period,
            "--out",
            str(out),
            *data.settle_args("parquet"),
        ]
        run = checked(
            run_child(argv, log=data.root / "logs" / "reference", timeout=timeout),
            "doudian settle",
            (0, 3),
        )
        shutil.copyfile(out / "settlement" / period / "summary.json", path)
        shutil.rmtree(out, ignore_errors=True)
        say(f"      {run.seconds:.1f} s")
    return json.loads(path.read_text())


def ensure_run_config(base: Path, rows: int) -> Path:
    """The per-shop exports of `RUN_SHOPS` shops (`rows` order rows in all) and a
    `doudian run` config over them, every stage on (cached in DIR/run/)."""
    from tests.bench.shops_bench import config, data

    folder = base / "run" / f"s{RUN_SHOPS}-r{rows}"
    ids = data(folder / "exports", RUN_SHOPS, max(1, rows // RUN_SHOPS))
    return config(folder, folder / "exports", ids)


def warm(paths: list[Path]) -> None:
    """Read the inputs once so that every job starts from the page cache."""
    for p in paths:
        with open(p, "rb") as fh:
            while fh.read(1 << 24):
                pass


# ============================================================================= commands


def command(job: Job, data: Dataset, period: str, out: Path) -> list[str]:
    fmt = "parquet" if job.format == "parquet" else "csv"
    peer = ["--period", period, "--policy", str(POLICY), "--out", str(out)]
    files = [
        arg
        for stem in SETTLE_FILES
        for arg in (f"--{stem.replace('_', '-')}", str(data.file(stem, fmt)))
    ]
    if job.name == "settle":
        return [*DOUDIAN, "settle", "--period", period, "--out", str(out), *files]
    if job.name == "duckdb":
        return [PY, "-m", "tests.bench.duckdb_settle", *files, *peer]
    if job.name == "pandas":
        return [PY, "-m", "tests.bench.pandas_settle", *files, *peer]
    if job.name == "floor":
        return [PY, "-m", "tests.bench.polars_floor", *files, *peer]
    if job.name == "cells":
        return [PY, "-m", "tests.bench.cells_floor", "--orders", str(data.file("orders", fmt))]
    if job.name == "validate":
        source = data.gb18030 if job.format == "gb18030" else data.file("orders", fmt)
        return [*DOUDIAN, "validate", "orders", str(source), "--out", str(out)]
    if job.name == "run":
        return [*DOUDIAN, "run", "--config", str(data.run_config), "--on", RUN_DAY]
    if job.name == "close":
        cp = close_period(data)
        files = [arg for opt, stem in CLOSE_FILES for arg in (opt, str(data.file(stem, "csv")))]
        return [*DOUDIAN, "reconcile", "--statement", str(data.statement(cp)), *files,
                "--out", str(out)]  # fmt: skip
    if job.name in ("pandera", "polars-checks"):
        engine = "pandera" if job.name == "pandera" else "polars"
        return [
            PY,
            "-m",
            "tests.bench.validation_checks",
            "--typed",
            str(data.typed),
            "--engine",
            engine,
        ]
    raise AssertionError(job)


def summary_path(job: Job, out: Path, period: str) -> Path:
    if job.name == "settle":
        return out / "settlement" / period / "summary.json"
    return out / "summary.json"


def compare(job: Job, got: dict[str, Any], want: dict[str, Any]) -> None:
    """Fail loudly when a settlement's totals differ from doudian's."""
    diffs = []
    for key in SUMMARY_KEYS:
        if key == "per_shop":
            a = {s["shop_id"]: s for s in got.get(key, [])}
            b = {s["shop_id"]: s for s in want.get(key, [])}
            for shop in sorted(set(a) | set(b)):
                for part in ("lines", "excluded", "totals"):
                    x, y = a.get(shop, {}).get(part), b.get(shop, {}).get(part)
                    if x != y:
                        diffs.append(f"  shop {shop} {part}: {x} != doudian {y}")
        elif got.get(key) != want.get(key):
            diffs.append(f"  {key}: {got.get(key)}\n   doudian: {want.get(key)}")
    if diffs:
        fail(f"{job.label} ({job.key}) does not give doudian's totals:\n" + "\n".join(diffs[:20]))


# ============================================================================= bench


@dataclass
class Result:
    job: Job
    rows: int
    runs: list[Run] = field(default_factory=list)
    note: str = ""
    checked: bool = False

    def times(self) -> list[float]:
        return [r.seconds for r in self.runs]

    @property
    def median(self) -> float:
        return statistics.median(self.times())

    @property
    def minimum(self) -> float:
        return min(self.times())

    @property
    def peak_rss(self) -> float:
        return max(r.peak_rss_mib for r in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(r.cpu_seconds for r in self.runs)


def say(text: str) -> None:
    print(text, flush=True)


def bench(args: argparse.Namespace) -> dict[str, Any]:
    base = Path(args.dir).resolve()
    base.mkdir(parents=True, exist_ok=True)
    jobs = select_jobs(args.only)
    code = code_version()
    say(
        f"code: {code['commit']}"
        + (
            f" with uncommitted changes to {', '.join(code['uncommitted'])}"
            if code.get("uncommitted")
            else ""
        )
    )
    data = prepare(base, args.rows, args.seed, args.shops, timeout=args.timeout, period=args.period)
    period = data.meta["chosen_period"]
    say(f"period: {period} (sale candidates by period: {data.meta['sales_by_period']})")
    if any(j.format == "gb18030" for j in jobs):
        ensure_gb18030(data)
    if any(j.format == "typed" for j in jobs):
        ensure_typed(data, args.timeout)
        verify = run_child(
            [PY, "-m", "tests.bench.validation_checks", "--typed", str(data.typed), "--verify"],
            log=base / "runs" / "logs" / "verify-checks",
            timeout=args.timeout,
        )
        checked(verify, "pandera/polars equivalence check")
        say(
            f"checks: pandera and the polars expressions agree on planted errors ({verify.stdout.strip()})"
        )
    reference = (
        reference_summary(data, period, args.timeout) if any(j.settles for j in jobs) else None
    )
    if any(j.name == "run" for j in jobs):
        data.run_config = ensure_run_config(base, args.run_rows)
        say(f"run: doudian run over {RUN_SHOPS} shops, {args.run_rows:,} order rows in all")
    if any(j.name == "close" for j in jobs):
        ensure_close_statement(data, close_period(data), args.timeout)
        say(f"close: reconciles {close_period(data)}, the period the fund flow covers")

    # pandas: the requested rows, or the 2M fallback (forced with --pandas-rows)
    pandas_data = data
    pandas_reference = reference
    pandas_note = ""
    pandas_rows = args.pandas_rows or args.rows
    if any(j.name == "pandas" for j in jobs) and pandas_rows != args.rows:
        pandas_data, pandas_reference, pandas_note = pandas_fallback(
            base, args, period, "--pandas-rows"
        )

    results = {j.key: Result(j, args.run_rows if j.name == "run" else data.rows) for j in jobs}
    if any(j.name == "pandas" for j in jobs):
        results["pandas/csv"] = Result(
            results["pandas/csv"].job, pandas_data.rows, note=pandas_note
        )

    inputs = {data.file(s, f) for j in jobs for s in SETTLE_FILES for f in (j.format,) if j.settles}
    inputs |= {data.gb18030} if any(j.format == "gb18030" for j in jobs) else set()
    plain = ("validate/csv", "cells/csv")
    inputs |= {data.file("orders", "csv")} if any(j.key in plain for j in jobs) else set()
    if any(j.name == "close" for j in jobs):
        inputs |= {data.file(stem, "csv") for _, stem in CLOSE_FILES}
    say(
        f"warming the page cache ({sum(p.stat().st_size for p in inputs) / MIB:,.0f} MiB of inputs) ..."
    )
    warm(sorted(inputs))

    runs_dir = base / "runs"
    log_dir = runs_dir / "logs"
    for round_no in range(1, args.repeat + 1):
        say(f"\nround {round_no} of {args.repeat}")
        for job in jobs:
            result = results[job.key]
            dataset = pandas_data if job.name == "pandas" else data
            name = job.key.replace("/", "-")
            out = runs_dir / name
            shutil.rmtree(out, ignore_errors=True)
            if job.name == "run":  # its config names its own output folder
                shutil.rmtree(data.run_config.parent / "out", ignore_errors=True)
            argv = command(job, dataset, period, out)
            run = run_child(
                argv,
                log=log_dir / f"{name}-{round_no}",
                timeout=args.timeout,
            )
            if (
                job.name == "pandas"
                and run.exit_code != 0
                and dataset.rows > PANDAS_FALLBACK_ROWS
                and not result.runs
            ):
                say(
                    f"  pandas failed at {dataset.rows:,} rows (exit {run.exit_code}): falling back to 2M rows"
                )
                pandas_data, pandas_reference, pandas_note = pandas_fallback(
                    base, args, period, "memory"
                )
                result.rows, result.note = pandas_data.rows, pandas_note
                dataset = pandas_data
                argv = command(job, dataset, period, out)
                run = run_child(argv, log=log_dir / f"pandas-csv-{round_no}", timeout=args.timeout)
            ok = (0, 3) if job.name in ("settle", "validate", "close", "run") else (0,)
            checked(run, f"{job.label} ({job.key})", ok)
            if job.format == "typed":
                reported = json.loads(run.stdout.strip().splitlines()[-1])
                run.seconds = reported["check_seconds"]
                if reported["failures"]:
                    fail(f"{job.label}: {reported['failures']} failures on clean data")
            if job.settles and not result.checked:
                got = json.loads(summary_path(job, out, period).read_text())
                compare(job, got, pandas_reference if job.name == "pandas" else reference)
                result.checked = True
                shutil.copyfile(summary_path(job, out, period), log_dir / f"{name}-summary.json")
            if job.name == "close" and len(result.runs) == 0:
                closed = out / "reconciliation" / close_period(data) / "summary.json"
                shutil.copyfile(closed, log_dir / f"{name}-summary.json")
            shutil.rmtree(out, ignore_errors=True)  # outputs are large: keep the disk bounded
            result.runs.append(run)
            say(
                f"  {job.key:<22} {run.seconds:8.2f} s  cpu {run.cpu_seconds:8.2f} s  "
                f"peak {run.peak_rss_mib:8,.0f} MiB  load {run.load1:4.1f}"
                + ("  totals ok" if job.settles and len(result.runs) == 1 else "")
            )
    if code_version()["mtime"] != code["mtime"]:
        code["changed_during_run"] = True
        say(
            "\nWARNING: files under pipeline/ or schemas/ changed during the run: the runs mix code versions"
        )
    return report(args, data, period, results, base, code)


def pandas_fallback(base: Path, args: argparse.Namespace, period: str, why: str):
    rows = args.pandas_rows or PANDAS_FALLBACK_ROWS
    data = prepare(base, rows, args.seed, args.shops, timeout=args.timeout, period=period)
    reference = reference_summary(data, period, args.timeout)
    if why == "memory":
        note = f"pandas at {rows:,} rows: the {args.rows:,}-row run did not fit in memory"
    else:
        note = f"pandas at {rows:,} rows ({why} {rows})"
    return data, reference, note


# ============================================================================= report


def machine() -> dict[str, Any]:
    mem_kib = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    model = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "cpu": model,
        "platform": platform.platform(),
    }


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("polars", "pandera", "duckdb", "pandas", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def ratio_base(job: Job) -> str | None:
    if job.format == "typed" or job.name == "run":
        return None
    return "duckdb/parquet" if job.format == "parquet" else "duckdb/csv"


def targets(results: dict[str, Result], rows: int) -> list[dict[str, Any]]:
    """The issue's targets that this run can measure."""
    out = []

    def ratio(target: str, a: str, b: str, limit: float) -> None:
        if a in results and b in results and results[a].rows == results[b].rows:
            value = results[a].median / results[b].median
            out.append(
                {
                    "target": target,
                    "measured": round(value, 2),
                    "limit": limit,
                    "unit": "x",
                    "met": value <= limit,
                }
            )

    ratio("settle from CSV, time vs DuckDB", "settle/csv", "duckdb/csv", 1.0)
    ratio("settle from Parquet, time vs DuckDB", "settle/parquet", "duckdb/parquet", 1.0)
    ratio("validate orders vs settle, CSV", "validate/csv", "settle/csv", 1.2)
    ratio("pandera vs the same checks in polars", "pandera/typed", "polars-checks/typed", 1.3)
    ratio("validate GB18030 vs UTF-8 CSV", "validate/gb18030", "validate/csv", 1.5)
    limit = 1024 if rows <= 10_000_000 else 1536
    for key in ("settle/csv", "settle/parquet"):
        if key in results:
            value = results[key].peak_rss
            out.append(
                {
                    "target": f"peak RSS, {key}",
                    "measured": round(value),
                    "limit": limit,
                    "unit": "MiB",
                    "met": value <= limit,
                }
            )
    return out


def scaling(base: Path, results: dict[str, Result], rows: int) -> list[dict[str, Any]]:
    """Time growth against earlier runs with fewer rows kept in DIR (linear: at most
    1.1x the row ratio; the issue's 50M within 5.5x of 10M)."""
    out = []
    for path in sorted(base.glob("results-*.json")):
        try:
            other = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        r0 = other.get("config", {}).get("rows")
        if not r0 or r0 >= rows:
            continue
        by_key = {j["key"]: j for j in other.get("jobs", [])}
        for key in ("settle/csv", "settle/parquet", "duckdb/csv", "duckdb/parquet"):
            if key in results and key in by_key and by_key[key]["rows"] == r0:
                growth = results[key].median / by_key[key]["median_s"]
                limit = rows / r0 * 1.1
                out.append(
                    {"job": key, "from_rows": r0, "to_rows": rows, "time_growth": round(growth, 2),
                     "row_growth": rows / r0, "limit": round(limit, 2), "met": growth <= limit}
                )  # fmt: skip
    return out


def report(
    args, data: Dataset, period: str, results: dict[str, Result], base: Path, code: dict[str, Any]
) -> dict[str, Any]:
    jobs = []
    for key, r in results.items():
        rb = ratio_base(r.job)
        ratio = None
        if rb and rb in results and results[rb].rows == r.rows:
            ratio = round(r.median / results[rb].median, 2)
        jobs.append(
            {
                "key": key,
                "job": r.job.label,
                "format": r.job.format,
                "rows": r.rows,
                "median_s": round(r.median, 3),
                "min_s": round(r.minimum, 3),
                "cpu_median_s": round(r.cpu, 3),
                "peak_rss_mib": round(r.peak_rss, 1),
                "ratio_to_duckdb": ratio,
                "totals_checked": r.checked,
                "note": r.note,
                "runs": [
                    {
                        "seconds": round(x.seconds, 3),
                        "cpu_seconds": round(x.cpu_seconds, 3),
                        "peak_rss_mib": round(x.peak_rss_mib, 1),
                        "load1_before": round(x.load1, 2),
                    }
                    for x in r.runs
                ],  # fmt: skip
            }
        )
    doc = {
        "created": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "machine": machine(),
        "code": {k: v for k, v in code.items() if k != "mtime"},
        "versions": versions(),
        "config": {
            "rows": args.rows,
            "repeat": args.repeat,
            "seed": args.seed,
            "shops": args.shops,
            "period": period,
            "data": str(data.root),
            "policy": str(POLICY.relative_to(REPO)),
            "fee_bp": tomllib.loads(POLICY.read_text())["fee_bp"],
        },
        "generation": data.meta.get("generation"),
        "jobs": jobs,
        "targets": targets(results, args.rows),
    }
    for job in jobs:
        job["measured"] = doc["created"]
    doc["scaling"] = scaling(base, results, args.rows)
    (base / "results.json").write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    kept = base / f"results-{args.rows}.json"
    history = {**doc, "jobs": kept_jobs(kept, jobs)}
    kept.write_text(json.dumps(history, ensure_ascii=False, indent=2) + "\n")
    print_report(doc, base)
    return doc


def kept_jobs(path: Path, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """This run's `jobs`, then the jobs of the earlier results in `path` (the same rows)
    that this run did not measure, each with the time it was measured (`measured`; an
    older file without it: that file's `created`)."""
    try:
        earlier = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return jobs
    ran = {j["key"] for j in jobs}
    carried = [
        {**j, "measured": j.get("measured", earlier.get("created"))}
        for j in earlier.get("jobs", [])
        if j.get("key") not in ran
    ]
    return [*jobs, *carried]


def print_report(doc: dict[str, Any], base: Path) -> None:
    m, v, c = doc["machine"], doc["versions"], doc["config"]
    say("")
    say(
        f"Machine: {m['cores']} cores, {m['memory_gib']} GiB ({m['cpu']}); Python {v['python']}, "
        f"polars {v['polars']}, pandera {v['pandera']}, DuckDB {v['duckdb']}, pandas {v['pandas']}, "
        f"numpy {v['numpy']}."
    )
    code = doc["code"]
    say(
        f"Code: {code['commit']}"
        + (" (uncommitted changes)" if code.get("uncommitted") else "")
        + (" (CHANGED DURING THE RUN)" if code.get("changed_during_run") else "")
    )
    say(f"Data: {c['rows']:,} order rows, {c['shops']} shops, seed {c['seed']}; period {c['period']}; "
        f"{c['repeat']} runs per job (median and min of wall time; peak RSS is the max over runs).")  # fmt: skip
    g = doc.get("generation")
    if g:
        say(
            f"Generation (cached; measured once): `{g['command']}` {g['seconds']:.1f} s, peak RSS {g['peak_rss_mib']:,.0f} MiB."
        )
    say("")
    say("| job | rows | format | median s | min s | peak RSS MiB | ratio to DuckDB | CPU s |")
    say("|---|---:|---|---:|---:|---:|---:|---:|")
    for j in doc["jobs"]:
        ratio = "-" if j["ratio_to_duckdb"] is None else f"{j['ratio_to_duckdb']:.2f}"
        fmt = "typed frame (check only)" if j["format"] == "typed" else j["format"]
        say(
            f"| {j['job']} | {j['rows']:,} | {fmt} | {j['median_s']:.2f} | {j['min_s']:.2f} | "
            f"{j['peak_rss_mib']:,.0f} | {ratio} | {j['cpu_median_s']:.2f} |"
        )
    notes = [j["note"] for j in doc["jobs"] if j["note"]]
    for n in notes:
        say(f"\nNote: {n}.")
    if doc["targets"]:
        say("\n| target | measured | limit | met |")
        say("|---|---:|---:|---|")
        for t in doc["targets"]:
            say(
                f"| {t['target']} | {t['measured']}{t['unit']} | {t['limit']}{t['unit']} | {'yes' if t['met'] else 'NO'} |"
            )
    for s in doc["scaling"]:
        say(
            f"Scaling {s['job']}: {s['from_rows']:,} -> {s['to_rows']:,} rows, time x{s['time_growth']} "
            f"(rows x{s['row_growth']:g}, limit x{s['limit']}): {'linear' if s['met'] else 'NOT linear'}"
        )
    say(f"\nResults: {base / 'results.json'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, default=10_000_000, help="order rows (default 10,000,000)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per job (default 3)")
    parser.add_argument("--seed", type=int, default=8, help="generator seed (default 8)")
    parser.add_argument(
        "--shops", type=int, default=50, help="shops in the generated data (default 50)"
    )
    parser.add_argument("--dir", default="bench", help="cache and results folder (default bench/)")
    parser.add_argument(
        "--only",
        help="comma-separated jobs: a name (settle, duckdb, pandas, floor, cells, validate, pandera, "
        "polars-checks, close, run) or a NAME/FORMAT glob (*/parquet); default: every job but validate/parquet",
    )
    parser.add_argument(
        "--period", help="settle this period (default: the one with the most sales)"
    )
    parser.add_argument(
        "--pandas-rows",
        type=int,
        help=f"run pandas on a data set of this many rows (fallback {PANDAS_FALLBACK_ROWS:,})",
    )
    parser.add_argument(
        "--run-rows",
        type=int,
        default=1_000_000,
        help=f"order rows in all of the run job's {RUN_SHOPS} shops (default 1,000,000)",
    )
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds per child run (default 3600)"
    )
    args = parser.parse_args(argv)
    if args.rows < 1 or args.repeat < 1:
        parser.error("--rows and --repeat must be at least 1")
    if args.pandas_rows is not None and args.pandas_rows > args.rows:
        args.pandas_rows = args.rows
    bench(args)


if __name__ == "__main__":
    main()
