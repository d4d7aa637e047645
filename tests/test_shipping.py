"""`doudian shipping-mode` and `doudian check tiered-shipping` (domain.md 6, issue 4).

The fixtures in fixtures/shipping/ are written out by hand (fixtures/shipping/README.md;
rules: docs/shipping.md); every expected value below is worked out from those rows by
hand:

orders.csv, --as-of 2026-11-01: window [2026-09-02 00:00, 2026-11-01 00:00) China time.
24 paid sub-orders in it, 14 spot: F 5 (one exactly 48 h, one paid at 00:00 of the first
day), I 2, D 3 (one 已关闭: still paid), J 1 (paid 23:59:59 of the last day), A 1, B 1,
E 1; 10 non-spot: A 2, C 1, D 2, E 1, F 1 (48 h + 1 s), I 1 (no 承诺发货时间), X 2 (a
product not in the export). Outside: paid 1 s before the window, paid at its end, never
paid (待支付), paid in August. Share 14/24 = 0.58333: ok.

products.csv, 16 products (商品ID), stock per product:
  A ...0001 现货 7天 (2 SKUs, 10+20)   B ...0002 (16 digits) 现货 10天 (5)
  C ...0003 现货 40天 (100)            D ...0004 现货 3天 (50)
  E ...0005 定制 现货 45天 (8+4)       F ...0006 现货 2天       G ...0007 阶梯发货
  H ...0008 全款预售                   I ...0009 48小时 (2 SKUs) J ...0010 当日发
  K ...0011 SKUs 48小时 / 7天          L ...0012 承诺 `-`       M ...0013 库存 `-`, 5天
  N ...0014 现货 72小时 (12)           O ...0015 定制 次日发    P ...0016 发货模式 empty
Plan at floor 1/2: presale E (1 spot) leaves 13 spot; the share must keep 12 of 24, so 1
spot sub-order may still turn non-spot: C (0), N (0), B (1; 3710000000000002 is the
smallest ID numerically) are switched, A (1) and D (3) skipped; projected 12/24 = 0.5.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import polars as pl
import pytest
from conftest import FIXTURES

from pipeline.policy import load_policy
from pipeline.stages.shipping import plan as shipping

CST = ZoneInfo("Asia/Shanghai")
PRODUCTS = "fixtures/shipping/products.csv"
PRODUCTS_OK = "fixtures/shipping/products_ok.csv"
ORDERS = "fixtures/shipping/orders.csv"
ORDERS_REJECTED = "fixtures/shipping/orders_rejected.csv"
AS_OF = "2026-11-01"

# fmt: off
A, B, C, D = "3710000000000000001", "3710000000000002", "3710000000000000003", "3710000000000000004"
E, F, G, H = "3710000000000000005", "3710000000000000006", "3710000000000000007", "3710000000000000008"
I, J, K, L = "3710000000000000009", "3710000000000000010", "3710000000000000011", "3710000000000000012"  # noqa: E741
M, N, O, P = "3710000000000000013", "3710000000000000014", "3710000000000000015", "3710000000000000016"  # noqa: E741
# fmt: on
UNCHANGED = [F, G, H, I, J, O]

UPLOAD_HEADER = [
    "商品ID", "商品名称", "原发货模式", "原承诺发货时间", "新发货模式", "现货发货时效",
    "阶梯/预售发货天数", "现货库存", "阶梯库存", "变更原因",
]  # fmt: skip
OUTPUTS = ["upload.xlsx", "upload.csv", "payloads.jsonl", "skipped.csv", "summary.json"]


def read_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM, for Excel
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def tiered(
    pid: str, title: str, promise: str, days: int, spot: int, step: int, note: str = ""
) -> list[str]:
    return [
        pid, title, "现货发货", promise, "阶梯发货", "48小时", str(days), str(spot), str(step),
        f"现货承诺{promise}超过48小时，改阶梯发货{days}天{note}",
    ]  # fmt: skip


def presale(pid: str, title: str, promise: str, days: int, note: str = "") -> list[str]:
    return [
        pid, title, "现货发货", promise, "全款预售", "", str(days), "", "",
        f"定制商品，现货承诺{promise}超过48小时，改全款预售{days}天{note}",
    ]  # fmt: skip


ROW_B = tiered(B, "香薰蜡烛 雪松 200g", "10天", 10, 0, 5)
ROW_C = tiered(C, "复古陶瓷花瓶", "40天", 30, 0, 100, "（原40天按政策范围3-30天调整）")
ROW_E = presale(E, "定制刻字保温杯 500ml", "45天", 30, "（原45天按政策范围3-30天调整）")
ROW_N = tiered(N, "陶瓷餐盘 8寸", "72小时", 3, 0, 12)


class Shipping:
    """One `doudian shipping-mode` run and its outputs."""

    def __init__(
        self, doudian, out: Path, *args: str, products=PRODUCTS, orders=(ORDERS,), as_of=AS_OF
    ):
        order_args = [a for o in orders for a in ("--orders", o)]
        self.run = doudian(
            "shipping-mode",
            "--products",
            products,
            *order_args,
            "--as-of",
            as_of,
            "--out",
            out,
            *args,
        )
        self.dir = out / "shipping_mode"

    @property
    def summary(self) -> dict:
        return json.loads((self.dir / "summary.json").read_text(encoding="utf-8"))

    @property
    def upload(self) -> list[list[str]]:
        return read_csv(self.dir / "upload.csv")

    @property
    def skipped(self) -> list[tuple[str, str]]:
        rows = read_csv(self.dir / "skipped.csv")
        assert rows[0] == ["product_id", "reason"]
        return [tuple(r) for r in rows[1:]]

    @property
    def payloads(self) -> list[dict]:
        text = (self.dir / "payloads.jsonl").read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def ship(doudian, tmp_path):
    runs = iter(range(1000))

    def run(*args: str, **kw) -> Shipping:
        return Shipping(doudian, tmp_path / f"run{next(runs)}", *args, **kw)

    return run


def policy_file(tmp_path: Path, body: str, extends: str | None = None) -> str:
    path = tmp_path / f"policy{len(list(tmp_path.glob('policy*.toml')))}.toml"
    head = f'extends = "{extends}"\n' if extends else ""
    path.write_text(f"{head}[shipping]\n{body}\n", encoding="utf-8")
    return str(path)


# --- The default run, every output exactly ------------------------------------------------


def test_default_plan_exact(ship):
    s = ship()
    assert s.run.exit_code == 3, s.run.stderr  # some candidates were skipped
    assert s.run.stderr == ""
    assert s.run.stdout == (
        "spot share 0.5833: 14 spot of 24 paid sub-orders paid 2026-09-02 to 2026-10-31 "
        "(China time); status ok\n"
        "projected spot share 0.5000 (floor 0.5000)\n"
        "changed: 3 to 阶梯发货, 1 to 全款预售; skipped: 6 (inconsistent-skus 1, "
        "unknown-promise 1, unknown-ship-mode 1, unknown-stock 1, would-break-spot-share 2); "
        "unchanged: 6\n"
        f"written to {s.dir}\n"
    )
    assert (s.dir / "summary.json").read_text(encoding="utf-8") == json.dumps(
        {
            "changed": {"presale": 1, "tiered": 3},
            "projected_share": 0.5,
            "skipped": {
                "inconsistent-skus": 1,
                "unknown-promise": 1,
                "unknown-ship-mode": 1,
                "unknown-stock": 1,
                "would-break-spot-share": 2,
            },
            "spot_share": 0.5833,
            "status": "ok",
            "unchanged": 6,
        },
        ensure_ascii=False,
        indent=2,
    ) + "\n"
    assert s.upload == [UPLOAD_HEADER, ROW_B, ROW_C, ROW_E, ROW_N]  # numeric ID order
    assert s.skipped == [
        (A, "would-break-spot-share"),
        (D, "would-break-spot-share"),
        (K, "inconsistent-skus"),
        (L, "unknown-promise"),
        (M, "unknown-stock"),
        (P, "unknown-ship-mode"),
    ]
    assert (s.dir / "payloads.jsonl").read_text(encoding="utf-8") == (
        '{"delivery_delay_day":2,"presell_delay":10,"presell_type":2,"product_id":"3710000000000002","step_stock_num":5}\n'
        '{"delivery_delay_day":2,"presell_delay":30,"presell_type":2,"product_id":"3710000000000000003","step_stock_num":100}\n'
        '{"delivery_delay_day":null,"presell_delay":30,"presell_type":1,"product_id":"3710000000000000005","step_stock_num":null}\n'
        '{"delivery_delay_day":2,"presell_delay":3,"presell_type":2,"product_id":"3710000000000000014","step_stock_num":12}\n'
    )
    assert sorted(p.name for p in s.dir.iterdir() if p.is_file()) == sorted(OUTPUTS)
    assert shipping_findings(s.dir / "rejected" / "orders.csv") == []


def shipping_findings(path: Path) -> list[list[str]]:
    rows = read_csv(path)
    assert rows[0] == ["file", "row", "column", "value", "code", "message"]
    return rows[1:]


def test_json_option_prints_the_summary(ship):
    s = ship("--json")
    assert s.run.exit_code == 3
    assert json.loads(s.run.stdout) == s.summary


def test_every_product_ends_in_exactly_one_place(ship):
    """Products counted from the fixture without the pipeline: changed + skipped +
    unchanged = products, and each product is in exactly one of them."""
    with open(FIXTURES / "shipping" / "products.csv", encoding="utf-8-sig", newline="") as fh:
        product_ids = {row["商品ID"].lstrip("\t'") for row in csv.DictReader(fh)}
    assert len(product_ids) == 16
    s = ship()
    summary = s.summary
    changed = [r[0] for r in s.upload[1:]]
    skipped = [r[0] for r in s.skipped]
    assert len(set(changed)) == len(changed) == sum(summary["changed"].values()) == 4
    assert len(set(skipped)) == len(skipped) == sum(summary["skipped"].values()) == 6
    assert summary["unchanged"] == len(UNCHANGED) == 6
    assert not set(changed) & set(skipped) and not (set(changed) | set(skipped)) & set(UNCHANGED)
    assert set(changed) | set(skipped) | set(UNCHANGED) == product_ids
    assert len(changed) + len(skipped) + summary["unchanged"] == len(product_ids)
    assert [p["product_id"] for p in s.payloads] == changed


def test_upload_xlsx_read_back(ship):
    s = ship()
    book = openpyxl.load_workbook(s.dir / "upload.xlsx")
    assert book.sheetnames == ["批量修改发货模式"]
    rows = list(book.active.iter_rows())
    assert [c.value for c in rows[0]] == UPLOAD_HEADER
    assert len(rows) == 5
    for cells, expected in zip(rows[1:], [ROW_B, ROW_C, ROW_E, ROW_N], strict=True):
        pid = cells[0]
        assert pid.data_type == "s" and pid.value == expected[0]  # an ID as text, all digits
        values = [c.value for c in cells]
        assert values[:6] == [v or None for v in expected[:6]]
        assert values[6] == int(expected[6]) and cells[6].data_type == "n"
        assert values[7:9] == [int(v) if v else None for v in expected[7:9]]
        assert values[9] == expected[9]


def test_payload_fields_mean_what_domain_md_says(ship):
    """presell_type 0 spot / 1 presale / 2 tiered; delivery_delay_day 9999 当日发, 1 次日发,
    2 48小时 (the spot part of a tiered product); presell_delay the days; step stock the
    tiered stock; one object per product with sorted keys, in numeric ID order."""
    s = ship("--spot-stock", "10")
    assert shipping.PRESELL_TYPE == {"现货发货": 0, "全款预售": 1, "阶梯发货": 2}
    assert shipping.DELIVERY_DELAY_DAY == {"当日发": 9999, "次日发": 1, "48小时": 2}
    text = (s.dir / "payloads.jsonl").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert text.endswith("\n") and len(lines) == 4
    upload = {r[0]: r for r in s.upload[1:]}
    for line, payload in zip(lines, s.payloads, strict=True):
        assert list(payload) == sorted(payload) == [
            "delivery_delay_day", "presell_delay", "presell_type", "product_id", "step_stock_num",
        ]  # fmt: skip
        assert json.loads(line) == payload
        row = upload[payload["product_id"]]
        assert payload["presell_type"] == shipping.PRESELL_TYPE[row[4]]
        assert payload["presell_delay"] == int(row[6])
        if row[4] == "阶梯发货":
            assert payload["delivery_delay_day"] == shipping.DELIVERY_DELAY_DAY[row[5]] == 2
            assert payload["step_stock_num"] == int(row[8])
        else:
            assert payload["delivery_delay_day"] is None and payload["step_stock_num"] is None
    assert [(p["product_id"], p["step_stock_num"]) for p in s.payloads] == [
        (B, 0), (C, 90), (E, None), (N, 2),
    ]  # fmt: skip


def test_rerun_is_byte_identical(ship):
    first, second = ship(), ship()
    assert first.run.exit_code == second.run.exit_code == 3
    for name in [*OUTPUTS, "rejected/orders.csv", "rejected/products.csv"]:
        assert (first.dir / name).read_bytes() == (second.dir / name).read_bytes(), name


# --- Day ranges, spot stock, custom goods --------------------------------------------------


def test_seed_era_policy_clamps_to_2_15(ship):
    s = ship("--policy", "seed-era")
    assert s.run.exit_code == 3
    assert s.upload[1:] == [
        ROW_B,
        tiered(C, "复古陶瓷花瓶", "40天", 15, 0, 100, "（原40天按政策范围2-15天调整）"),
        presale(E, "定制刻字保温杯 500ml", "45天", 15, "（原45天按政策范围2-15天调整）"),
        ROW_N,
    ]


def test_user_policy_clamps_days_up(ship, tmp_path):
    s = ship("--policy", policy_file(tmp_path, "tiered_days = [5, 30]\npresale_days = [50, 60]"))
    assert s.run.exit_code == 3, s.run.stderr
    assert s.upload[1:] == [
        ROW_B,
        tiered(C, "复古陶瓷花瓶", "40天", 30, 0, 100, "（原40天按政策范围5-30天调整）"),
        presale(E, "定制刻字保温杯 500ml", "45天", 50, "（原45天按政策范围50-60天调整）"),
        tiered(N, "陶瓷餐盘 8寸", "72小时", 5, 0, 12, "（原3天按政策范围5-30天调整）"),
    ]


@pytest.mark.parametrize(
    "args, stocks",
    [
        ([], [(B, "0", "5"), (C, "0", "100"), (N, "0", "12")]),
        (["--spot-stock", "10"], [(B, "5", "0"), (C, "10", "90"), (N, "10", "2")]),
        (["--spot-stock-ratio", "0.25"], [(B, "1", "4"), (C, "25", "75"), (N, "3", "9")]),
        (["--spot-stock-ratio", "1"], [(B, "5", "0"), (C, "100", "0"), (N, "12", "0")]),
    ],
)
def test_spot_stock(ship, args, stocks):
    s = ship(*args)
    assert s.run.exit_code == 3
    assert [(r[0], r[7], r[8]) for r in s.upload[1:] if r[4] == "阶梯发货"] == stocks


def test_spot_stock_ratio_from_policy(ship, tmp_path):
    s = ship("--policy", policy_file(tmp_path, "spot_stock_ratio = 0.5"))
    assert [(r[0], r[7], r[8]) for r in s.upload[1:] if r[4] == "阶梯发货"] == [
        (B, "2", "3"), (C, "50", "50"), (N, "6", "6"),
    ]  # fmt: skip


def test_custom_keywords_replace_the_policy_list(ship):
    """B (香薰) becomes presale too: 2 spot sub-orders leave with the presale switches,
    12 of 24 stay, so no spot sub-order may go: only C and N (0 each) are switched."""
    s = ship("--custom-keyword", "定制", "--custom-keyword", "香薰")
    assert s.run.exit_code == 3
    assert [(r[0], r[4], r[6]) for r in s.upload[1:]] == [
        (B, "全款预售", "10"), (C, "阶梯发货", "30"), (E, "全款预售", "30"), (N, "阶梯发货", "3"),
    ]  # fmt: skip
    assert s.summary["changed"] == {"presale": 2, "tiered": 2}
    assert s.summary["skipped"]["would-break-spot-share"] == 2
    assert s.summary["projected_share"] == 0.5
    # without 定制 in the list, E is not custom: it ties with A (1 spot each), and A has
    # the smaller ID
    s = ship("--custom-keyword", "香薰")
    assert [(r[0], r[4]) for r in s.upload[1:]] == [
        (B, "全款预售"), (A, "阶梯发货"), (C, "阶梯发货"), (N, "阶梯发货"),
    ]  # fmt: skip
    assert [p for p, r in s.skipped if r == "would-break-spot-share"] == [D, E]


def test_custom_categories_from_policy(ship, tmp_path):
    """Every 家居日用 candidate is custom: B, C, D and M (presale needs no stock) go
    presale with E; their 5 spot sub-orders leave 9 of 24, below the floor: A and N stay."""
    s = ship("--policy", policy_file(tmp_path, 'custom_categories = ["家居日用"]'))
    assert [(r[0], r[4], r[6]) for r in s.upload[1:]] == [
        (B, "全款预售", "10"), (C, "全款预售", "30"), (D, "全款预售", "3"),
        (E, "全款预售", "30"), (M, "全款预售", "5"),
    ]  # fmt: skip
    assert s.summary["changed"] == {"presale": 5, "tiered": 0}
    assert s.summary["projected_share"] == 0.375
    assert [p for p, r in s.skipped if r == "would-break-spot-share"] == [A, N]
    assert (L, "unknown-promise") in s.skipped and (P, "unknown-ship-mode") in s.skipped


def test_upload_text_is_formula_safe(ship, tmp_path):
    def formula_title(rows):
        at = rows[0].index("商品名称")
        return [rows[0]] + [
            r[:at] + ['=HYPERLINK("http://x")' if "花瓶" in r[at] else r[at]] + r[at + 1 :]
            for r in rows[1:]
        ]

    products = _rewrite(PRODUCTS_OK, tmp_path / "formula.csv", formula_title)
    s = ship(products=products)
    assert s.run.exit_code == 0
    assert s.upload[1][:2] == [C, '\'=HYPERLINK("http://x")']
    # in the workbook a text cell, as it was: shown, never run, no apostrophe
    cell = openpyxl.load_workbook(s.dir / "upload.xlsx").active.cell(2, 2)
    assert cell.data_type == "s" and cell.value == '=HYPERLINK("http://x")'


# --- The projection: exact fractions ------------------------------------------------------


@pytest.mark.parametrize(
    "floor, switched, projected",
    [
        # 13 spot after the presale switch; ceil(floor * 24) must stay
        ("0.5", [B, C, N], 0.5),  # 12 must stay: 1 may go
        ("0.54", [C, N], 0.5417),  # 12.96 -> 13 must stay: 0 may go
        ("13/24", [C, N], 0.5417),  # exactly 13: 0 may go (the bound is inclusive)
        ("0.5417", [], 0.5417),  # 13.0008 -> 14 must stay: even E's switch broke it
        ("0", [B, A, C, D, N], 0.3333),  # no floor: 13 - 5 = 8 of 24 stay
    ],
)
def test_min_share_is_exact(ship, floor, switched, projected):
    s = ship("--min-share", floor)
    assert s.run.exit_code == 3
    assert [r[0] for r in s.upload[1:] if r[4] == "阶梯发货"] == switched
    assert s.summary["projected_share"] == projected
    breaking = sorted({A, B, C, D, N} - set(switched), key=int)
    assert [p for p, reason in s.skipped if reason == "would-break-spot-share"] == breaking


def test_ineligible_shop_gets_no_tiered_switch(ship, tmp_path):
    s = ship("--policy", policy_file(tmp_path, "ok_share = 0.7\nwarning_share = 0.6"))
    assert s.run.exit_code == 4
    assert s.summary == {
        "changed": {"presale": 1, "tiered": 0},
        "projected_share": 0.5417,
        "skipped": {
            "inconsistent-skus": 1,
            "shop-ineligible": 6,
            "unknown-promise": 1,
            "unknown-ship-mode": 1,
        },
        "spot_share": 0.5833,
        "status": "ineligible",
        "unchanged": 6,
    }
    assert s.upload[1:] == [ROW_E]
    assert [p for p, r in s.skipped if r == "shop-ineligible"] == [B, A, C, D, M, N]


def test_warning_shop_exits_3(ship, tmp_path):
    """Status warning (14/24 < 0.6): the floor is then 0.55 and 13.2 -> 14 must stay."""
    s = ship(
        "--policy",
        policy_file(tmp_path, "ok_share = 0.6\nwarning_share = 0.55"),
        products=PRODUCTS_OK,
    )
    assert s.run.exit_code == 3
    assert s.summary == {
        "changed": {"presale": 1, "tiered": 0},
        "projected_share": 0.5417,
        "skipped": {"would-break-spot-share": 1},
        "spot_share": 0.5833,
        "status": "warning",
        "unchanged": 2,
    }


def test_every_candidate_changed_exits_0(ship):
    s = ship(products=PRODUCTS_OK)
    assert s.run.exit_code == 0, s.run.stdout + s.run.stderr
    assert s.run.stderr == ""
    assert s.summary == {
        "changed": {"presale": 1, "tiered": 1},
        "projected_share": 0.5417,
        "skipped": {},
        "spot_share": 0.5833,
        "status": "ok",
        "unchanged": 2,
    }
    assert s.upload[1:] == [ROW_C, ROW_E]
    assert s.skipped == []


def test_rejected_order_rows_exit_3(ship):
    """The rejected row is not counted; the valid one of that file is (15 of 25)."""
    s = ship(products=PRODUCTS_OK, orders=(ORDERS, ORDERS_REJECTED))
    assert s.run.exit_code == 3
    assert s.run.stderr == (f"rejected rows (not counted): orders 1; see {s.dir / 'rejected'}\n")
    assert [r[1:5] for r in shipping_findings(s.dir / "rejected" / "orders.csv")] == [
        ["2", "子订单编号", "6.95E+18", "id-scientific-notation"]
    ]
    assert s.summary["spot_share"] == 0.6 and s.summary["skipped"] == {}


def test_empty_window(ship):
    """No paid sub-order in the window: the share is undefined (null) and every bound
    holds (0 >= 0), so the shop is ok and every tiered candidate is switched."""
    s = ship("--min-share", "0.9", as_of="2027-06-01")
    assert s.run.exit_code == 3
    assert s.run.stdout.splitlines()[:2] == [
        "spot share n/a (no paid sub-orders in the window): 0 spot of 0 paid sub-orders paid "
        "2027-04-02 to 2027-05-31 (China time); status ok",
        "projected spot share n/a (no paid sub-orders in the window) (floor 0.9000)",
    ]
    assert s.summary == {
        "changed": {"presale": 1, "tiered": 5},
        "projected_share": None,
        "skipped": {
            "inconsistent-skus": 1,
            "unknown-promise": 1,
            "unknown-ship-mode": 1,
            "unknown-stock": 1,
        },
        "spot_share": None,
        "status": "ok",
        "unchanged": 6,
    }


# --- check tiered-shipping ----------------------------------------------------------------


CHECK_JSON = {
    "non_spot_sub_orders": 10,
    "spot_share": 0.5833,
    "spot_sub_orders": 14,
    "status": "ok",
    "window_end": "2026-11-01T00:00:00+08:00",
    "window_start": "2026-09-02T00:00:00+08:00",
}


@pytest.mark.parametrize(
    "policy, status, code",
    [
        (None, "ok", 0),
        ('ok_share = "7/12"', "ok", 0),  # 14/24 is exactly 7/12: inclusive
        ("ok_share = 0.5834", "warning", 3),
        ('ok_share = 0.6\nwarning_share = "7/12"', "warning", 3),
        ("ok_share = 0.6\nwarning_share = 0.5834", "ineligible", 4),
    ],
)
def test_check_tiered_shipping(doudian, tmp_path, policy, status, code):
    args = ["--policy", policy_file(tmp_path, policy)] if policy else []
    run = doudian("check", "tiered-shipping", "--orders", ORDERS, "--as-of", AS_OF, "--json", *args)
    assert run.exit_code == code, run.stderr
    assert run.stderr == ""
    assert run.stdout == json.dumps({**CHECK_JSON, "status": status}, indent=2) + "\n"


def test_check_text_and_rejected_rows(doudian, tmp_path):
    args = [
        "check",
        "tiered-shipping",
        "--orders",
        ORDERS,
        "--orders",
        ORDERS_REJECTED,
        "--as-of",
        AS_OF,
    ]
    run = doudian(*args)
    assert run.exit_code == 0
    assert run.stdout == (
        "spot share 0.6000: 15 spot of 25 paid sub-orders paid 2026-09-02 to 2026-10-31 "
        "(China time); status ok\n"
    )
    assert run.stderr == "rejected rows (not counted): orders 1; pass --out DIR to see them\n"
    run = doudian(*args, "--out", tmp_path / "check")
    rejected = tmp_path / "check" / "tiered_shipping" / "rejected"
    assert run.stderr == f"rejected rows (not counted): orders 1; see {rejected}\n"
    assert [r[1:5] for r in shipping_findings(rejected / "orders.csv")] == [
        ["2", "子订单编号", "6.95E+18", "id-scientific-notation"]
    ]


def test_check_empty_window(doudian):
    run = doudian("check", "tiered-shipping", "--orders", ORDERS, "--as-of", "2027-06-01", "--json")
    assert run.exit_code == 0
    assert run.json() == {
        "non_spot_sub_orders": 0,
        "spot_share": None,
        "spot_sub_orders": 0,
        "status": "ok",
        "window_end": "2027-06-01T00:00:00+08:00",
        "window_start": "2027-04-02T00:00:00+08:00",
    }


def test_window_days_from_policy(doudian, tmp_path):
    """A 30-day window [2026-10-02, 2026-11-01): F 2 + I 1 + J 1 + D 1 + E 1 spot of
    F 1 + A 1 + D 1 + I 1 + X 1 non-spot."""
    run = doudian(
        "check", "tiered-shipping", "--orders", ORDERS, "--as-of", AS_OF, "--json",
        "--policy", policy_file(tmp_path, "window_days = 30"),
    )  # fmt: skip
    assert run.json() == {
        **CHECK_JSON,
        "non_spot_sub_orders": 5,
        "spot_share": 0.5455,
        "spot_sub_orders": 6,
        "status": "warning",
        "window_start": "2026-10-02T00:00:00+08:00",
    }
    assert run.exit_code == 3


# --- Usage and input errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--spot-stock", "3", "--spot-stock-ratio", "0.5"],
            "Error: --spot-stock and --spot-stock-ratio cannot be used together\n",
        ),
        (
            ["--min-share", "1.5"],
            "Error: --min-share 1.5: must be a share between 0 and 1 (e.g. 0.5)\n",
        ),
        (
            ["--min-share", "half"],
            "Error: --min-share half: must be a share between 0 and 1 (e.g. 0.5)\n",
        ),
        (
            ["--spot-stock-ratio", "-0.1"],
            "Error: --spot-stock-ratio -0.1: must be a share between 0 and 1 (e.g. 0.5)\n",
        ),
        (["--custom-keyword", " "], "Error: --custom-keyword: must not be empty\n"),
        (["--policy", "nope"], "Error: --policy nope: no such file, and not a shipped policy "),
    ],
)
def test_usage_errors_before_reading(ship, args, message):
    s = ship(*args)
    assert s.run.exit_code == 2
    assert s.run.stdout == ""
    assert s.run.stderr.startswith(message)
    assert not s.dir.exists()  # nothing read, nothing written


@pytest.mark.parametrize(
    "body, message",
    [
        (
            "tiered_days = [30, 3]",
            "tiered_days: must be [min, max] whole days with 1 <= min <= max, not [30, 3]",
        ),
        (
            "presale_days = [0, 15]",
            "presale_days: must be [min, max] whole days with 1 <= min <= max, not [0, 15]",
        ),
        ("ok_share = 1.2", "ok_share: must be a share between 0 and 1, not 1.2"),
        ("warning_share = 0.6", "warning_share: must not be above ok_share"),
        ("window_days = 0", "window_days: must be a whole number >= 1, not 0"),
        ("spot_stock = -1", "spot_stock: must be a whole number >= 0, not -1"),
        ('custom_keywords = [""]', "custom_keywords: must be a list of non-empty texts, not ['']"),
        ("min_share = 0.5", "min_share: unknown key (known: "),
    ],
)
def test_bad_policy(ship, tmp_path, body, message):
    path = policy_file(tmp_path, body)
    s = ship("--policy", path)
    assert s.run.exit_code == 2
    assert s.run.stderr.startswith(f"Error: --policy {path}: [shipping] {message}")
    assert not s.dir.exists()


def test_missing_as_of_is_a_click_usage_error(doudian, tmp_path):
    run = doudian("shipping-mode", "--products", PRODUCTS, "--orders", ORDERS, "--out", tmp_path)
    assert run.exit_code == 2
    assert "Missing option '--as-of'" in run.stderr


def _rewrite(src: str, dest: Path, change) -> str:
    with open(FIXTURES.parent / src, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    rows = change(rows)
    with open(dest, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return str(dest)


def test_several_shops_are_refused(ship, tmp_path):
    def two_shops(rows):
        return [rows[0] + ["店铺ID"]] + [
            r + ["shop-a" if i % 2 else "shop-b"] for i, r in enumerate(rows[1:])
        ]

    orders = _rewrite(ORDERS, tmp_path / "two_shops.csv", two_shops)
    s = ship(orders=(orders,))
    assert s.run.exit_code == 1
    assert s.run.stderr == (
        "Error: the files hold 2 shops (shop-a, shop-b): the spot share is per shop\n"
        "  hint: run once per shop with that shop's files\n"
    )
    assert not (s.dir / "summary.json").exists()


def test_product_export_without_ship_mode(ship, tmp_path):
    def drop_mode(rows):
        at = rows[0].index("发货模式")
        return [r[:at] + r[at + 1 :] for r in rows]

    products = _rewrite(PRODUCTS, tmp_path / "no_mode.csv", drop_mode)
    s = ship(products=products)
    assert s.run.exit_code == 1
    assert s.run.stderr == (
        "Error: products: no row has a 发货模式: shipping-mode needs the 发货模式 and "
        "承诺发货时间 columns of the 商品导出\n"
        "  hint: export the products again with those columns\n"
    )


# --- The stage functions on tiny frames -----------------------------------------------------

POLICY = shipping.ShippingPolicy.from_section("default", load_policy().section("shipping"))
NOW = dt.date(2026, 11, 1)


def t(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CST)


def orders_frame(rows: list[tuple[str, str | None, str | None]]) -> pl.LazyFrame:
    """(product_id, paid_at, promised_ship_at) rows."""
    ts = pl.Datetime("us", "Asia/Shanghai")
    return pl.DataFrame(
        {
            "product_id": [r[0] for r in rows],
            "paid_at": [t(r[1]) if r[1] else None for r in rows],
            "promised_ship_at": [t(r[2]) if r[2] else None for r in rows],
        },
        schema={"product_id": pl.String, "paid_at": ts, "promised_ship_at": ts},
    ).lazy()


def products_frame(rows: list[tuple[str, str, str | None, str | None, int | None]]) -> pl.LazyFrame:
    """(product_id, title, ship_mode, promise, stock) SKU rows."""
    names = ["product_id", "product_title", "ship_mode", "promise", "stock"]
    frame = pl.DataFrame(
        rows, schema=dict(zip(names, [pl.String] * 4 + [pl.Int64], strict=True)), orient="row"
    )
    return frame.with_columns(pl.lit(None, pl.String).alias("category")).lazy()


def test_window_and_48_hours_exactly():
    orders = orders_frame(
        [
            ("1", "2026-09-02 00:00:00", "2026-09-04 00:00:00"),  # first instant, 48 h: spot
            ("2", "2026-10-31 23:59:59", "2026-11-02 23:59:59"),  # last instant, 48 h: spot
            ("3", "2026-10-01 00:00:00", "2026-10-03 00:00:01"),  # 48 h + 1 s: not spot
            ("4", "2026-10-01 00:00:00", None),  # no promise: not spot
            ("5", "2026-09-01 23:59:59", "2026-09-02 00:00:00"),  # before the window
            ("6", "2026-11-01 00:00:00", "2026-11-01 00:00:00"),  # the window's end: out
            ("7", None, None),  # never paid
        ]
    )
    got = shipping.window_orders(orders, NOW, POLICY).collect().rows()
    assert got == [("1", True), ("2", True), ("3", False), ("4", False)]
    share = shipping.measure(orders, NOW, POLICY)
    assert (share.spot, share.total, share.status) == (2, 4, "warning")  # 1/2: the warning line
    assert shipping.window(NOW, 60) == (
        dt.datetime(2026, 9, 2, tzinfo=CST),
        dt.datetime(2026, 11, 1, tzinfo=CST),
    )


@pytest.mark.parametrize(
    "spot, total, status",
    [(11, 20, "ok"), (54, 100, "warning"), (549999, 1000000, "warning"), (1, 2, "warning"),
     (49999, 100000, "ineligible"), (0, 0, "ok"), (0, 1, "ineligible")],
)  # fmt: skip
def test_status_bounds_are_exact(spot, total, status):
    assert shipping.share_status(spot, total, POLICY) == status


@pytest.mark.parametrize(
    "spot, total, rounded",
    [
        (14, 24, 0.5833),
        (1, 32, 0.0313),
        (3, 32, 0.0938),
        (2, 3, 0.6667),
        (1, 1, 1.0),
        (0, 5, 0.0),
        (0, 0, None),
    ],
)
def test_rounded_share_half_up(spot, total, rounded):
    assert shipping.rounded_share(spot, total) == rounded


def test_parse_share():
    assert shipping.parse_share(0.55) == Fraction(11, 20)
    assert shipping.parse_share("0.5417") == Fraction(5417, 10000)
    assert shipping.parse_share("7/12") == Fraction(7, 12)
    assert POLICY.ok_share == Fraction(55, 100) and POLICY.warning_share == Fraction(1, 2)
    assert shipping.parse_share("-0") == 0 and shipping.parse_share(1) == 1
    for bad in ("1.01", "-0.01", "x", "1/0", True, None):
        with pytest.raises(ValueError):
            shipping.parse_share(bad)


def test_budget_ties_and_presale_below_the_floor():
    """4 spot of 6. Floor 1/2 keeps 3: presale ...19 takes 2, so nothing more may go;
    even ...20 with no spot sub-order is then skipped (the projected share would not be
    >= the floor). Without the presale product 1 may go: the smaller ID of a tie wins."""
    p11, p12, p19, p20 = (f"10000000000000000{n}" for n in (11, 12, 19, 20))
    spot = ("2026-10-01 10:00:00", "2026-10-02 10:00:00")
    orders = orders_frame(
        [(p11, *spot), (p12, *spot), (p19, *spot), (p19, *spot)]
        + [("1000000000000000099", "2026-10-01 10:00:00", None)] * 2
    )
    products = [
        (p12, "b", "现货发货", "7天", 1),
        (p11, "a", "现货发货", "7天", 1),
        (p20, "c", "现货发货", "9天", 1),
        (p19, "定制 d", "现货发货", "9天", 1),
    ]
    result = shipping.plan(products_frame(products), orders, NOW, POLICY)
    assert result.products.select("product_id", "spot_sub_orders", "outcome", "reason").rows() == [
        (p11, 1, "skipped", "would-break-spot-share"),
        (p12, 1, "skipped", "would-break-spot-share"),
        (p19, 2, "presale", None),
        (p20, 0, "skipped", "would-break-spot-share"),
    ]
    assert (result.share.spot, result.share.total, result.projected_spot) == (4, 6, 2)
    result = shipping.plan(products_frame(products[:3]), orders, NOW, POLICY)
    assert result.products.select("product_id", "spot_sub_orders", "outcome").rows() == [
        (p11, 1, "tiered"),
        (p12, 1, "skipped"),
        (p20, 0, "tiered"),
    ]
    assert result.projected_share == 0.5
