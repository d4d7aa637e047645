"""The peer a data engineer would write: the settlement of one period (first run, no
ledger: domain.md S2.2-S2.6 and S4) as ONE DuckDB SQL query over the raw export files.

    python -m tests.bench.duckdb_settle --orders orders.csv --after-sales after_sales.csv \
        --products products.csv --commissions commissions.csv --period 2026-10-H1 \
        --policy pipeline/policies/default/settlement.toml --out OUT

CSV files are read with every column as VARCHAR (Parquet copies hold the same text);
IDs lose their tab, money is parsed to fen with exact DECIMAL casts, times are naive
China time. The one query writes OUT/statement/ (one row per statement line) and
OUT/excluded/ (sub_order_id, shop_id, reason), as Parquet, in one pass (PARTITION_BY);
OUT/summary.json then holds doudian's totals, overall and per shop, for the check.
No validation beyond what the casts refuse; rows are not sorted.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from tests.bench.common import (
    ALLIANCE,
    CLOSED_STATUSES,
    REFUNDED,
    H,
    load_policy,
    peer_arguments,
    summary,
    window,
    write_summary,
)


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _source(path: str) -> str:
    if path.endswith(".parquet"):
        return f"read_parquet({_q(path)})"
    return f"read_csv({_q(path)}, header = true, all_varchar = true)"


def _case(column: str, mapping: dict[str, int], default: str) -> str:
    if not mapping:
        return default
    whens = " ".join(f"WHEN {_q(k)} THEN {int(v)}" for k, v in mapping.items())
    return f"CASE {column} {whens} ELSE {default} END"


MACROS = f"""
CREATE OR REPLACE MACRO id_(x) AS ltrim(x, chr(9));
CREATE OR REPLACE MACRO none_(x) AS NULLIF(NULLIF(x, '-'), '');
CREATE OR REPLACE MACRO fen(x) AS CAST(CAST(replace(none_(x), ',', '') AS DECIMAL(18, 2)) * 100 AS BIGINT);
CREATE OR REPLACE MACRO ts(x) AS strptime(none_(x), '%Y-%m-%d %H:%M:%S');
CREATE OR REPLACE MACRO half_up(num, den) AS
    CASE WHEN num < 0 THEN -((-num * 2 + den) // (den * 2)) ELSE (num * 2 + den) // (den * 2) END;
CREATE OR REPLACE MACRO as_state(status, method) AS
    CASE WHEN regexp_matches(status, {_q(REFUNDED)}) THEN 'refunded'
         WHEN status IN {tuple(CLOSED_STATUSES)!r} OR coalesce(method = '无需退款', false) THEN 'closed'
         ELSE 'open' END;
"""


def settlement_query(args, policy: dict) -> str:
    start, end = window(args.period)
    start_sql, end_sql = f"TIMESTAMP '{start}'", f"TIMESTAMP '{end}'"
    settle_date = f"DATE '{end.date()}'"
    rate = _case("category", policy["fee_bp"], str(policy["default_fee_bp"]))
    commission_rate = _case("product_id", policy["commission_bp"], "NULL")
    return f"""
WITH
orders AS (
    SELECT
        id_("{H["order_id"]}") AS order_id,
        id_("{H["sub_order_id"]}") AS sub_order_id,
        id_("{H["product_id"]}") AS product_id,
        none_("{H["shop_id"]}") AS shop_id,
        fen("{H["payable"]}") AS payable,
        coalesce(fen("{H["freight"]}"), 0) AS freight,
        coalesce(fen("{H["platform_discount"]}"), 0) AS platform_discount,
        coalesce(fen("{H["creator_discount"]}"), 0) AS creator_discount,
        coalesce(fen("{H["payment_discount"]}"), 0) AS payment_discount,
        ts("{H["received_at"]}") AS received_at,
        none_("{H["order_status"]}") AS order_status,
        none_("{H["after_sale_status"]}") AS after_sale_status,
        none_("{H["traffic_source"]}") AS traffic_source
    FROM {_source(args.orders)}
),
after_sales AS (
    SELECT
        sub_order_id,
        count(*) AS as_count,
        bool_or(state = 'refunded') AS has_refund,
        sum(CASE WHEN state = 'refunded' THEN coalesce(refund_goods, 0) ELSE 0 END) AS refund_goods,
        sum(CASE WHEN state = 'refunded' THEN coalesce(refund_freight, 0) ELSE 0 END) AS refund_freight,
        bool_or(state = 'open') AS any_open
    FROM (
        SELECT
            id_("{H["as_sub_order_id"]}") AS sub_order_id,
            as_state(none_("{H["as_status"]}"), none_("{H["as_refund_method"]}")) AS state,
            fen("{H["as_refund_goods"]}") AS refund_goods,
            fen("{H["as_refund_freight"]}") AS refund_freight
        FROM {_source(args.after_sales)}
    )
    GROUP BY sub_order_id
),
categories AS (
    SELECT id_("{H["p_product_id"]}") AS product_id, min(none_("{H["p_category"]}")) AS category
    FROM {_source(args.products)}
    GROUP BY 1
),
commissions AS (
    SELECT id_("{H["c_sub_order_id"]}") AS sub_order_id, fen("{H["c_commission"]}") AS file_commission
    FROM {_source(args.commissions)}
),
joined AS (
    SELECT
        o.*,
        c.category,
        m.file_commission,
        -- S2: with no after-sales row, a 售后状态 on the order counts as one application
        (a.sub_order_id IS NULL AND o.after_sale_status IS NOT NULL) AS fallback,
        as_state(o.after_sale_status, NULL) AS order_state,
        CASE WHEN fallback THEN 1 ELSE coalesce(a.as_count, 0) END AS as_count,
        CASE WHEN fallback THEN order_state = 'refunded' ELSE coalesce(a.has_refund, false) END AS has_refund,
        CASE WHEN fallback THEN (CASE WHEN order_state = 'refunded' THEN o.payable - o.freight ELSE 0 END)
             ELSE coalesce(a.refund_goods, 0) END AS refund_goods,
        CASE WHEN fallback THEN 0 ELSE coalesce(a.refund_freight, 0) END AS refund_freight,
        CASE WHEN fallback THEN order_state = 'open' ELSE coalesce(a.any_open, false) END AS any_open
    FROM orders o
    LEFT JOIN after_sales a USING (sub_order_id)
    LEFT JOIN categories c USING (product_id)
    LEFT JOIN commissions m USING (sub_order_id)
),
judged AS (
    SELECT *,
        -- S2.2-S2.7 on a first run: the ledger is empty and starts at the window start
        CASE
            WHEN order_status IS DISTINCT FROM '已完成' OR received_at IS NULL THEN 'not-received'
            WHEN received_at >= {end_sql} THEN 'received-after-window'
            WHEN has_refund AND refund_goods >= payable - freight THEN 'refunded'
            WHEN received_at >= {start_sql} AND as_count = 0 THEN 'sale'
            WHEN any_open OR (received_at >= {start_sql} AND as_count > 0) THEN 'after-sale'
            WHEN received_at >= {start_sql} THEN 'carry-over'
            ELSE 'already-settled'
        END AS outcome
    FROM joined
),
lines AS (
    SELECT *,
        CASE WHEN outcome = 'carry-over' THEN payable - refund_goods - refund_freight ELSE payable END AS line_payable,
        CASE WHEN outcome = 'carry-over' THEN freight - refund_freight ELSE freight END AS line_freight,
        line_payable + platform_discount + creator_discount + payment_discount AS income,
        income - line_freight AS fee_basis,
        {rate} AS rate_bp,
        half_up(fee_basis * rate_bp, 10000) AS platform_fee,
        coalesce(
            file_commission,
            CASE WHEN traffic_source = {_q(ALLIANCE)}
                 THEN half_up(fee_basis * ({commission_rate}), 10000) END,
            0
        ) AS commission
    FROM judged
)
SELECT
    CASE WHEN outcome IN ('sale', 'carry-over', 'clawback') THEN 'statement' ELSE 'excluded' END AS output,
    {_q(args.period)} AS period,
    {settle_date} AS settle_date,
    CASE WHEN output = 'statement' THEN outcome END AS line_type,
    shop_id, order_id, sub_order_id, product_id, received_at,
    CASE WHEN output = 'statement' THEN line_payable END AS payable,
    CASE WHEN output = 'statement' THEN line_freight END AS freight,
    CASE WHEN output = 'statement' THEN platform_discount END AS platform_discount,
    CASE WHEN output = 'statement' THEN creator_discount END AS creator_discount,
    CASE WHEN output = 'statement' THEN payment_discount END AS payment_discount,
    CASE WHEN output = 'statement' THEN income END AS income,
    CASE WHEN output = 'statement' THEN fee_basis END AS fee_basis,
    CASE WHEN output = 'statement' THEN rate_bp END AS platform_fee_rate_bp,
    CASE WHEN output = 'statement' THEN platform_fee END AS platform_fee,
    CASE WHEN output = 'statement' THEN commission END AS commission,
    CASE WHEN output = 'statement' THEN income - platform_fee - commission END AS net,
    CASE WHEN output = 'excluded' THEN outcome END AS reason
FROM lines
"""


def main() -> None:
    args = peer_arguments(__doc__.splitlines()[0])
    policy = load_policy(args.policy)
    out = Path(args.out)
    parts = out / "parts"
    shutil.rmtree(parts, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(MACROS)
    con.execute(
        f"COPY ({settlement_query(args, policy)}) TO {_q(str(parts))} "
        "(FORMAT parquet, PARTITION_BY (output), COMPRESSION zstd)"
    )
    statement = _q(str(parts / "output=statement" / "*.parquet"))
    excluded = _q(str(parts / "output=excluded" / "*.parquet"))
    by_shop_type = con.sql(
        f"SELECT shop_id, line_type, count(*), sum(income), sum(freight), sum(platform_fee), "
        f"sum(commission), sum(net) FROM read_parquet({statement}) GROUP BY ALL"
    ).fetchall()
    by_shop_reason = con.sql(
        f"SELECT shop_id, reason, count(*) FROM read_parquet({excluded}) GROUP BY ALL"
    ).fetchall()
    write_summary(out, summary(args.period, by_shop_type, by_shop_reason))


if __name__ == "__main__":
    main()
