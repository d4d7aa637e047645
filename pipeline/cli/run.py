"""`doudian run`: the cron entry point (see pipeline/orchestrate/run.py)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click


class _NoProgress:
    def update(self, n: int) -> None:
        pass


def _logger(fmt: str) -> Any:
    """Logs go to stderr: a readable line, or one JSON object per line for collectors."""

    def log(
        level: str, shop: str | None, stage: str | None, message: str, seconds: float | None = None
    ) -> None:
        now = dt.datetime.now().astimezone()
        if fmt == "json":
            record = {"time": now.isoformat(timespec="seconds"), "level": level, "shop": shop, "stage": stage,
                      "message": message, "seconds": seconds}  # fmt: skip
            click.echo(json.dumps(record, ensure_ascii=False, sort_keys=True), err=True)
            return
        where = " ".join(x for x in (f"shop {shop}" if shop else "", stage or "") if x)
        took = f" ({seconds:.1f} s)" if seconds is not None else ""
        click.echo(
            f"{now:%Y-%m-%d %H:%M:%S} {level.upper():<7} {where + ': ' if where else ''}{message}{took}",
            err=True,
        )

    return log


@click.command("run")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The run's config file (TOML): shops, their export files, stages, output folder.",
)
@click.option(
    "--on",
    "on",
    type=click.DateTime(["%Y-%m-%d"]),
    help="The run date (default: today in China time): settle what is due that day, shipping-mode and checks as of it.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines on stderr: readable text, or JSON for log collectors.",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "dask"]),
    default=None,
    help="Where the shops run: local (this process, one after another) or dask (one task per shop on a Dask cluster). Default: the config's engine, else local.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="With --engine dask: the address of an existing Dask scheduler (tcp://host:8786). Default: the config's scheduler, else a local cluster started for the run.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="With --engine dask and no scheduler: the local cluster's worker processes (default: the config's workers, else 2).",
)
def run_command(
    config_path: Path,
    on: dt.datetime | None,
    log_format: str,
    engine: str | None,
    scheduler: str | None,
    workers: int | None,
) -> None:
    """Run every configured stage for every shop of a config file: one cron entry.

    Each shop's stages run in order (validate, settle when due, reconcile when a bill is
    given, shipping-mode, price, check-tiered-shipping); one shop's bad file does not
    stop the others. Outputs go to OUTPUT/SHOP/ and OUTPUT/manifest.json records
    inputs, outputs, timings and outcomes. Exit 0 when all is done, 3 when done with
    rejected rows or warnings, 1 when some stage failed, 75 when another run holds the
    output folder's lock (nothing is done). With --engine dask each shop is a task on a
    Dask cluster (docs/cluster.md); the outputs and the manifest are the same.
    """
    from pipeline.orchestrate.engines import engine_for, with_choices
    from pipeline.orchestrate.run import load_config, run

    config = with_choices(load_config(config_path), engine, scheduler, workers)
    shops_engine = engine_for(config)
    day = on.date() if on else dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    log = _logger(log_format)
    steps = len(config.shops)
    if sys.stderr.isatty() and log_format == "text":
        with click.progressbar(length=steps, label="doudian run", file=sys.stderr) as bar:
            report = run(config, day, lambda *a, **k: None, bar, shops_engine)
    else:
        report = run(config, day, log, _NoProgress(), shops_engine)
    width = max((len(o.shop) for o in report.outcomes), default=4)
    for o in report.outcomes:
        click.echo(f"{o.shop:<{width}}  {o.stage:<22} {o.outcome:<9} {o.message}")
    click.echo(f"exit {report.exit_code}; manifest: {config.output / 'manifest.json'}")
    sys.exit(report.exit_code)


def register(main: click.Group, check: click.Group) -> None:
    main.add_command(run_command)
