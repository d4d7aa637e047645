"""`doudian run`: one cron entry for all stages, over the shops of a config file.

For each shop, in the config's order, each configured stage runs in this process through
the same command line a user would type (so a run does exactly what the commands do),
and its outcome is recorded; one shop's bad file does not stop the others. A lock per
output root keeps two runs apart; leftovers of a killed run are cleared first; every
file is written atomically; `manifest.json` records what went in and came out.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import hashlib
import io
import json
import os
import re
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click
import polars as pl

from pipeline import __version__, faults
from pipeline.errors import EXIT_FILE, EXIT_OK, EXIT_REJECTED, UsageError
from pipeline.io.write import write_json
from pipeline.locking import LOCK_NAME, clear_leftovers, output_lock

MANIFEST = "manifest.json"

STAGES = ("validate", "settle", "reconcile", "shipping-mode", "price", "check-tiered-shipping")
#: config key -> export kind
FILE_KEYS = {
    "orders": "orders",
    "after_sales": "after-sales",
    "products": "products",
    "costs": "costs",
    "commissions": "commissions",
    "bill": "bill",
}
SHOP_ID = re.compile(r"^[0-9A-Za-z_-]{1,32}$")


@dataclass(frozen=True)
class ShopConfig:
    id: str
    patterns: dict[str, list[str]]  # config key -> absolute glob patterns
    price_rules: Path | None = None


@dataclass(frozen=True)
class RunConfig:
    path: Path
    sha256: str
    output: Path
    policy: str | None
    stages: tuple[str, ...]
    shops: tuple[ShopConfig, ...]
    encoding: str | None = None


def load_config(path: Path) -> RunConfig:
    """Read and check a config file; every problem is a UsageError naming the key."""
    where = f"--config {path}"
    try:
        raw_bytes = path.read_bytes()
        data = tomllib.loads(raw_bytes.decode("utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{where}: no such file") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{where}: not a valid TOML file ({exc})") from None
    base = path.resolve().parent
    known = {"output", "policy", "stages", "encoding", "shops"}
    for key in data:
        if key not in known:
            raise UsageError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")
    if not isinstance(data.get("output"), str) or not data["output"]:
        raise UsageError(f"{where}: 'output' (the output folder) is required")
    stages = data.get("stages", list(STAGES))
    if not isinstance(stages, list) or not stages:
        raise UsageError(f"{where}: 'stages' must be a list of stage names")
    for stage in stages:
        if stage not in STAGES:
            raise UsageError(f"{where}: unknown stage {stage!r} (stages: {', '.join(STAGES)})")
    policy = data.get("policy")
    if policy is not None and (base / policy).is_file():
        policy = os.path.normpath(base / policy)
    shops_raw = data.get("shops")
    if not isinstance(shops_raw, list) or not shops_raw:
        raise UsageError(f"{where}: at least one [[shops]] table is required")
    shops: list[ShopConfig] = []
    for number, shop in enumerate(shops_raw, start=1):
        label = f"{where}: shop {number}"
        shop_id = shop.get("id")
        if not isinstance(shop_id, str) or not SHOP_ID.match(shop_id):
            raise UsageError(f"{label}: 'id' must be a shop ID of letters, digits, - or _")
        if any(s.id == shop_id for s in shops):
            raise UsageError(f"{label}: shop id {shop_id!r} appears twice")
        patterns: dict[str, list[str]] = {}
        for key, value in shop.items():
            if key in ("id", "price_rules"):
                continue
            if key not in FILE_KEYS:
                raise UsageError(
                    f"{label} ({shop_id}): unknown key {key!r} (files: {', '.join(FILE_KEYS)})"
                )
            values = [value] if isinstance(value, str) else value
            if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
                raise UsageError(f"{label} ({shop_id}): {key!r} must be a path or a list of paths")
            patterns[key] = [os.path.normpath(base / v) for v in values]
        rules = shop.get("price_rules")
        rules_path = Path(os.path.normpath(base / rules)) if isinstance(rules, str) else None
        shops.append(ShopConfig(shop_id, patterns, rules_path))
    return RunConfig(
        path=path,
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        output=Path(os.path.normpath(base / data["output"])),
        policy=policy,
        stages=tuple(stages),
        shops=tuple(shops),
        encoding=data.get("encoding"),
    )


@dataclass
class StageOutcome:
    shop: str
    stage: str
    outcome: str  # ok, attention, failed, skipped, not-due
    exit_code: int
    message: str
    seconds: float = 0.0


@dataclass
class RunReport:
    outcomes: list[StageOutcome] = field(default_factory=list)
    input_rows: dict[str, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if any(o.outcome == "failed" for o in self.outcomes):
            return EXIT_FILE
        if any(o.outcome == "attention" for o in self.outcomes):
            return EXIT_REJECTED
        return EXIT_OK


def _invoke(args: list[str]) -> tuple[int, str, str]:
    """Run `doudian ARGS` in this process; (exit code, stdout, stderr)."""
    from pipeline.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result = main.main(args=args, prog_name="doudian", standalone_mode=False)
            code = result if isinstance(result, int) else EXIT_OK
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else EXIT_FILE
        except click.ClickException as exc:
            exc.show()
            code = exc.exit_code
        except click.exceptions.Exit as exc:
            code = exc.exit_code
    return code, out.getvalue(), err.getvalue()


def _expand(patterns: list[str]) -> tuple[list[str], list[str]]:
    """(files, patterns that matched nothing), files sorted within each pattern."""
    files: list[str] = []
    missing: list[str] = []
    for pattern in patterns:
        found = (
            sorted(glob.glob(pattern))
            if glob.has_magic(pattern)
            else ([pattern] if os.path.exists(pattern) else [])
        )
        if not found:
            missing.append(pattern)
        files += [f for f in found if f not in files]
    return files, missing


class Runner:
    def __init__(self, config: RunConfig, on: dt.date, log: Any) -> None:
        self.config = config
        self.on = on
        self.log = log
        self.report = RunReport()

    def args_for(
        self, shop: ShopConfig, stage: str, files: dict[str, list[str]]
    ) -> list[str] | str:
        """The command line of a stage, or why it does not apply (skipped)."""
        out = str(self.config.output / shop.id)
        common = ["--shop-id", shop.id] + (
            ["--encoding", self.config.encoding] if self.config.encoding else []
        )
        policy = ["--policy", self.config.policy] if self.config.policy else []
        day = self.on.isoformat()

        def opts(key: str, option: str) -> list[str]:
            return [x for f in files.get(key, []) for x in (option, f)]

        if stage == "settle":
            if not files.get("orders"):
                return "no orders configured"
            return ["settle", "--on", day, "--out", out, *opts("orders", "--orders"),
                    *opts("after_sales", "--after-sales"), *opts("products", "--products"),
                    *opts("commissions", "--commissions"), *policy, *common]  # fmt: skip
        if stage == "reconcile":
            from pipeline.settle.periods import Period

            period = Period.due_on(self.on)
            if period is None:
                return "not-due"
            if not files.get("bill"):
                return "no bill configured"
            statement = self.config.output / shop.id / "settlement" / period.id
            if not (statement / "summary.json").is_file():
                return f"no statement for {period.id}"
            return [
                "reconcile",
                "--statement",
                str(statement),
                "--out",
                out,
                *opts("bill", "--bill"),
                *common,
            ]
        if stage == "shipping-mode":
            if not files.get("products") or not files.get("orders"):
                return "needs products and orders"
            return ["shipping-mode", "--as-of", day, "--out", out, *opts("products", "--products"),
                    *opts("orders", "--orders"), *policy, *common]  # fmt: skip
        if stage == "price":
            if shop.price_rules is None or not files.get("products"):
                return "needs price_rules and products"
            return ["price", "--rules", str(shop.price_rules), "--out", out, *opts("products", "--products"),
                    *opts("costs", "--costs"), *common]  # fmt: skip
        if stage == "check-tiered-shipping":
            if not files.get("orders"):
                return "no orders configured"
            return ["check", "tiered-shipping", "--as-of", day, *opts("orders", "--orders"), *policy,
                    "--shop-id", shop.id]  # fmt: skip
        raise AssertionError(stage)

    def run_shop(self, shop: ShopConfig, progress: Any) -> None:
        files: dict[str, list[str]] = {}
        missing: list[str] = []
        for key, patterns in shop.patterns.items():
            files[key], gone = _expand(patterns)
            missing += gone
        for stage in self.config.stages:
            started = time.monotonic()
            if missing:
                outcome = StageOutcome(
                    shop.id, stage, "failed", EXIT_FILE, f"no file matches {', '.join(missing)}"
                )
            elif stage == "validate":
                outcome = self._validate(shop, files)
            else:
                args = self.args_for(shop, stage, files)
                outcome = self._outcome(shop, stage, args)
            outcome.seconds = round(time.monotonic() - started, 3)
            self.report.outcomes.append(outcome)
            self.log(
                "error" if outcome.outcome == "failed" else "info",
                shop.id, stage, f"{outcome.outcome}: {outcome.message}", seconds=outcome.seconds,
            )  # fmt: skip
            faults.point(f"after-{stage}")
            progress.update(1)

    def _validate(self, shop: ShopConfig, files: dict[str, list[str]]) -> StageOutcome:
        codes, notes = [], []
        for key, kind in FILE_KEYS.items():
            if not files.get(key):
                continue
            out = str(self.config.output / shop.id / "validate")
            args = ["validate", kind, *files[key], "--out", out, "--json", "--shop-id", shop.id]
            if self.config.encoding:
                args += ["--encoding", self.config.encoding]
            code, stdout, stderr = _invoke(args)
            codes.append(code)
            if code in (EXIT_OK, EXIT_REJECTED):
                summary = json.loads(stdout)
                for f in summary["files"]:
                    self.report.input_rows[str(Path(f["file"]).resolve())] = f["rows"]
                notes.append(f"{kind} {summary['valid']:,}/{summary['rows']:,} valid")
            else:
                notes.append(f"{kind}: {_first_line(stderr)}")
        if not codes:
            return StageOutcome(shop.id, "validate", "skipped", EXIT_OK, "no files configured")
        worst = EXIT_FILE if any(c not in (EXIT_OK, EXIT_REJECTED) for c in codes) else max(codes)
        return StageOutcome(shop.id, "validate", _outcome_name(worst), worst, "; ".join(notes))

    def _outcome(self, shop: ShopConfig, stage: str, args: list[str] | str) -> StageOutcome:
        if isinstance(args, str):
            kind = "not-due" if args == "not-due" else "skipped"
            return StageOutcome(
                shop.id, stage, kind, EXIT_OK, "nothing is due today" if kind == "not-due" else args
            )
        code, stdout, stderr = _invoke(args)
        text = [line.strip() for line in stdout.strip().splitlines() if line.strip()]
        message = (
            _first_line(stderr) if code not in (EXIT_OK, EXIT_REJECTED, 4) else "; ".join(text[:2])
        )
        if stage == "settle" and stdout.startswith("nothing is due"):
            return StageOutcome(shop.id, stage, "not-due", code, "nothing is due today")
        return StageOutcome(shop.id, stage, _outcome_name(code), code, message)


def _outcome_name(code: int) -> str:
    if code == EXIT_OK:
        return "ok"
    if code in (EXIT_REJECTED, 4):  # rejected rows, differences, warnings; 4: ineligible
        return "attention"
    return "failed"


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0].removeprefix("Error: ") if lines else "(no message)"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 23):
            digest.update(chunk)
    return digest.hexdigest()


def _rows(path: Path) -> int | None:
    try:
        if path.suffix == ".parquet":
            return int(pl.scan_parquet(path).select(pl.len()).collect().item())
        if path.suffix == ".csv":
            return int(pl.scan_csv(path, infer_schema=False).select(pl.len()).collect().item())
        if path.suffix == ".jsonl":
            with open(path, "rb") as fh:
                return sum(1 for _ in fh)  # lines of a file we wrote, not input rows
    except pl.exceptions.PolarsError:
        return None
    return None


def manifest(config: RunConfig, runner: Runner, started: str, seconds: float) -> dict[str, Any]:
    inputs = []
    seen: set[str] = set()
    for shop in config.shops:
        for patterns in shop.patterns.values():
            for f in _expand(patterns)[0]:
                p = Path(f).resolve()
                if str(p) in seen:
                    continue
                seen.add(str(p))
                inputs.append({
                    "path": f, "size": p.stat().st_size, "sha256": _sha256(p),
                    "rows": runner.report.input_rows.get(str(p)),
                })  # fmt: skip
    outputs = []
    for p in sorted(config.output.rglob("*")):
        rel = p.relative_to(config.output)
        if (
            not p.is_file()
            or rel.name in (MANIFEST, LOCK_NAME)
            or any(part.startswith(".") for part in rel.parts)
        ):
            continue
        outputs.append({"path": str(rel), "sha256": _sha256(p), "rows": _rows(p)})
    return {
        "tool": "doudian-batch",
        "version": __version__,
        "config": {"path": str(config.path), "sha256": config.sha256},
        "run_date": runner.on.isoformat(),
        "started_at": started,
        "seconds": round(seconds, 3),
        "exit_code": runner.report.exit_code,
        "stages": [asdict(o) for o in runner.report.outcomes],
        "inputs": inputs,
        "outputs": outputs,
    }


def run(config: RunConfig, on: dt.date, log: Any, progress: Any) -> RunReport:
    """Run every configured stage of every shop; write the manifest. Raises RunLocked
    when another run holds the output root."""
    runner = Runner(config, on, log)
    with output_lock(config.output, log):
        started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        clock = time.monotonic()
        stages = ", ".join(s for s in STAGES if s in config.stages)
        log(
            "info",
            None,
            None,
            f"run of {config.path} for {on}: {len(config.shops)} shop(s), stages {stages}",
        )
        removed = clear_leftovers(config.output)
        if removed:
            log(
                "warning",
                None,
                None,
                f"removed {removed} temporary file(s) left by a run that did not finish",
            )
        for shop in config.shops:
            runner.run_shop(shop, progress)
        write_json(
            manifest(config, runner, started, time.monotonic() - clock), config.output / MANIFEST
        )
    return runner.report
