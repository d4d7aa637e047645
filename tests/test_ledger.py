"""The settlement ledger (S7) through the real CLI: re-settling refused or marked stale,
a damaged ledger refused naming the file, a killed commit finished on the next run, and
the invariant (no sub-order stands settled in two periods, no refund clawed back twice)
over every order of reruns of three periods on generated exports."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from pipeline.demo.generator import generate
from pipeline.stages.settle.ledger import Ledger

REPO = Path(__file__).resolve().parent.parent
H1, H2, NOV = "2026-10-H1", "2026-10-H2", "2026-11-H1"


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Path:
    """Generated exports, plus `orders_old.csv`: an earlier export of the same orders in
    which a third of those received from 1 to 15 October were not yet received."""
    folder = tmp_path_factory.mktemp("exports")
    generate(folder, shops=1, orders=1200, seed=3)
    orders = pl.read_csv(folder / "orders.csv", infer_schema=False)
    received = pl.col("订单完成时间")
    late = (
        (received >= "2026-10-01") & (received < "2026-10-16") & (pl.int_range(pl.len()) % 3 == 0)
    )
    orders.with_columns(
        pl.when(late).then(pl.lit("已发货")).otherwise(pl.col("订单状态")).alias("订单状态"),
        pl.when(late).then(pl.lit("")).otherwise(received).alias("订单完成时间"),
    ).write_csv(folder / "orders_old.csv", include_bom=True)
    return folder


def settle(doudian, exports: Path, out: Path, period: str, orders: str = "orders.csv", *extra):
    return doudian(
        "settle", "--period", period, "--out", str(out), "--orders", str(exports / orders),
        "--after-sales", str(exports / "after_sales.csv"), "--products", str(exports / "products.csv"),
        *extra,
    )  # fmt: skip


def standing(out: Path) -> pl.DataFrame:
    """Every entry of the standing periods (the files directly in OUT/ledger)."""
    return pl.read_parquet(sorted((out / "ledger").glob("*.parquet")))


def assert_invariant(out: Path, refunded: pl.DataFrame) -> None:
    """No sub-order settled (sale or carry-over) in two standing periods; every
    clawback is of a sub-order settled in an earlier period; no sub-order has more
    refund accounted for than its refunded after-sales hold (nothing clawed back twice);
    and every file is the one the index recorded."""
    Ledger(out / "ledger")  # raises on any file that does not match the index
    entries = standing(out)
    settled = entries.filter(pl.col("line_type").is_in(["sale", "carry-over"]))
    assert settled["sub_order_id"].is_duplicated().sum() == 0
    claws = entries.filter(pl.col("line_type") == "clawback")
    first = settled.select("sub_order_id", pl.col("period").alias("settled_in"))
    joined = claws.join(first, on="sub_order_id", how="left")
    assert joined.filter(
        pl.col("settled_in").is_null() | (pl.col("settled_in") >= pl.col("period"))
    ).is_empty()
    accounted = entries.group_by("sub_order_id").agg(pl.col("refund_goods").sum())
    over = accounted.join(refunded, on="sub_order_id", how="left").filter(
        pl.col("refund_goods") > pl.col("refunded").fill_null(0)
    )
    assert over.is_empty()


@pytest.fixture(scope="module")
def refunded(exports, tmp_path_factory) -> pl.DataFrame:
    """Refunded goods (fen) per sub-order in the after-sales export, as validated."""
    from pipeline.validation.checker import validate_files

    out = tmp_path_factory.mktemp("v")
    validate_files(
        "after-sales", [str(exports / "after_sales.csv")], valid_path=out / "a.parquet",
        rejected_path=out / "r.csv", warnings_path=out / "w.csv",
    )  # fmt: skip
    frame = pl.read_parquet(out / "a.parquet")
    done = pl.col("after_sale_status").str.contains("退款成功|已全额退款")
    return frame.filter(done).group_by("sub_order_id").agg(pl.col("refund_goods").sum().alias("refunded"))  # fmt: skip


def test_resettling_an_earlier_period_is_refused_then_marks_later_ones_stale(
    doudian, exports, refunded, tmp_path
):
    out = tmp_path / "out"
    assert settle(doudian, exports, out, H1, "orders_old.csv").exit_code == 0
    assert settle(doudian, exports, out, H2).exit_code == 0
    index = (out / "ledger" / "index.json").read_bytes()
    h1 = (out / "settlement" / H1 / "statement.csv").read_bytes()

    # the corrected export: refused, nothing written
    again = settle(doudian, exports, out, H1)
    assert (again.exit_code, again.stderr) == (
        2,
        f"Error: {H1} is followed by settled periods ({H2}) that were settled from its entries: "
        "settling it again with other files would settle some sub-orders twice\n"
        "  hint: nothing was written; pass --resettle to settle it again and mark the later periods stale\n",
    )
    assert (out / "ledger" / "index.json").read_bytes() == index
    assert (out / "settlement" / H1 / "statement.csv").read_bytes() == h1
    assert_invariant(out, refunded)

    # the same files as before: the same entries, so nothing later is stale
    same = settle(doudian, exports, out, H1, "orders_old.csv")
    assert (same.exit_code, same.stderr) == (0, "")
    assert (out / "ledger" / "index.json").read_bytes() == index

    # --resettle: H1 settled from the corrected export, H2 stale and out of the ledger
    redo = settle(doudian, exports, out, H1, "orders.csv", "--resettle")
    assert (redo.exit_code, redo.stderr) == (
        0,
        f"warning: later periods were settled from the old {H1} and are now stale: {H2}; "
        "settle them again, in order\n",
    )
    summary = json.loads((out / "settlement" / H1 / "summary.json").read_text(encoding="utf-8"))
    assert summary["stale_periods"] == [H2]
    assert sorted(p.name for p in (out / "ledger").rglob("*.parquet")) == [f"{H1}.parquet", f"{H2}.parquet"]  # fmt: skip
    assert (out / "ledger" / "stale" / f"{H2}.parquet").is_file()
    index = json.loads((out / "ledger" / "index.json").read_text(encoding="utf-8"))["periods"]
    assert (index[H2]["stale"], index[H2]["file"]) == (True, f"stale/{H2}.parquet")
    assert_invariant(out, refunded)
    # the sub-orders that H2 had carried over now stand once, in H1
    old_h2 = pl.read_parquet(out / "ledger" / "stale" / f"{H2}.parquet")
    moved = set(old_h2.filter(pl.col("line_type") == "carry-over")["sub_order_id"]) & set(
        standing(out)["sub_order_id"]
    )
    assert len(moved) > 20

    # a later period cannot settle against a stale one
    nov = settle(doudian, exports, out, NOV)
    assert (nov.exit_code, nov.stderr) == (
        2,
        f"Error: {NOV} cannot be settled yet: earlier periods are stale ({H2}), settled from "
        "entries that have changed since\n"
        f"  hint: nothing was written; settle {H2} again first, in order\n",
    )
    assert not (out / "settlement" / NOV).exists()
    # H2 settled again stands again, its stale copy gone; then November goes ahead
    assert settle(doudian, exports, out, H2).exit_code == 0
    assert not (out / "ledger" / "stale" / f"{H2}.parquet").exists()
    assert settle(doudian, exports, out, NOV).exit_code == 0
    assert_invariant(out, refunded)


def test_every_order_of_reruns_keeps_the_invariant(doudian, exports, refunded, tmp_path):
    """Three periods settled from the old export, then re-settled from the corrected
    one in every order (refused where an earlier period is stale); the invariant holds
    after each step, and once the stale periods are settled again in order, the ledger
    and statements equal those of a clean run from the corrected export, byte for byte."""
    periods = (H1, H2, NOV)
    base, clean = tmp_path / "base", tmp_path / "clean"
    for period in periods:
        assert settle(doudian, exports, base, period, "orders_old.csv").exit_code == 0
        assert settle(doudian, exports, clean, period).exit_code == 0
    files = ("statement.parquet", "excluded.csv", "summary.json")
    expected = {
        **{p: (clean / "ledger" / f"{p}.parquet").read_bytes() for p in periods},
        **{(p, f): (clean / "settlement" / p / f).read_bytes() for p in periods for f in files},
    }
    for n, order in enumerate(itertools.permutations(periods)):
        out = tmp_path / f"order{n}"
        shutil.copytree(base, out)
        for period in order:
            run = settle(doudian, exports, out, period, "orders.csv", "--resettle")
            assert run.exit_code in (0, 2), run.stderr
            assert_invariant(out, refunded)
        for period in periods:
            index = Ledger(out / "ledger").index
            if index[period].stale or index[period].inputs != Ledger(clean / "ledger").index[period].inputs:  # fmt: skip
                assert settle(doudian, exports, out, period, "orders.csv", "--resettle").exit_code == 0  # fmt: skip
        assert_invariant(out, refunded)
        assert not (out / "ledger" / "stale").exists() or not any((out / "ledger" / "stale").iterdir())  # fmt: skip
        got = {
            **{p: (out / "ledger" / f"{p}.parquet").read_bytes() for p in periods},
            **{(p, f): (out / "settlement" / p / f).read_bytes() for p in periods for f in files},
        }
        stale_summaries = {k for k in got if k[1:] == ("summary.json",) and got[k] != expected[k]}
        # a summary keeps the stale periods its own run marked; everything else is equal
        for key in stale_summaries:
            a, b = json.loads(got[key]), json.loads(expected[key])
            assert a.pop("stale_periods") and not b.pop("stale_periods") and a == b
        assert {k: v for k, v in got.items() if k not in stale_summaries} == {
            k: v for k, v in expected.items() if k not in stale_summaries
        }, order


def _damage(ledger: Path, how: str) -> tuple[Path, str]:
    """Damage the ledger one way; (the file the message names, what it says)."""
    h1, h2 = ledger / f"{H1}.parquet", ledger / f"{H2}.parquet"
    if how == "rows removed":
        pl.read_parquet(h1).head(-100).write_parquet(h1)
    elif how == "truncated":
        h1.write_bytes(h1.read_bytes()[:500])
    elif how == "retyped":
        pl.read_parquet(h1).with_columns(pl.col("payable").cast(pl.Float64)).write_parquet(h1)
    elif how == "deleted":
        h1.unlink()
    elif how == "renamed":
        h2.rename(ledger / "2026-09-H2.parquet")
        return ledger / "2026-09-H2.parquet", (
            "not a file of this ledger (its index does not list it): a renamed or copied file? "
            "move it out of the ledger folder"
        )
    elif how == "index deleted":
        (ledger / "index.json").unlink()
        return ledger / "index.json", (
            f"missing, but the ledger holds {H1}.parquet, {H2}.parquet: without its index the "
            "ledger cannot be checked (a file edited, renamed or removed would go unseen)\n"
            "  hint: restore index.json from a backup of the output folder"
        )
    elif how == "index garbled":
        (ledger / "index.json").write_text("{", encoding="utf-8")
        return ledger / "index.json", (
            "not a readable ledger index (Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1))"
        )
    if how == "deleted":
        entries = json.loads((ledger / "index.json").read_text(encoding="utf-8"))
        n = entries["periods"][H1]["entries"]
        return h1, f"missing: the ledger's index lists it for {H1} ({n:,} entries)"
    return h1, (
        f"changed since it was written (its sha256 is not the one the ledger's index recorded "
        f"for {H1}): edited, truncated or replaced\n  hint: restore it from a backup of the output folder"
    )


@pytest.mark.parametrize(
    "how",
    [
        "rows removed",
        "truncated",
        "retyped",
        "deleted",
        "renamed",
        "index deleted",
        "index garbled",
    ],
)
def test_a_damaged_ledger_stops_settlement_naming_the_file(doudian, exports, tmp_path, how):
    out = tmp_path / "out"
    for period in (H1, H2):
        assert settle(doudian, exports, out, period).exit_code == 0
    path, message = _damage(out / "ledger", how)

    def state() -> list[tuple[Path, int]]:
        return sorted(
            (p, p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file() and p.name != ".doudian.lock"
        )  # fmt: skip

    before = state()
    run = settle(doudian, exports, out, NOV)
    assert (run.exit_code, run.stderr) == (1, f"Error: {path}: {message}\n")
    assert state() == before


def test_a_commit_killed_after_the_index_is_finished_by_the_next_run(exports, tmp_path):
    """Killed between the index (the commit point) and moving the files: the next run
    puts them where the index says; the result equals an uninterrupted run."""

    def cli(out: Path, period: str, *extra: str, fault: str | None = None):
        env = {k: v for k, v in os.environ.items() if k != "DOUDIAN_FAULT"}
        env |= {"DOUDIAN_FAULT": fault} if fault else {}
        command = [sys.executable, "-m", "pipeline", "settle", "--period", period, "--out", str(out),
                   "--orders", str(exports / "orders.csv"), "--after-sales", str(exports / "after_sales.csv"),
                   *extra]  # fmt: skip
        return subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )

    killed, clean = tmp_path / "killed", tmp_path / "clean"
    for out in (killed, clean):
        assert cli(out, H2).returncode == 0
    assert cli(clean, H1, "--resettle").returncode == 0
    run = cli(killed, H1, "--resettle", fault="ledger-committed")
    assert run.returncode == -signal.SIGKILL
    assert (killed / "ledger" / f".{H1}.parquet.pending").is_file()
    assert not (killed / "ledger" / "stale").exists()
    rerun = cli(killed, H1, "--resettle")
    assert rerun.returncode == 0, rerun.stderr

    def files(root: Path) -> dict[str, bytes]:
        return {
            str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".doudian.lock"
        }

    assert files(killed) == files(clean)
    assert sorted(files(clean)) == sorted(
        [f"ledger/{H1}.parquet", f"ledger/stale/{H2}.parquet", "ledger/index.json"]
        + [f"settlement/{p}/{f}" for p in (H1, H2) for f in ("excluded.csv", "statement.csv", "statement.parquet", "summary.json")]
        + [f"settlement/{p}/rejected/{k}.csv" for p in (H1, H2) for k in ("orders", "after-sales")]
        + [f"settlement/{p}/warnings/{k}.csv" for p in (H1, H2) for k in ("orders", "after-sales")]
    )  # fmt: skip
