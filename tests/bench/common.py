"""What the peer scripts share: the period's window, the settlement policy and the
summary they print. Standard library only, so that each peer imports nothing but its
own engine (and this module)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import tomllib
from pathlib import Path
from typing import Any

LINE_TYPES = ("sale", "carry-over", "clawback")
REASONS = ("already-settled", "not-received", "received-after-window", "refunded", "after-sale")
TOTALS = ("income", "freight", "platform_fee", "commission", "net")
REFUNDED = r"退款成功|已全额退款"
CLOSED_STATUSES = ("售后关闭", "换货成功")
ALLIANCE = "精选联盟"
STATEMENT_COLUMNS = (
    "period", "settle_date", "line_type", "shop_id", "order_id", "sub_order_id", "product_id",
    "received_at", "payable", "freight", "platform_discount", "creator_discount",
    "payment_discount", "income", "fee_basis", "platform_fee_rate_bp", "platform_fee",
    "commission", "net",
)  # fmt: skip

#: The raw headers the peers read (as the generator writes them; the after-sales money
#: headers carry full-width brackets).
H = {
    "order_id": "主订单编号",
    "sub_order_id": "子订单编号",
    "product_id": "商品ID",
    "payable": "订单应付金额",
    "freight": "运费",
    "platform_discount": "平台实际承担优惠金额",
    "creator_discount": "达人实际承担优惠金额",
    "payment_discount": "支付优惠",
    "received_at": "订单完成时间",
    "order_status": "订单状态",
    "after_sale_status": "售后状态",
    "traffic_source": "流量来源",
    "shop_id": "店铺ID",
    # after-sales
    "as_sub_order_id": "商品单号",
    "as_status": "售后状态",
    "as_refund_goods": "退商品金额（元）",
    "as_refund_freight": "退运费金额（元）",
    "as_refund_method": "退款方式",
    # products
    "p_product_id": "商品ID",
    "p_category": "一级类目",
    # commissions
    "c_sub_order_id": "订单id",
    "c_commission": "预估佣金支出",
}

_PERIOD = re.compile(r"^(\d{4})-(\d{2})-H([12])$")


def window(period: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a period's receipt window, naive China time (domain.md S1)."""
    m = _PERIOD.match(period)
    if not m:
        raise SystemExit(f"bad period {period!r}: expected YYYY-MM-H1 or YYYY-MM-H2")
    year, month, half = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if half == 1:
        return dt.datetime(year, month, 1), dt.datetime(year, month, 16)
    nxt = dt.datetime(year + month // 12, month % 12 + 1, 1)
    return dt.datetime(year, month, 16), nxt


def load_policy(path: str | Path) -> dict[str, Any]:
    """The [settlement] rates of a policy file (or a bare settlement.toml)."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    section = data.get("settlement", data)
    return {
        "default_fee_bp": int(section["default_fee_bp"]),
        "fee_bp": {str(k): int(v) for k, v in section.get("fee_bp", {}).items()},
        "commission_bp": {str(k): int(v) for k, v in section.get("commission_bp", {}).items()},
    }


def peer_arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--orders", required=True)
    parser.add_argument("--after-sales", required=True)
    parser.add_argument("--products", required=True)
    parser.add_argument("--commissions", required=True)
    parser.add_argument("--period", required=True, help="YYYY-MM-H1 or YYYY-MM-H2")
    parser.add_argument("--policy", required=True, help="settlement.toml of the policy")
    parser.add_argument("--out", required=True, help="output folder")
    return parser.parse_args()


def summary(period: str, by_shop_type: list[tuple], by_shop_reason: list[tuple]) -> dict[str, Any]:
    """summary.json in doudian's shape (lines, excluded, totals; overall and per shop)
    from (shop, line_type, n, income, freight, platform_fee, commission, net) and
    (shop, reason, n) rows."""

    def block(types: list[tuple], reasons: list[tuple]) -> dict[str, Any]:
        lines = {t: 0 for t in LINE_TYPES}
        totals = {c: 0 for c in TOTALS}
        for _, line_type, n, *sums in types:
            lines[line_type] += int(n)
            for c, v in zip(TOTALS, sums, strict=True):
                totals[c] += int(v or 0)
        excluded = {r: 0 for r in REASONS}
        for _, reason, n in reasons:
            excluded[reason] += int(n)
        return {"lines": lines, "excluded": excluded, "totals": totals}

    start, end = window(period)
    shops = sorted({r[0] for r in by_shop_type} | {r[0] for r in by_shop_reason}, key=str)
    return {
        "period": period,
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        **block(by_shop_type, by_shop_reason),
        "per_shop": [
            {
                "shop_id": shop,
                **block(
                    [r for r in by_shop_type if r[0] == shop],
                    [r for r in by_shop_reason if r[0] == shop],
                ),
            }
            for shop in shops
        ],
    }


def write_summary(out: str | Path, data: dict[str, Any]) -> None:
    path = Path(out) / "summary.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
