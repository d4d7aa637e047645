"""Where `doudian run` runs its shops: `local_engine` (pipeline/orchestrate/run.py, this process, one
shop after another) or `dask_engine`, one Dask task per shop on a cluster.

    engine = dask_engine("tcp://scheduler:8786")   # an existing cluster
    engine = dask_engine(None, workers=2)           # a LocalCluster for this run
    report = run(config, on, log, progress, engine=engine)

A task is `run_shop(config, shop, on)` on a worker: it writes the shop's outputs, each
atomically, under OUTPUT/<shop id>/ (a file system every worker sees) and returns the
small `ShopOutcome`. The driver (`pipeline.orchestrate.run.run`) alone holds the lock, clears
leftovers and writes the manifest, last. A data error is already a failed outcome; an
exception escaping `run_shop` (a bug) becomes that shop's failed outcome on the worker; a
task whose worker dies is run again by the scheduler (`ALLOWED_FAILURES` times on a
LocalCluster, the scheduler's `distributed.scheduler.allowed-failures` elsewhere), then
fails that shop alone. Outcomes are yielded in the shops' order, so the manifest is the
local engine's, worker and timing fields aside.

Resources. Each worker runs polars with its share of the cores: on a LocalCluster,
`POLARS_MAX_THREADS` is set to cores // workers in each worker process before it starts
(elsewhere the operator sets it where the workers start). Each task asks for a
`memory` resource in MiB: `SHOP_MIB` for a shop whose input files add up to at most
`LARGE_INPUT_BYTES`, `LARGE_SHOP_MIB` above, so that a worker with several threads runs
at most as many shops at once as its declared memory holds. LocalCluster workers declare
their share of the machine's memory; on an existing cluster the tasks ask only when some
worker declares `memory` (`dask worker --resources memory=MIB`), each ask capped at the
largest declared, so a task never waits for a worker that cannot exist.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pipeline.errors import UsageError, first_line
from pipeline.orchestrate.run import (
    Engine,
    RunConfig,
    ShopConfig,
    ShopOutcome,
    StageOutcome,
    _expand,
    failed_outcome,
    local_engine,
    run_shop_guarded,
)

#: A shop whose input files add up to more than this is large (documented in docs/cluster.md).
LARGE_INPUT_BYTES = 256 * 2**20
#: The `memory` resource (MiB) a shop's task asks for: a shop's memory is bounded by a
#: few batches, not by its files (10M order rows, 2.3 GB of CSV, peak at about 1 GiB).
SHOP_MIB = 512
LARGE_SHOP_MIB = 2048
#: Deaths of a task's workers a LocalCluster's scheduler allows; one more fails the shop.
ALLOWED_FAILURES = 3
#: How long (seconds) the driver tries to reach a scheduler, and waits for a first worker.
CONNECT_TIMEOUT = 20


def with_choices(
    config: RunConfig, engine: str | None, scheduler: str | None, workers: int | None
) -> RunConfig:
    """The config with the command line's choices (None: not given) over its own. The
    local engine given there drops the config's scheduler and workers; a scheduler given
    there, the config's workers; workers, the config's scheduler."""
    changes: dict[str, Any] = {}
    if engine is not None:
        changes.update(engine=engine)
        if engine == "local":
            changes.update(scheduler=None, workers=None)
    if scheduler is not None:
        changes.update(scheduler=scheduler, workers=None)
    if workers is not None:
        changes.update(workers=workers, **({} if scheduler else {"scheduler": None}))
    return dataclasses.replace(config, **changes)


def engine_for(config: RunConfig) -> Engine:
    """The engine a config (with the command line's choices applied) asks for."""
    if config.engine == "local":
        for key in ("scheduler", "workers"):
            if getattr(config, key) is not None:
                raise UsageError(
                    f"{{opt:config}} {config.path}: '{key}' (or --{key}) is for the dask "
                    'engine: set engine = "dask" (or --engine dask)'
                )
        return local_engine
    if config.scheduler is not None and config.workers is not None:
        raise UsageError(
            f"{{opt:config}} {config.path}: 'workers' (or --workers) sizes the LocalCluster "
            "started when no scheduler is given; with 'scheduler' the cluster has its own"
        )
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise UsageError(
            "the dask engine needs Dask installed: pip install 'doudian-batch[dask]'"
        ) from None
    return dask_engine(config.scheduler, config.workers)


def dask_engine(
    scheduler: str | None,
    workers: int | None = None,
    *,
    large_input_bytes: int = LARGE_INPUT_BYTES,
    cores: int | None = None,
) -> Engine:
    """An Engine running one task per shop on the Dask scheduler at `scheduler`, or, when
    it is None, on a LocalCluster of `workers` processes (default 2) of one thread each,
    started for the run and closed after it."""

    def engine(
        config: RunConfig, on: dt.date, on_stage: Callable[[StageOutcome], None]
    ) -> Iterator[ShopOutcome]:
        with _client(scheduler, workers or 2, cores) as client:
            yield from _gather(client, config, on, on_stage, large_input_bytes)

    return engine


@contextlib.contextmanager
def _client(scheduler: str | None, workers: int, cores: int | None) -> Iterator[Any]:
    from distributed import Client

    if scheduler is None:
        with local_cluster(workers, cores) as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT}s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(
            f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({first_line(exc)})",
            "check the address (tcp://host:8786) and that the scheduler is running",
        ) from None
    with client:
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
        except TimeoutError:
            raise UsageError(
                f"--scheduler {scheduler}: the scheduler has no worker (none joined in "
                f"{CONNECT_TIMEOUT} s); nothing was run",
                "start workers against it: dask worker " + scheduler,
            ) from None
        yield client


@contextlib.contextmanager
def local_cluster(workers: int, cores: int | None = None) -> Iterator[Any]:
    """A LocalCluster of `workers` processes, one thread each, polars in each limited to
    its share of the cores, `memory` declared as its share of the machine's (MiB), the
    pipeline imported before the first task."""
    import dask
    import psutil
    from distributed import LocalCluster

    threads = max(1, (cores or os.cpu_count() or 1) // workers)
    memory_mib = psutil.virtual_memory().total // workers // 2**20
    settings = {
        # set in the process before it starts, so before the worker imports polars
        "distributed.nanny.pre-spawn-environ.POLARS_MAX_THREADS": str(threads),
        "distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
    }
    before = os.environ.get("POLARS_MAX_THREADS")
    try:
        with dask.config.set(settings), LocalCluster(
            n_workers=workers,
            processes=True,
            threads_per_worker=1,
            resources={"memory": memory_mib},
            preload=["pipeline.orchestrate.run"],  # imported as each worker starts, not by its first task
            dashboard_address=":0",  # a free port: never "8787 in use"
        ) as cluster:  # fmt: skip
            yield cluster
    finally:  # the nannies set it in this process too, before each start
        if before is None:
            os.environ.pop("POLARS_MAX_THREADS", None)
        else:
            os.environ["POLARS_MAX_THREADS"] = before


def _gather(
    client: Any,
    config: RunConfig,
    on: dt.date,
    on_stage: Callable[[StageOutcome], None],
    large_input_bytes: int,
) -> Iterator[ShopOutcome]:
    """Submit a task per shop; yield the outcomes in the shops' order as they come back."""
    from distributed import as_completed

    # a task needs the run's settings, not the other shops: its pickle stays small
    task_config = dataclasses.replace(config, shops=())
    run_id = uuid.uuid4().hex[:12]
    declared = _declared_memory(client)
    futures: dict[Any, int] = {}
    for number, shop in enumerate(config.shops):
        ask = LARGE_SHOP_MIB if input_bytes(shop) > large_input_bytes else SHOP_MIB
        resources = {"memory": min(ask, declared)} if declared else None
        future = client.submit(
            run_task, task_config, shop, on,
            key=f"doudian-{shop.id}-{run_id}", pure=False, retries=0, resources=resources,
        )  # fmt: skip
        futures[future] = number
    done: dict[int, ShopOutcome] = {}
    turn = 0
    for future in as_completed(futures):
        number = futures.pop(future)
        outcome = _outcome(future, config, config.shops[number])
        for stage in outcome.outcomes:
            on_stage(stage)
        done[number] = outcome
        while turn in done:
            yield done.pop(turn)
            turn += 1


def _outcome(future: Any, config: RunConfig, shop: ShopConfig) -> ShopOutcome:
    """The task's outcome; a task that did not return one (its worker died too often, the
    scheduler lost it) is the shop's failed outcome."""
    try:
        return future.result()
    except Exception as exc:
        if os.environ.get("DOUDIAN_DEBUG"):
            raise
        name = type(exc).__name__
        why = "its worker died while running it" if name == "KilledWorker" else "it was lost"
        return failed_outcome(
            config, shop, f"the shop's task did not finish: {why} ({name}: {first_line(exc)})"
        )


def run_task(config: RunConfig, shop: ShopConfig, on: dt.date) -> ShopOutcome:
    """A shop's task on a Dask worker: `run_shop_guarded`, timed, naming the worker."""
    from distributed import get_worker

    started = time.monotonic()
    outcome = run_shop_guarded(config, shop, on)
    outcome.worker = get_worker().address
    outcome.seconds = round(time.monotonic() - started, 3)
    return outcome


def input_bytes(shop: ShopConfig) -> int:
    """The sizes of the files the shop's patterns match, added up."""
    total = 0
    for patterns in shop.patterns.values():
        for path in _expand(patterns)[0]:
            with contextlib.suppress(OSError):
                total += Path(path).stat().st_size
    return total


def _declared_memory(client: Any) -> int:
    """The largest `memory` resource a worker of the cluster declares (0: none does)."""
    workers = client.scheduler_info().get("workers", {}).values()
    return max((int(w.get("resources", {}).get("memory", 0)) for w in workers), default=0)
