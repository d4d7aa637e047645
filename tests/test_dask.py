"""`doudian run --engine dask`: the same outputs and manifest as the local engine, on a
real LocalCluster of 2 worker processes; a worker SIGKILLed mid-shop; a shop's bad file;
a driver SIGKILLed mid-run; the engine's settings in the config and on the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.demo.generator import generate, shops_config, split_by_shop

distributed = pytest.importorskip("distributed")

REPO = Path(__file__).resolve().parent.parent
ON = "2026-11-01"


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    out = tmp_path_factory.mktemp("exports")
    generate(out, shops=20, orders=2000, seed=11)
    return out, sorted(split_by_shop(out))


def write_config(folder: Path, exports, extra: str = "") -> Path:
    out, shops = exports
    rules = REPO / "fixtures" / "price" / "rules.toml"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pipeline.toml"
    path.write_text(f'output = "out"\n{extra}' + shops_config(out, shops, rules), encoding="utf-8")
    return path


def invoke(config: Path, *args: str):
    result = CliRunner().invoke(main, ["run", "--config", str(config), "--on", ON, *args])
    assert "Traceback" not in result.output
    return result


def tree(root: Path) -> dict[str, bytes]:
    """Every file's bytes (temporary dot-names too), except the manifest and the lock."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in ("manifest.json", ".doudian.lock")
    }


def comparable(root: Path) -> dict:
    """The manifest without what differs from run to run: when, how long, which worker,
    and where the config file was."""
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    for key in ("started_at", "seconds"):
        manifest.pop(key)
    manifest["config"].pop("path")
    for stage in manifest["stages"]:
        stage.pop("seconds")
    manifest["shops"] = [shop["shop"] for shop in manifest["shops"]]
    return manifest


def workers_of(root: Path) -> dict[str, str]:
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    return {shop["shop"]: shop["worker"] for shop in manifest["shops"]}


@pytest.fixture(scope="module")
def local_run(exports, tmp_path_factory):
    config = write_config(tmp_path_factory.mktemp("local"), exports)
    result = invoke(config, "--engine", "local")
    assert result.exit_code == 3, result.output
    out = config.parent / "out"
    return result, tree(out), comparable(out), out


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 worker processes, as the engine starts one, shared by the
    tests that pass its address as --scheduler."""
    from pipeline.orchestrate.engines import local_cluster

    with local_cluster(2) as running, distributed.Client(running) as client:
        yield running.scheduler_address, client


def test_the_dask_engine_gives_the_local_outputs_and_manifest(exports, local_run, tmp_path):
    _, files, manifest, _ = local_run
    config = write_config(tmp_path, exports)
    result = invoke(config, "--engine", "dask", "--workers", "2")  # its own LocalCluster
    assert result.exit_code == 3, result.output
    assert tree(tmp_path / "out") == files
    assert comparable(tmp_path / "out") == manifest
    assert [line.split()[:3] for line in result.stdout.splitlines()[:-1]] == [
        line.split()[:3] for line in local_run[0].stdout.splitlines()[:-1]
    ]
    workers = workers_of(tmp_path / "out")
    assert list(workers) == exports[1]
    assert all(w.startswith("tcp://127.0.0.1:") for w in workers.values())
    assert len(set(workers.values())) == 2


def test_the_local_engine_records_its_worker_as_local(local_run, exports):
    assert workers_of(local_run[3]) == dict.fromkeys(exports[1], "local")
    assert f"INFO    shop {exports[1][0]}: done by local (" in local_run[0].stderr


def test_a_worker_killed_mid_shop_is_retried(cluster, exports, local_run, tmp_path):
    address, client = cluster
    client.wait_for_workers(2, timeout=60)
    pids = client.run(os.getpid)
    victim = sorted(pids)[0]
    # the victim pauses a minute after each shop's validate stage: a shop is mid-flight
    client.run(lambda: os.environ.update(DOUDIAN_PAUSE="after-validate:60"), workers=[victim])
    out = tmp_path / "out"
    killed: list[str] = []
    killer = threading.Thread(
        target=_kill_when_paused, args=(client, victim, pids[victim], out, killed)
    )
    killer.start()
    result = invoke(write_config(tmp_path, exports), "--engine", "dask", "--scheduler", address)
    killer.join()
    assert killed, "the victim never ran a shop"
    assert result.exit_code == 3, result.output
    assert tree(out) == local_run[1]
    assert comparable(out) == local_run[2]
    assert workers_of(out)[killed[0]] != victim
    assert "temporary file(s) left by a worker that died" in result.stderr


def _kill_when_paused(client, victim: str, pid: int, out: Path, killed: list[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        keys = client.processing(workers=[victim]).get(victim, [])
        for key in keys:  # doudian-<shop>-<run>
            shop = str(key).split("-")[1]
            if (out / shop / "validate").is_dir():
                time.sleep(1.0)  # in the pause after validate, or still validating
                os.kill(pid, signal.SIGKILL)
                killed.append(shop)
                return
        time.sleep(0.05)


def test_a_shops_bad_file_fails_that_shop_alone(cluster, exports, local_run, tmp_path):
    address, client = cluster
    client.wait_for_workers(2, timeout=60)
    config = write_config(tmp_path, exports)
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"\x00\x01garbage")
    bad_shop = exports[1][4]
    orders = str(exports[0] / bad_shop / "orders.csv")
    config.write_text(config.read_text(encoding="utf-8").replace(orders, str(broken)))
    result = invoke(config, "--engine", "dask", "--scheduler", address)
    assert result.exit_code == 1
    rows = [line.split()[:3] for line in result.stdout.splitlines()[:-1]]
    expected = [line.split()[:3] for line in local_run[0].stdout.splitlines()[:-1]]
    assert [r for r in rows if r[0] != bad_shop] == [e for e in expected if e[0] != bad_shop]
    assert [r for r in rows if r[0] == bad_shop][:2] == [
        [bad_shop, "validate", "failed"],
        [bad_shop, "settle", "failed"],
    ]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["exit_code"] == 1
    assert len({s["shop"] for s in manifest["stages"] if s["outcome"] == "failed"}) == 1


def test_a_driver_killed_mid_run_then_rerun(cluster, exports, local_run, tmp_path):
    address, client = cluster
    client.wait_for_workers(2, timeout=60)
    config = write_config(tmp_path, exports)
    command = [sys.executable, "-m", "pipeline", "run", "--config", str(config), "--on", ON,
               "--engine", "dask", "--scheduler", address, "--log-format", "json"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "DOUDIAN_DEBUG"}
    driver = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    while "done by tcp://" not in (line := driver.stderr.readline()):
        assert line, "the driver ended before a shop was done"
    driver.kill()
    driver.wait(timeout=60)
    out = tmp_path / "out"
    assert not (out / "manifest.json").exists()  # not committed: not done
    _wait_idle(client)  # the tasks already running on the workers finish
    result = invoke(config, "--engine", "dask", "--scheduler", address)
    assert result.exit_code == 3, result.output
    assert tree(out) == local_run[1]
    assert comparable(out) == local_run[2]


def _wait_idle(client) -> None:
    deadline = time.monotonic() + 60
    while any(client.processing().values()):
        assert time.monotonic() < deadline, "the cluster stayed busy"
        time.sleep(0.1)


def test_engine_settings_in_the_config(exports, tmp_path):
    from pipeline.orchestrate.engines import engine_for, with_choices
    from pipeline.orchestrate.run import load_config, local_engine

    config = load_config(write_config(tmp_path, exports, 'engine = "dask"\nworkers = 3\n'))
    assert (config.engine, config.scheduler, config.workers) == ("dask", None, 3)
    assert engine_for(config) is not local_engine
    assert engine_for(with_choices(config, "local", None, None)) is local_engine
    chosen = with_choices(config, None, "tcp://10.0.0.1:8786", None)
    assert (chosen.engine, chosen.scheduler, chosen.workers) == (
        "dask",
        "tcp://10.0.0.1:8786",
        None,
    )


@pytest.mark.parametrize(
    ("extra", "args", "message"),
    [
        ('engine = "spark"\n', [], "'engine' must be one of local, dask (got 'spark')"),
        ('engine = "dask"\nworkers = 0\n', [], "'workers' must be a whole number of at least 1 (got 0)"),
        ('engine = "dask"\nworkers = true\n', [], "'workers' must be a whole number of at least 1 (got True)"),
        ('scheduler = 8786\n', [], "'scheduler' must be a Dask scheduler's address, as \"tcp://host:8786\""),
        ("", ["--workers", "2"], "'workers' (or --workers) is for the dask engine"),
        ('scheduler = "tcp://127.0.0.1:1"\n', ["--engine", "local", "--workers", "2"], "'workers' (or --workers) is for the dask engine"),
        ('engine = "dask"\n', ["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"],
         "'workers' (or --workers) sizes the LocalCluster started when no scheduler is given"),
    ],
)  # fmt: skip
def test_engine_settings_errors_exit_2_naming_the_key(exports, tmp_path, extra, args, message):
    config = write_config(tmp_path, exports, extra)
    result = invoke(config, *args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: --config {config}: ")
    assert message in result.output
    assert not (tmp_path / "out").exists()


def test_an_exception_escaping_a_shop_fails_that_shop_alone(cluster, exports, tmp_path):
    address, client = cluster
    client.wait_for_workers(2, timeout=60)
    out, shops = exports
    config = write_config(tmp_path, (out, shops[:3]), 'stages = ["validate", "settle"]\n')
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / shops[1]).write_text("in the way of the shop's folder")
    result = invoke(config, "--engine", "dask", "--scheduler", address)
    assert result.exit_code == 1, result.output
    rows = [line.split(maxsplit=3) for line in result.stdout.splitlines()[:-1]]
    assert [r[:3] for r in rows] == [
        [shops[0], "validate", "ok"], [shops[0], "settle", "ok"],
        [shops[1], "validate", "failed"], [shops[1], "settle", "failed"],
        [shops[2], "validate", "ok"], [shops[2], "settle", "ok"],
    ]  # fmt: skip
    assert rows[2][3].startswith("internal error (FileExistsError: ")
    assert workers_of(tmp_path / "out")[shops[1]].startswith("tcp://127.0.0.1:")


def test_an_unreachable_scheduler_is_a_usage_error(exports, tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.orchestrate.engines.CONNECT_TIMEOUT", 1)
    out, shops = exports
    config = write_config(tmp_path, (out, shops[:1]))
    result = invoke(config, "--engine", "dask", "--scheduler", "tcp://127.0.0.1:1")
    assert result.exit_code == 2
    assert result.stderr.splitlines(keepends=True)[1:] == [
        "Error: --scheduler tcp://127.0.0.1:1: cannot reach a Dask scheduler there (Timed out "
        "trying to connect to tcp://127.0.0.1:1 after 1 s)\n",
        "  hint: check the address (tcp://host:8786) and that the scheduler is running\n",
    ]
    assert not (tmp_path / "out" / "manifest.json").exists()
