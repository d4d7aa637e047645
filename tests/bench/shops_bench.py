"""`make bench-shops`: many small shops through `doudian run`, local engine against the
dask engine (a LocalCluster of 1 and of 2 worker processes).

    python -m tests.bench.shops_bench --shops 1000 --rows-per-shop 2000 --dir bench

Data: `pipeline.demo.generator.generate` (shops x rows-per-shop order rows) split per shop,
cached in DIR/shops/s{shops}-r{rows}/. Each run is a child `doudian run` over every
shop, all six stages, on a settlement day, in a fresh output folder; wall time is
measured around the child. An engine's own time per shop is (the manifest's run time -
the time spent in the shops, as the manifest's `shops` list has it - the cluster's
start, timed on its own) / shops, with 1 worker: like the local engine, one shop at a
time with polars on every core; unlike the walls, it moves little with a neighbour's
load. Output: DIR/shops-results.json and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ON = "2026-11-01"


def data(folder: Path, shops: int, rows: int) -> list[str]:
    from pipeline.demo.generator import generate, split_by_shop

    done = folder / "shops.json"
    if done.is_file():
        return json.loads(done.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    generate(folder, shops=shops, orders=shops * rows, seed=8)
    ids = sorted(split_by_shop(folder))
    done.write_text(json.dumps(ids))
    return ids


def config(folder: Path, exports: Path, ids: list[str]) -> Path:
    from pipeline.demo.generator import shops_config

    rules = REPO / "fixtures" / "price" / "rules.toml"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pipeline.toml"
    path.write_text('output = "out"\n' + shops_config(exports, ids, rules), encoding="utf-8")
    return path


def timed_run(path: Path, *args: str) -> dict:
    shutil.rmtree(path.parent / "out", ignore_errors=True)
    command = [sys.executable, "-m", "pipeline", "run", "--config", str(path), "--on", ON, *args]
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode not in (0, 3):
        sys.exit(f"{' '.join(args) or 'local'}: exit {done.returncode}\n{done.stderr[-2000:]}")
    manifest = json.loads((path.parent / "out" / "manifest.json").read_text())
    return {
        "wall": round(wall, 2),
        "run_seconds": manifest["seconds"],
        "shop_seconds": round(sum(s["seconds"] for s in manifest["shops"]), 2),
        "workers": len({s["worker"] for s in manifest["shops"]}),
    }


def cluster_start(workers: int) -> float:
    from distributed import Client

    from pipeline.orchestrate.engines import local_cluster

    started = time.monotonic()
    with local_cluster(workers) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        took = time.monotonic() - started
    return round(took, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shops", type=int, default=1000)
    parser.add_argument("--rows-per-shop", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=Path("bench"))
    args = parser.parse_args()
    root = args.dir.resolve() / "shops" / f"s{args.shops}-r{args.rows_per_shop}"
    ids = data(root / "exports", args.shops, args.rows_per_shop)
    path = config(root / "run", root / "exports", ids)
    results = {"shops": args.shops, "rows_per_shop": args.rows_per_shop}
    results["local"] = timed_run(path, "--engine", "local")
    for workers in (1, 2):
        results[f"cluster_start_{workers}"] = cluster_start(workers)
        results[f"dask_{workers}"] = timed_run(path, "--engine", "dask", "--workers", str(workers))
    local = results["local"]["wall"]
    rows = [("local", local)] + [
        (f"dask, {w} worker(s)", results[f"dask_{w}"]["wall"]) for w in (1, 2)
    ]
    print(f"{args.shops} shops x {args.rows_per_shop} order rows, all stages")
    print("| engine | wall s | shops per minute | vs local |")
    print("|---|---|---|---|")
    for name, wall in rows:
        print(f"| {name} | {wall:.1f} | {args.shops / wall * 60:.0f} | {wall / local:.2f}x |")
    for engine, start in (("local", 0.0), ("dask_1", results["cluster_start_1"])):
        run = results[engine]
        idle = run["run_seconds"] - run["shop_seconds"] - start
        results[f"{engine}_ms_per_shop"] = round(idle / args.shops * 1000, 1)
    starts = f"1 worker {results['cluster_start_1']} s, 2 workers {results['cluster_start_2']} s"
    print(f"cluster start: {starts}")
    print(
        "engine's own time per shop (run time - time in the shops - cluster start): "
        f"dask {results['dask_1_ms_per_shop']} ms, local {results['local_ms_per_shop']} ms"
    )
    out = args.dir / "shops-results.json"
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
