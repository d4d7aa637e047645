"""`doudian run`: one cron entry for all stages, over the shops of a config file.

For each shop, in the config's order, each configured kind of export is read and
validated once (`pipeline.validation.staging.stage_shop`), and each configured stage is called on
those validated rows, as the commands call them; its outcome is recorded; one shop's
bad file does not stop the others. `run_shop` is a plain call per shop (config, shop,
date in; `ShopOutcome` out). A lock per output root keeps two runs apart; leftovers of a
killed run are cleared first; every file is written atomically; `manifest.json`, written
last, records what went in and came out.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import hashlib
import os
import re
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from pipeline import __version__, faults
from pipeline.errors import (
    EXIT_FILE,
    EXIT_OK,
    EXIT_REJECTED,
    DoudianError,
    InputError,
    UsageError,
    first_line,
)
from pipeline.orchestrate.locking import (
    LOCK_NAME,
    clear_leftovers,
    held_by_caller,
    output_lock,
    refuse_inputs_inside,
)
from pipeline.outcome import STATUS_EXIT, StageResult
from pipeline.read.exports import check_input_file, display_name
from pipeline.stages.settle.ledger import file_sha256
from pipeline.stages.settle.periods import Period
from pipeline.validation.staging import ShopInputs, stage_shop
from pipeline.write.files import scratch_folder, write_json
from schemas.checks import SHOP_ID_PATTERN

MANIFEST = "manifest.json"

STAGES = (
    "validate",
    "settle",
    "reconcile",
    "profit",
    "shipping-mode",
    "price",
    "check-tiered-shipping",
    "report",
)
#: config key -> export kind
FILE_KEYS = {
    "orders": "orders",
    "after_sales": "after-sales",
    "products": "products",
    "costs": "costs",
    "commissions": "commissions",
    "bill": "bill",
    "fund_flow": "fund-flow",
    "account_flow": "account-flow",
}
ENCODINGS = ("utf-8", "gb18030", "gbk")
SHOP_ID = re.compile(SHOP_ID_PATTERN)


@dataclass(frozen=True)
class ShopConfig:
    id: str
    patterns: dict[str, list[str]]  # config key -> absolute glob patterns
    price_rules: Path | None = None
    #: config key -> the files the patterns matched (filled by `run_shop`)
    files: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class RunConfig:
    path: Path
    sha256: str
    output: Path
    policy: str | None
    stages: tuple[str, ...]
    shops: tuple[ShopConfig, ...]
    encoding: str | None = None
    #: where the shops run: "local" (this process) or "dask" (pipeline/orchestrate/engines.py)
    engine: str = "local"
    scheduler: str | None = None  # a Dask scheduler's address; None: a LocalCluster
    workers: int | None = None  # the LocalCluster's worker processes


ENGINES = ("local", "dask")


def load_config(path: Path) -> RunConfig:
    """Read and check a config file; every problem is a UsageError naming the key."""
    where = f"{{opt:config}} {path}"
    try:
        raw_bytes = path.read_bytes()
        data = tomllib.loads(raw_bytes.decode("utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{where}: no such file") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{where}: not a valid TOML file ({exc})") from None
    base = path.resolve().parent
    known = {"output", "policy", "stages", "encoding", "shops", "engine", "scheduler", "workers"}
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
    encoding = data.get("encoding")
    if encoding is not None and encoding not in ENCODINGS:
        raise UsageError(
            f"{where}: 'encoding' must be one of {', '.join(ENCODINGS)} (got {encoding!r})"
        )
    engine = _engine_keys(data, where)
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
        if not isinstance(shop_id, str) or not SHOP_ID.fullmatch(shop_id):
            raise UsageError(
                f"{label}: 'id' must be a shop ID of letters, digits, - or _, starting with "
                "a letter or a digit"
            )
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
        encoding=encoding,
        **engine,
    )


def _engine_keys(data: dict[str, Any], where: str) -> dict[str, Any]:
    """The config's `engine`, `scheduler` and `workers` keys, checked."""
    engine = data.get("engine", "local")
    if engine not in ENGINES:
        raise UsageError(f"{where}: 'engine' must be one of {', '.join(ENGINES)} (got {engine!r})")
    scheduler = data.get("scheduler")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise UsageError(
            f"{where}: 'scheduler' must be a Dask scheduler's address, as \"tcp://host:8786\""
        )
    workers = data.get("workers")
    if workers is not None and (type(workers) is not int or workers < 1):
        raise UsageError(
            f"{where}: 'workers' must be a whole number of at least 1 (got {workers!r})"
        )
    return {"engine": engine, "scheduler": scheduler, "workers": workers}


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
    #: per shop, in the config's order: which worker ran it and how long it took
    shops: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if any(o.outcome == "failed" for o in self.outcomes):
            return EXIT_FILE
        if any(o.outcome == "attention" for o in self.outcomes):
            return EXIT_REJECTED
        return EXIT_OK


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


#: The kinds of export each stage reads, in the order they are checked.
STAGE_KINDS: dict[str, tuple[str, ...]] = {
    "settle": ("orders", "after-sales", "products", "commissions"),
    "reconcile": ("bill",),
    "close": ("bill", "fund-flow", "account-flow", "orders", "after-sales"),
    "profit": ("orders", "costs"),
    "report": ("orders",),
    "shipping-mode": ("products", "orders"),
    "price": ("products", "costs"),
    "check-tiered-shipping": ("orders",),
}


#: The name under which the schemas list the further columns a stage needs.
SCHEMA_STAGES = {
    "settle": "settle",
    "reconcile": "reconcile",
    "close": "reconcile",
    "shipping-mode": "shipping-mode",
    "price": "price",
    "check-tiered-shipping": "check tiered-shipping",
}


@dataclass
class ShopOutcome:
    """What `run_shop` did for one shop: each stage's outcome, and the rows of each input
    file that was validated (path -> rows)."""

    shop: str
    outcomes: list[StageOutcome]
    input_rows: dict[str, int] = field(default_factory=dict)
    #: who ran the shop ("local": the driver's own process; a Dask worker's address) and
    #: how long it took there; filled by the engine
    worker: str = "local"
    seconds: float = 0.0


class _Shop:
    """One shop's run: its files, its inputs validated once, its stages' outcomes."""

    def __init__(self, config: RunConfig, shop: ShopConfig, on: dt.date) -> None:
        self.config, self.shop, self.on = config, shop, on
        self.out = config.output / shop.id
        self.files = {FILE_KEYS[k]: v for k, v in shop.files.items()}
        self.names = config_names(config)
        self.inputs: ShopInputs | None = None
        self.outcomes: dict[str, StageOutcome] = {}

    def words(self) -> Any:
        """The status words of the run's policy (a bad policy fails every stage that
        reads it, by name; validation then uses the shipped words)."""
        from pipeline.policy import StatusWords, load_policy

        try:
            return StatusWords.from_policy(load_policy(self.config.policy))
        except DoudianError:
            return None

    def given(self, *kinds: str) -> bool:
        return all(self.files.get(k) for k in kinds)

    def view(self, stage: str) -> Any:
        assert self.inputs is not None
        return self.inputs.view(STAGE_KINDS[stage], SCHEMA_STAGES.get(stage))

    def call(self, stage: str) -> StageOutcome:
        """The stage's outcome; a stage that cannot run says why (skipped, not-due);
        the errors a user can cause are its failed outcome."""
        try:
            result = getattr(self, "_" + stage.replace("-", "_"))()
        except DoudianError as exc:
            code = exc.exit_code
            return StageOutcome(self.shop.id, stage, "failed", code, _line(exc.render(self.names)))
        except Exception as exc:  # a bug of ours: this shop's stage fails, the run goes on
            if os.environ.get("DOUDIAN_DEBUG"):
                raise
            message = f"internal error ({type(exc).__name__}: {first_line(exc)})"
            return StageOutcome(self.shop.id, stage, "failed", EXIT_FILE, message)
        if isinstance(result, StageOutcome):
            return result
        return _stage_outcome(self.shop.id, stage, result)

    def skipped(self, stage: str, why: str) -> StageOutcome:
        return StageOutcome(self.shop.id, stage, "skipped", EXIT_OK, why)

    def not_due(self, stage: str) -> StageOutcome:
        return StageOutcome(self.shop.id, stage, "not-due", EXIT_OK, "nothing is due today")

    def _validate(self) -> StageOutcome:
        assert self.inputs is not None
        codes, notes = [], []
        for kind in FILE_KEYS.values():
            if not self.files.get(kind):
                continue
            if kind in self.inputs.errors:
                codes.append(self.inputs.errors[kind].exit_code)
                notes.append(f"{kind}: {_line(self.inputs.errors[kind].render(self.names))}")
                continue
            result = self.inputs.results[kind]
            codes.append(EXIT_REJECTED if result.rejected else EXIT_OK)
            notes.append(f"{kind} {result.valid:,}/{result.rows:,} valid")
        if not codes:
            return self.skipped("validate", "no files configured")
        worst = EXIT_FILE if any(c not in (EXIT_OK, EXIT_REJECTED) for c in codes) else max(codes)
        return StageOutcome(self.shop.id, "validate", _outcome_name(worst), worst, "; ".join(notes))

    def _settle(self) -> StageResult | StageOutcome:
        from pipeline.policy import load_policy
        from pipeline.stages.settle.job import settle_inputs
        from pipeline.stages.settle.periods import Period
        from pipeline.stages.settle.policy import SettlementPolicy

        if not self.given("orders"):
            return self.skipped("settle", "no orders configured")
        period = Period.due_on(self.on)
        if period is None:
            return self.not_due("settle")
        rates = SettlementPolicy.from_policy(load_policy(self.config.policy))
        return settle_inputs(self.view("settle"), period=period, out=self.out, policy=rates).report

    def _due(self, stage: str) -> Any:
        """The period due on the run date, with its statement settled now (or why the
        stage does not run: a StageOutcome)."""
        from pipeline.stages.settle.periods import Period

        period = Period.due_on(self.on)
        if period is None:
            return self.not_due(stage)
        settled = self.outcomes.get("settle")
        if settled is not None and settled.outcome == "failed":
            return self.skipped(stage, f"settle failed: no current statement for {period.id}")
        if not (self.out / "settlement" / period.id / "summary.json").is_file():
            return self.skipped(stage, f"no statement for {period.id}")
        return period

    def _reconcile(self) -> StageResult | StageOutcome:
        from pipeline.policy import load_policy
        from pipeline.stages.close.policy import CloseRules
        from pipeline.stages.reconcile import reconcile_inputs

        if Period.due_on(self.on) is not None and not self.given("bill"):
            return self.skipped("reconcile", "no bill configured")
        period = self._due("reconcile")
        if isinstance(period, StageOutcome):
            return period
        statement = self.out / "settlement" / period.id
        if not (self.given("fund-flow") or self.given("account-flow")):
            return reconcile_inputs(self.view("reconcile"), statement, self.out)
        rules = CloseRules.from_policy(load_policy(self.config.policy))
        return reconcile_inputs(self.view("close"), statement, self.out, close_rules=rules)

    def _profit(self) -> StageResult | StageOutcome:
        from pipeline.policy import load_policy
        from pipeline.stages.profit import ProfitPolicy
        from pipeline.stages.profit.job import profit_inputs

        if Period.due_on(self.on) is not None and not self.given("orders", "costs"):
            return self.skipped("profit", "needs orders and costs")
        period = self._due("profit")
        if isinstance(period, StageOutcome):
            return period
        rules = ProfitPolicy.from_policy(load_policy(self.config.policy))
        statement = self.out / "settlement" / period.id
        return profit_inputs(self.view("profit"), statement, self.out, rules)

    def _report(self) -> StageResult | StageOutcome:
        from pipeline.policy import load_policy
        from pipeline.stages.reporting import default_folder, report_stage

        period = self._due("report")
        if isinstance(period, StageOutcome):
            return period
        orders = self.view("report") if self.given("orders") else None
        folder = default_folder(self.out, period, None)
        policy = load_policy(self.config.policy)
        return report_stage(self.out, period, None, folder, orders=orders, policy=policy)

    def _shipping_mode(self) -> StageResult | StageOutcome:
        from pipeline.stages.shipping import job as shipping_job

        if not self.given("products", "orders"):
            return self.skipped("shipping-mode", "needs products and orders")
        rules = shipping_job.shipping_policy(self.config.policy)
        return shipping_job.shipping_mode(self.view("shipping-mode"), self.on, self.out, rules)

    def _price(self) -> StageResult | StageOutcome:
        from pipeline.stages.price.job import price_inputs, require_costs
        from pipeline.stages.price.rules import load_rules

        if self.shop.price_rules is None or not self.given("products"):
            return self.skipped("price", "needs price_rules and products")
        rules = load_rules(self.shop.price_rules)
        require_costs(rules, self.given("costs"))
        return price_inputs(self.view("price"), rules, self.out)

    def _check_tiered_shipping(self) -> StageResult | StageOutcome:
        from pipeline.stages.shipping import job as shipping_job

        if not self.given("orders"):
            return self.skipped("check-tiered-shipping", "no orders configured")
        rules = shipping_job.shipping_policy(self.config.policy)
        return shipping_job.tiered_shipping(
            self.view("check-tiered-shipping"), self.on, rules, None
        )

    def run(self, missing: list[str], on_stage: Callable[[StageOutcome], None]) -> ShopOutcome:
        outcome = ShopOutcome(self.shop.id, [])
        valid_dir = self.out / "validate" if "validate" in self.config.stages else None
        with contextlib.ExitStack() as stack:
            if not missing:
                staging = stack.enter_context(scratch_folder(self.out, ".staging-"))
                self.inputs = stage_shop(
                    self.files, staging, valid_dir=valid_dir, encoding=self.config.encoding,
                    shop_id=self.shop.id, words=self.words(),
                )  # fmt: skip
                if valid_dir is not None:
                    outcome.input_rows = self.inputs.input_rows()
            for stage in self.config.stages:
                started = time.monotonic()
                if missing:
                    result = StageOutcome(
                        self.shop.id,
                        stage,
                        "failed",
                        EXIT_FILE,
                        f"no file matches {', '.join(missing)}",
                    )
                else:
                    result = self.call(stage)
                result.seconds = round(time.monotonic() - started, 3)
                self.outcomes[stage] = result
                outcome.outcomes.append(result)
                on_stage(result)
                faults.point(f"after-{stage}")
        return outcome


def run_shop(
    config: RunConfig,
    shop: ShopConfig,
    on: dt.date,
    on_stage: Callable[[StageOutcome], None] = lambda outcome: None,
) -> ShopOutcome:
    """Run every configured stage of one shop: a plain call (its arguments and result
    pickle), writing only under the shop's own output folder. `on_stage` hears of each
    stage's outcome as it ends."""
    files: dict[str, list[str]] = {}
    missing: list[str] = []
    for key, patterns in shop.patterns.items():
        files[key], gone = _expand(patterns)
        missing += gone
    resolved = ShopConfig(shop.id, shop.patterns, shop.price_rules, files)
    with held_by_caller(config.output):
        return _Shop(config, resolved, on).run(missing, on_stage)


def config_names(config: RunConfig) -> dict[str, str]:
    """How a run's messages name each setting: by its key in the config file."""
    name = config.path.name
    return {
        "policy": f"{name}: policy",
        "encoding": f"{name}: encoding",
        "rules": f"{name}: price_rules",
        "costs": "costs (in the shop's files)",
        "shop_id": f"{name}: id",
        "out": f"{name}: output",
        "resettle": "a settle --resettle of the period by hand",
        "config": "--config",
        "period": "the period due",
    }


def _stage_outcome(shop: str, stage: str, result: StageResult) -> StageOutcome:
    """A stage's result as the run records it (a check's `ineligible` is `attention`
    with exit 4)."""
    outcome = "attention" if result.status == "ineligible" else result.status
    message = result.message
    if stage == "settle" and result.notes:  # later periods now stale: say so in the run
        message = "; ".join([message, *result.notes])
    return StageOutcome(shop, stage, outcome, STATUS_EXIT[result.status], message)


def _outcome_name(code: int) -> str:
    if code == EXIT_OK:
        return "ok"
    if code in (EXIT_REJECTED, 4):  # rejected rows, differences, warnings; 4: ineligible
        return "attention"
    return "failed"


def _line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "(no message)"


def _input_entry(given: str, path: Path, rows: int | None) -> dict[str, Any]:
    """An input's line in the manifest; a file that is not a regular one (a folder, a
    FIFO, a device) is named with why, never opened or hashed."""
    name = display_name(given)
    try:
        size = check_input_file(path, name).st_size
        digest = file_sha256(path)
    except InputError as exc:
        return {"path": name, "size": None, "sha256": None, "rows": None, "error": exc.message}
    except OSError as exc:
        why = f"cannot be read ({exc.strerror or type(exc).__name__})"
        return {"path": name, "size": None, "sha256": None, "rows": None, "error": f"{name}: {why}"}
    return {"path": name, "size": size, "sha256": digest, "rows": rows}


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


def manifest(
    config: RunConfig, on: dt.date, report: RunReport, started: str, seconds: float
) -> dict[str, Any]:
    inputs = []
    seen: set[str] = set()
    for shop in config.shops:
        for patterns in shop.patterns.values():
            for f in _expand(patterns)[0]:
                p = Path(f).resolve()
                if str(p) in seen:
                    continue
                seen.add(str(p))
                inputs.append(_input_entry(f, p, report.input_rows.get(str(p))))
    outputs, stale = [], []
    earlier = _not_current(report.outcomes, on)
    for p in sorted(config.output.rglob("*")):
        rel = p.relative_to(config.output)
        if (
            not p.is_file()
            or rel.name in (MANIFEST, LOCK_NAME)
            or any(part.startswith(".") for part in rel.parts)
        ):
            continue
        entry = {"path": str(rel), "sha256": file_sha256(p), "rows": _rows(p)}
        why = next((why for folder, why in earlier.items() if rel.is_relative_to(folder)), None)
        (outputs if why is None else stale).append(entry if why is None else {**entry, "why": why})
    extra = {"stale_outputs": stale} if stale else {}
    return {
        "tool": "doudian-batch",
        "version": __version__,
        "config": {"path": str(config.path), "sha256": config.sha256},
        "run_date": on.isoformat(),
        "started_at": started,
        "seconds": round(seconds, 3),
        "exit_code": report.exit_code,
        "stages": [asdict(o) for o in report.outcomes],
        "shops": report.shops,
        "inputs": inputs,
        "outputs": outputs,
        **extra,
    }


#: The folder (under the shop's) each stage writes; `{period}` is the period due.
STAGE_FOLDERS = {
    "validate": "validate",
    "settle": "settlement/{period}",
    "reconcile": "reconciliation/{period}",
    "profit": "profit/{period}",
    "shipping-mode": "shipping_mode",
    "price": "price",
    "report": "report/{period}",
}


def _not_current(outcomes: list[StageOutcome], on: dt.date) -> dict[Path, str]:
    """The folders whose files this run did not write anew (left by an earlier run):
    those of a stage that failed, and, when settle failed, those of the stages that
    read its statement. Folder -> why."""
    period = Period.due_on(on)
    folders: dict[Path, str] = {}
    for o in outcomes:
        failed = o.outcome == "failed"
        after_settle = o.outcome == "skipped" and o.message.startswith("settle failed")
        folder = STAGE_FOLDERS.get(o.stage)
        if (failed or after_settle) and folder and (period or "{period}" not in folder):
            why = f"left by an earlier run: {o.stage} {'failed' if failed else 'did not run'}"
            folders[Path(o.shop) / folder.format(period=period.id if period else "")] = why
    return folders


#: An engine runs `run_shop(config, shop, on)` for each shop and yields the outcomes in
#: the shops' order, telling `on_stage` of each stage's outcome (as it ends, or when
#: the shop's outcome comes back), with `worker` and `seconds` filled.
Engine = Callable[[RunConfig, dt.date, Callable[[StageOutcome], None]], Iterator[ShopOutcome]]


def failed_outcome(config: RunConfig, shop: ShopConfig, message: str) -> ShopOutcome:
    """Every configured stage of the shop failed, for one reason."""
    stages = [StageOutcome(shop.id, s, "failed", EXIT_FILE, message) for s in config.stages]
    return ShopOutcome(shop.id, stages, worker="none")


def run_shop_guarded(
    config: RunConfig,
    shop: ShopConfig,
    on: dt.date,
    on_stage: Callable[[StageOutcome], None] = lambda outcome: None,
) -> ShopOutcome:
    """`run_shop`, with an error escaping it (a file that cannot be written, a bug of
    ours) as the shop's failed outcome, not the run's end: the other shops go on, on
    every engine."""
    try:
        return run_shop(config, shop, on, on_stage)
    except DoudianError as exc:
        message = _line(exc.render(config_names(config)))
    except Exception as exc:
        if os.environ.get("DOUDIAN_DEBUG"):
            raise
        message = f"internal error ({type(exc).__name__}: {first_line(exc)})"
    failed = failed_outcome(config, shop, message)
    for outcome in failed.outcomes:
        on_stage(outcome)
    return failed


def local_engine(
    config: RunConfig, on: dt.date, on_stage: Callable[[StageOutcome], None]
) -> Iterator[ShopOutcome]:
    """The shops one after another in this process (worker "local")."""
    for shop in config.shops:
        started = time.monotonic()
        outcome = run_shop_guarded(config, shop, on, on_stage)
        outcome.worker = "local"
        outcome.seconds = round(time.monotonic() - started, 3)
        yield outcome


def run(
    config: RunConfig, on: dt.date, log: Any, progress: Any, engine: Engine = local_engine
) -> RunReport:
    """Run every configured stage of every shop; write the manifest, last. Raises
    RunLocked when another run holds the output root."""
    report = RunReport()
    given = [f for shop in config.shops for ps in shop.patterns.values() for f in _expand(ps)[0]]
    try:
        refuse_inputs_inside(config.output, given)
    except UsageError as exc:
        raise UsageError(exc.render(config_names(config))) from None
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

        def log_stage(o: StageOutcome) -> None:
            level = "error" if o.outcome == "failed" else "info"
            log(level, o.shop, o.stage, f"{o.outcome}: {o.message}", seconds=o.seconds)

        for shop in engine(config, on, log_stage):
            report.outcomes += shop.outcomes
            report.input_rows.update(shop.input_rows)
            report.shops.append({"shop": shop.shop, "worker": shop.worker, "seconds": shop.seconds})
            log("info", shop.shop, None, f"done by {shop.worker}", seconds=shop.seconds)
            progress.update(1)
        removed = clear_leftovers(config.output)  # of a worker that died mid-shop
        if removed:
            log(
                "warning",
                None,
                None,
                f"removed {removed} temporary file(s) left by a worker that died",
            )
        write_json(
            manifest(config, on, report, started, time.monotonic() - clock),
            config.output / MANIFEST,
        )
    return report
