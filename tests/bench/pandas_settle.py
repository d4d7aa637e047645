"""The same settlement as `duckdb_settle.py` in pandas, the way a pandas user would
write it for a file larger than comfortable: the small exports (after-sales, products,
commissions) read whole, the order export read in chunks of a million rows, each chunk
judged and priced with vectorized pandas/numpy, and the outputs appended chunk by chunk.

    python -m tests.bench.pandas_settle --orders orders.csv ... --period 2026-10-H1 \
        --policy pipeline/policies/default/settlement.toml --out OUT [--max-rows N]

CSV input only: pandas needs pyarrow (not a dependency here) to read or write Parquet.
So it writes OUT/statement.csv and OUT/excluded.csv, like doudian's CSV outputs, and
OUT/summary.json for the check. Money is read as float by the C parser (thousands=",")
and rounded to integer fen at once: exact for amounts with two decimals below 10**13
fen. `--max-rows` settles only the first N order rows (the fallback when the full file
does not fit in memory); the summary then says so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from tests.bench.common import (
    ALLIANCE,
    CLOSED_STATUSES,
    REFUNDED,
    STATEMENT_COLUMNS,
    TOTALS,
    H,
    load_policy,
    summary,
    window,
    write_summary,
)

CHUNK_ROWS = 1_000_000
NA = {"keep_default_na": False, "na_values": ["", "-"]}


def fen(values: pd.Series) -> pd.Series:
    """Yuan (float64 from the C parser) to integer fen; missing -> 0."""
    return (values.fillna(0) * 100).round().astype(np.int64)


def state(status: pd.Series, method: pd.Series | None) -> np.ndarray:
    refunded = status.str.contains(REFUNDED, regex=True, na=False).to_numpy(bool)
    closed = status.isin(CLOSED_STATUSES).to_numpy(bool)
    if method is not None:
        closed = closed | (method == "无需退款").fillna(False).to_numpy(bool)
    return np.select([refunded, closed], ["refunded", "closed"], "open")


def half_up(num: np.ndarray, den: int) -> np.ndarray:
    magnitude = (np.abs(num) * 2 + den) // (den * 2)
    return np.where(num < 0, -magnitude, magnitude)


def read_after_sales(path: str) -> pd.DataFrame:
    cols = [
        H["as_sub_order_id"],
        H["as_status"],
        H["as_refund_goods"],
        H["as_refund_freight"],
        H["as_refund_method"],
    ]
    raw = pd.read_csv(
        path, usecols=cols, encoding="utf-8-sig", thousands=",",
        dtype={H["as_sub_order_id"]: str, H["as_status"]: str, H["as_refund_method"]: str,
               H["as_refund_goods"]: np.float64, H["as_refund_freight"]: np.float64},
        **NA,
    )  # fmt: skip
    st = state(raw[H["as_status"]], raw[H["as_refund_method"]])
    refunded = st == "refunded"
    frame = pd.DataFrame(
        {
            "sub_order_id": raw[H["as_sub_order_id"]].str.lstrip("\t"),
            "as_count": 1,
            "has_refund": refunded,
            "refund_goods": np.where(refunded, fen(raw[H["as_refund_goods"]]), 0),
            "refund_freight": np.where(refunded, fen(raw[H["as_refund_freight"]]), 0),
            "any_open": st == "open",
        }
    )
    return frame.groupby("sub_order_id", sort=False).agg(
        as_count=("as_count", "sum"),
        has_refund=("has_refund", "any"),
        refund_goods=("refund_goods", "sum"),
        refund_freight=("refund_freight", "sum"),
        any_open=("any_open", "any"),
    )


def read_categories(path: str) -> pd.Series:
    raw = pd.read_csv(
        path, usecols=[H["p_product_id"], H["p_category"]], dtype=str, encoding="utf-8-sig", **NA
    )
    raw[H["p_product_id"]] = raw[H["p_product_id"]].str.lstrip("\t")
    return raw.dropna().groupby(H["p_product_id"])[H["p_category"]].min()


def read_commissions(path: str) -> pd.Series:
    raw = pd.read_csv(
        path, usecols=[H["c_sub_order_id"], H["c_commission"]], encoding="utf-8-sig", thousands=",",
        dtype={H["c_sub_order_id"]: str, H["c_commission"]: np.float64}, **NA,
    )  # fmt: skip
    ids = raw[H["c_sub_order_id"]].str.lstrip("\t")
    return pd.Series(fen(raw[H["c_commission"]]).to_numpy(), index=ids, name="file_commission")


def settle_chunk(
    raw: pd.DataFrame, after_sales, categories, commissions, policy, period, start, end
):
    o = pd.DataFrame(
        {
            "order_id": raw[H["order_id"]].str.lstrip("\t"),
            "sub_order_id": raw[H["sub_order_id"]].str.lstrip("\t"),
            "product_id": raw[H["product_id"]].str.lstrip("\t"),
            "shop_id": raw[H["shop_id"]],
            "payable": fen(raw[H["payable"]]),
            "freight": fen(raw[H["freight"]]),
            "platform_discount": fen(raw[H["platform_discount"]]),
            "creator_discount": fen(raw[H["creator_discount"]]),
            "payment_discount": fen(raw[H["payment_discount"]]),
            "received_at": pd.to_datetime(raw[H["received_at"]], format="%Y-%m-%d %H:%M:%S"),
            "order_status": raw[H["order_status"]],
            "after_sale_status": raw[H["after_sale_status"]],
            "traffic_source": raw[H["traffic_source"]],
        }
    )
    o = o.merge(after_sales, how="left", left_on="sub_order_id", right_index=True)
    o["category"] = o["product_id"].map(categories)
    o["file_commission"] = o["sub_order_id"].map(commissions)

    # S2: with no after-sales row, a 售后状态 on the order counts as one application
    fallback = (o["as_count"].isna() & o["after_sale_status"].notna()).to_numpy()
    order_state = state(o["after_sale_status"], None)
    payable, freight = o["payable"].to_numpy(), o["freight"].to_numpy()
    goods = payable - freight
    as_count = np.where(fallback, 1, o["as_count"].fillna(0).to_numpy(np.int64))
    has_refund = np.where(
        fallback, order_state == "refunded", o["has_refund"].fillna(False).to_numpy(bool)
    )
    refund_goods = np.where(
        fallback,
        np.where(order_state == "refunded", goods, 0),
        o["refund_goods"].fillna(0).to_numpy(np.int64),
    )
    refund_freight = np.where(fallback, 0, o["refund_freight"].fillna(0).to_numpy(np.int64))
    any_open = np.where(fallback, order_state == "open", o["any_open"].fillna(False).to_numpy(bool))

    received = o["received_at"]
    no_receipt = received.isna().to_numpy()
    after_end = (received >= end).to_numpy()
    in_window = (received >= start).to_numpy()
    done = (o["order_status"] == "已完成").fillna(False).to_numpy(bool)
    outcome = np.select(
        [
            ~done | no_receipt,
            after_end,
            has_refund & (refund_goods >= goods),
            in_window & (as_count == 0),
            any_open | (in_window & (as_count > 0)),
            in_window,  # the ledger starts at the window start on a first run
        ],
        ["not-received", "received-after-window", "refunded", "sale", "after-sale", "carry-over"],
        "already-settled",
    )
    carry = outcome == "carry-over"
    line_payable = np.where(carry, payable - refund_goods - refund_freight, payable)
    line_freight = np.where(carry, freight - refund_freight, freight)
    income = (
        line_payable
        + o["platform_discount"].to_numpy()
        + o["creator_discount"].to_numpy()
        + o["payment_discount"].to_numpy()
    )
    fee_basis = income - line_freight
    rate = o["category"].map(policy["fee_bp"]).fillna(policy["default_fee_bp"]).to_numpy(np.int64)
    platform_fee = half_up(fee_basis * rate, 10_000)
    commission_rate = o["product_id"].map(policy["commission_bp"]).to_numpy(np.float64)
    alliance = (o["traffic_source"] == ALLIANCE).fillna(False).to_numpy(bool)
    has_rate = alliance & ~np.isnan(commission_rate)
    by_rate = np.where(
        has_rate, half_up(fee_basis * np.nan_to_num(commission_rate).astype(np.int64), 10_000), 0
    )
    file_commission = o["file_commission"].to_numpy(np.float64)
    commission = np.where(
        np.isnan(file_commission), by_rate, np.nan_to_num(file_commission)
    ).astype(np.int64)

    o = o.assign(
        period=period, settle_date=end.date().isoformat(), line_type=outcome, payable=line_payable,
        freight=line_freight, income=income, fee_basis=fee_basis, platform_fee_rate_bp=rate,
        platform_fee=platform_fee, commission=commission, net=income - platform_fee - commission,
    )  # fmt: skip
    is_line = np.isin(outcome, ["sale", "carry-over", "clawback"])
    lines = o.loc[is_line, list(STATEMENT_COLUMNS)]
    excluded = o.loc[~is_line, ["sub_order_id", "shop_id", "line_type"]].rename(
        columns={"line_type": "reason"}
    )
    return lines, excluded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in (
        "--orders",
        "--after-sales",
        "--products",
        "--commissions",
        "--period",
        "--policy",
        "--out",
    ):
        parser.add_argument(name, required=True)
    parser.add_argument(
        "--max-rows", type=int, default=None, help="settle only the first N order rows"
    )
    args = parser.parse_args()
    if not args.orders.endswith(".csv"):
        sys.exit("pandas_settle.py reads CSV only (Parquet needs pyarrow, not installed)")
    policy = load_policy(args.policy)
    start, end = (pd.Timestamp(t) for t in window(args.period))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    after_sales = read_after_sales(args.after_sales)
    categories = read_categories(args.products)
    commissions = read_commissions(args.commissions)
    money = [
        H[n]
        for n in ("payable", "freight", "platform_discount", "creator_discount", "payment_discount")
    ]
    text = [H[n] for n in ("order_id", "sub_order_id", "product_id", "shop_id", "received_at",
                           "order_status", "after_sale_status", "traffic_source")]  # fmt: skip
    reader = pd.read_csv(
        args.orders, usecols=money + text, encoding="utf-8-sig", thousands=",",
        dtype={**{c: str for c in text}, **{c: np.float64 for c in money}},
        chunksize=CHUNK_ROWS, nrows=args.max_rows, **NA,
    )  # fmt: skip
    type_parts, reason_parts = [], []
    rows = 0
    with (
        open(out / "statement.csv", "w", encoding="utf-8-sig", newline="") as st,
        open(out / "excluded.csv", "w", encoding="utf-8-sig", newline="") as ex,
    ):
        for i, chunk in enumerate(reader):
            rows += len(chunk)
            lines, excluded = settle_chunk(
                chunk, after_sales, categories, commissions, policy, args.period, start, end
            )
            lines.to_csv(st, index=False, header=i == 0, date_format="%Y-%m-%d %H:%M:%S")
            excluded.to_csv(ex, index=False, header=i == 0)
            type_parts.append(
                lines.groupby(["shop_id", "line_type"]).agg(
                    n=("net", "size"), **{c: (c, "sum") for c in TOTALS}
                )
            )
            reason_parts.append(excluded.groupby(["shop_id", "reason"]).size().rename("n"))
    by_type = pd.concat(type_parts).groupby(level=[0, 1]).sum() if type_parts else pd.DataFrame()
    by_reason = pd.concat(reason_parts).groupby(level=[0, 1]).sum() if reason_parts else pd.Series()
    data = summary(
        args.period,
        [
            (*k, *v)
            for k, v in zip(by_type.index, by_type.itertuples(index=False, name=None), strict=True)
        ],
        [(*k, v) for k, v in by_reason.items()],
    )
    data["input_rows"] = rows
    if args.max_rows is not None:
        data["max_rows"] = args.max_rows
    write_summary(out, data)


if __name__ == "__main__":
    main()
