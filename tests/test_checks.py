"""`doudian check alliance | deposit | reopen` (domain.md 8, issue 6) through the real CLI.

Expected values are written out by hand from the seed's rules and the fixture rows in
fixtures/checks/ (calendar facts checked against a calendar: 2025-08-31 is a Sunday,
2024 is a leap year, 2026 is not), not computed by the code under test.
"""

from __future__ import annotations

import csv
import json
import tomllib

import polars as pl
import pytest
from conftest import FIXTURES, REPO, read_findings

CHECKS = FIXTURES / "checks"
METRICS_HEADER = (
    "店铺ID,店铺评分,近60天好评率,有效评价数,店铺状态,账户状态,近365天违规次数,近30天成交金额"
)
NOTE = (
    "reopen: 6 calendar months after closure (the month's last day when shorter); refund: by "
    "the 7th working day after closure, when there is no penalty record, no arrears and payouts "
    "are settled"
)


def fx(name: str) -> str:
    return f"fixtures/checks/{name}"


def write(path, text: str, encoding: str = "utf-8-sig"):
    path.write_text(text, encoding=encoding)
    return path


def read_csv(path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def metrics_row(tmp_path, row: str):
    return write(tmp_path / "metrics.csv", f"{METRICS_HEADER}\nX1,{row}\n")


# --- exact reading of 店铺评分 and 好评率 --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hundredths"),
    [
        ("4.5", 450), ("4.50", 450), ("4.500", 450), ("4.49", 449), ("4.51", 451), ("5", 500),
        ("5.00", 500), ("0", 0), ("4.499", None), ("4.501", None), ("5.01", None), ("6", None),
        ("-1", None), ("4.", None), ("4.5分", None), ("４.5", None),
    ],
)  # fmt: skip
def test_dsr_is_read_in_exact_hundredths(text, hundredths):
    from schemas.metrics import score_hundredths

    got = pl.select(score_hundredths(pl.lit(text))).item()
    assert got == hundredths


@pytest.mark.parametrize(
    ("text", "bp"),
    [
        ("80%", 8000), ("80.00%", 8000), ("80.000%", 8000), ("79.99%", 7999), ("80.01%", 8001),
        ("85.5 %", 8550), ("85％", 8500), ("100%", 10000), ("0%", 0), ("0.8", 8000),
        ("0.80", 8000), ("0.8000", 8000), ("0.7999", 7999), ("0.85", 8500), ("1", 10000),
        ("1.0", 10000), ("0", 0), ("79.995%", None), ("0.79995", None), ("85", None),
        ("1.5", None), ("100.01%", None), (".85", None), ("85 percent", None),
    ],
)  # fmt: skip
def test_good_rate_is_read_in_exact_basis_points(text, bp):
    from schemas.metrics import rate_bp

    assert pl.select(rate_bp(pl.lit(text))).item() == bp


# --- alliance: every threshold on its boundary -------------------------------------------
# row: 店铺评分,近60天好评率,有效评价数,店铺状态,账户状态,近365天违规次数,近30天成交金额


@pytest.mark.parametrize(
    ("row", "result", "failed", "warnings"),
    [
        ("4.5,80.00%,21,正常,正常,0,0.01", "formal", [], []),
        ("4.50,0.8,21,正常,正常,0,0.01", "formal", [], []),
        ("4.5,80%,20,正常,正常,0,0.01", "trial", [], []),
        ("4.5,80%,0,正常,正常,0,0.01", "trial", [], []),
        ("4.49,80%,21,正常,正常,0,0.01", "not-eligible", ["dsr-below-4.5"], ["dsr-low"]),
        ("4.5,79.99%,21,正常,正常,0,0.01", "not-eligible", ["good-rate-below-80"], ["good-rate-low"]),
        ("4.5,0.7999,21,正常,正常,0,0.01", "not-eligible", ["good-rate-below-80"], ["good-rate-low"]),
        ("4.5,80%,21,正常,正常,0,0.00", "not-eligible", ["no-gmv-30d"], []),
        ("4.5,80%,21,正常,正常,0,-", "not-eligible", ["no-gmv-30d"], []),
        ("4.5,80%,21,冻结,正常,0,0.01", "not-eligible", ["shop-not-normal"], []),
        ("4.5,80%,21,正常,异常,0,0.01", "not-eligible", ["account-not-normal"], []),
        ("4.5,80%,21,-,-,0,0.01", "not-eligible", ["shop-not-normal", "account-not-normal"], []),
        ("4.5,80%,21,正常,正常,1,0.01", "not-eligible", ["violation-365d"], []),
        ("4.5,80%,-,正常,正常,-,0.01", "trial", [], []),
        ("-,-,21,正常,正常,0,0.01", "not-eligible", ["dsr-below-4.5", "good-rate-below-80"], []),
        (
            "4.4,0.75,100,关闭,异常,3,0",
            "not-eligible",
            ["dsr-below-4.5", "good-rate-below-80", "no-gmv-30d", "shop-not-normal",
             "account-not-normal", "violation-365d"],
            ["dsr-low", "good-rate-low"],
        ),
    ],
)  # fmt: skip
def test_alliance_boundaries(doudian, tmp_path, row, result, failed, warnings):
    run = doudian("check", "alliance", "--metrics", metrics_row(tmp_path, row), "--json")
    assert run.json() == {
        "shops": [{"shop_id": "X1", "result": result, "failed": failed, "warnings": warnings}]
    }
    assert run.exit_code == (0 if result != "not-eligible" else 3)


def test_alliance_text_and_exit_code(doudian):
    run = doudian("check", "alliance", "--metrics", fx("metrics.csv"))
    assert run.exit_code == 3
    assert run.stderr == ""
    assert run.stdout.splitlines() == [
        "S01: formal",
        "S02: trial",
        "S03: not-eligible; failed: dsr-below-4.5; warnings: dsr-low",
        "S04: not-eligible; failed: good-rate-below-80; warnings: good-rate-low",
        "S05: not-eligible; failed: good-rate-below-80; warnings: good-rate-low",
        "S06: not-eligible; failed: no-gmv-30d",
        "S07: not-eligible; failed: shop-not-normal",
        "S08: not-eligible; failed: account-not-normal, violation-365d",
        "S09: not-eligible; failed: dsr-below-4.5, good-rate-below-80, no-gmv-30d",
        "S10: not-eligible; failed: dsr-below-4.5, good-rate-below-80, no-gmv-30d, shop-not-normal, "
        "account-not-normal, violation-365d; warnings: dsr-low, good-rate-low",
        "10 shops: 1 formal, 1 trial, 8 not-eligible; 4 with a warning",
    ]


def test_alliance_json_is_exactly_the_issue_format(doudian):
    run = doudian("check", "alliance", "--metrics", fx("metrics.csv"), "--json")
    shops = run.json()["shops"]
    assert list(run.json()) == ["shops"]
    assert [list(s) for s in shops] == [["shop_id", "result", "failed", "warnings"]] * 10
    assert shops[0] == {"shop_id": "S01", "result": "formal", "failed": [], "warnings": []}
    assert shops[8] == {
        "shop_id": "S09",
        "result": "not-eligible",
        "failed": ["dsr-below-4.5", "good-rate-below-80", "no-gmv-30d"],
        "warnings": [],
    }


def test_alliance_exit_0_when_every_shop_is_eligible(doudian, tmp_path):
    metrics = write(
        tmp_path / "ok.csv",
        f"{METRICS_HEADER}\nA1,4.5,80.00%,21,正常,正常,0,0.01\nA2,4.9,0.99,3,正常,正常,0,5\n",
    )
    run = doudian("check", "alliance", "--metrics", metrics)
    assert run.exit_code == 0
    assert (
        run.stdout
        == "A1: formal\nA2: trial\n2 shops: 1 formal, 1 trial, 0 not-eligible; 0 with a warning\n"
    )


def test_alliance_rejected_rows_are_listed_and_exit_3(doudian, tmp_path):
    run = doudian("check", "alliance", "--metrics", fx("metrics_bad.csv"))
    assert run.exit_code == 3
    assert run.stdout.splitlines() == [
        "B06: formal",
        "1 shop: 1 formal, 0 trial, 0 not-eligible; 0 with a warning",
        "rejected: 7 of 8 metrics rows (listed on stderr)",
    ]
    codes = [line.rsplit("[", 1)[1].rstrip("]") for line in run.stderr.splitlines()]
    assert codes == [
        "bad-score", "bad-rate", "bad-rate", "bad-score", "negative-count", "duplicate-shop",
        "missing-value",
    ]  # fmt: skip
    assert run.stderr.splitlines()[0].startswith(
        "rejected: fixtures/checks/metrics_bad.csv:2: 店铺评分: "
    )

    out = tmp_path / "out"
    run = doudian("check", "alliance", "--metrics", fx("metrics_bad.csv"), "--out", out)
    assert run.exit_code == 3 and run.stderr == ""
    assert run.stdout.splitlines()[-2:] == [
        f"rejected: 7 of 8 metrics rows ({out}/rejected/metrics.csv)",
        f"results: {out}/alliance.csv",
    ]
    f = "fixtures/checks/metrics_bad.csv"
    assert read_findings(out / "rejected" / "metrics.csv") == [
        (f, 2, "店铺评分", "4.499", "bad-score"),
        (f, 3, "近60天好评率", "79.995%", "bad-rate"),
        (f, 4, "近60天好评率", "85", "bad-rate"),
        (f, 5, "店铺评分", "5.01", "bad-score"),
        (f, 6, "有效评价数", "-1", "negative-count"),
        (f, 8, "店铺ID", "B06", "duplicate-shop"),
        (f, 9, "店铺ID", "", "missing-value"),
    ]


def test_alliance_shops_batch_with_gmv_from_orders(doudian, tmp_path):
    """The 30-day window is [as-of - 30 days, as-of) in China time: paid 2025-06-01
    00:00:00 is in, 2025-05-31 23:59:59 and 2025-07-01 00:00:00 are out."""
    out = tmp_path / "out"
    run = doudian(
        "check", "alliance", "--shops", fx("metrics_no_gmv.csv"), "--orders", fx("orders_gmv.csv"),
        "--as-of", "2025-07-01", "--out", out,
    )  # fmt: skip
    assert run.exit_code == 3
    assert run.stdout.splitlines() == [
        "S01: formal",
        "S02: not-eligible; failed: no-gmv-30d",
        "S03: formal",
        "3 shops: 2 formal, 0 trial, 1 not-eligible; 0 with a warning",
        "近30天成交金额 from the orders: paid 2025-06-01 to 2025-06-30",
        f"rejected: 1 of 7 orders rows ({out}/rejected/orders.csv)",
        f"results: {out}/alliance.csv",
    ]
    header = [
        "shop_id", "result", "failed", "warnings", "dsr", "good_rate", "valid_reviews",
        "violations_365d", "shop_status", "account_status", "gmv_30d", "gmv_source",
    ]  # fmt: skip
    assert read_csv(out / "alliance.csv") == [
        header,
        ["S01", "formal", "", "", "4.90", "98.00%", "120", "0", "正常", "正常", "0.01", "orders"],
        [
            "S02",
            "not-eligible",
            "no-gmv-30d",
            "",
            "4.90",
            "98.00%",
            "120",
            "0",
            "正常",
            "正常",
            "0.00",
            "orders",
        ],
        ["S03", "formal", "", "", "4.90", "98.00%", "120", "0", "正常", "正常", "119.80", "orders"],
    ]
    assert read_findings(out / "rejected" / "orders.csv") == [
        ("fixtures/checks/orders_gmv.csv", 7, "订单应付金额", "12.3.4", "bad-money")
    ]
    assert read_findings(out / "rejected" / "metrics.csv") == []

    # One day later the window is [06-02, 07-02): S01's order falls out, S02's comes in.
    run = doudian(
        "check", "alliance", "--metrics", fx("metrics_no_gmv.csv"), "--orders", fx("orders_gmv.csv"),
        "--as-of", "2025-07-02", "--json",
    )  # fmt: skip
    assert [(s["shop_id"], s["result"], s["failed"]) for s in run.json()["shops"]] == [
        ("S01", "not-eligible", ["no-gmv-30d"]),
        ("S02", "formal", []),
        ("S03", "formal", []),
    ]


def test_alliance_metrics_gmv_column_is_ignored_when_orders_are_given(doudian, tmp_path):
    metrics = metrics_row(tmp_path, "4.9,99%,50,正常,正常,0,999.00")
    orders = write(
        tmp_path / "orders.csv",
        "主订单编号,子订单编号,商品数量,商品ID,订单应付金额,订单提交时间,支付完成时间,订单完成时间,订单状态\n"
        "6938800000000000011,6938800000000000012,1,3621547896541236547,9.90,"
        "2025-05-01 10:00:00,2025-05-01 10:00:05,,已发货\n",
    )
    args = (
        "check",
        "alliance",
        "--metrics",
        metrics,
        "--orders",
        orders,
        "--as-of",
        "2025-07-01",
        "--json",
    )
    run = doudian(*args)
    assert run.exit_code == 2
    assert (
        run.stderr
        == "Error: 1 valid order rows have no 店铺ID: pass --shop-id ID for a single-shop export\n"
    )
    run = doudian(*args, "--shop-id", "X1")
    assert run.json()["shops"] == [
        {"shop_id": "X1", "result": "not-eligible", "failed": ["no-gmv-30d"], "warnings": []}
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "no metrics: give --metrics FILE (or --shops FILE with --out DIR)"),
        (("--metrics", "m.csv", "--shops", "m.csv"), "--metrics and --shops both give the metrics file: give one"),
        (("--shops", "m.csv"), "--shops needs --out DIR (where the per-shop results are written)"),
        (("--metrics", "m.csv", "--orders", "o.csv"), "--orders needs --as-of DATE (the 30-day GMV window ends there)"),
    ],
)  # fmt: skip
def test_alliance_usage_errors_before_reading(doudian, args, message):
    run = doudian("check", "alliance", *args)
    assert run.exit_code == 2
    assert run.stderr == f"Error: {message}\n"
    assert run.stdout == ""


def test_alliance_missing_column_is_refused(doudian, tmp_path):
    metrics = write(
        tmp_path / "m.csv",
        "店铺ID,近60天好评率,有效评价数,店铺状态,账户状态,近365天违规次数\nX1,90%,3,正常,正常,0\n",
    )
    run = doudian("check", "alliance", "--metrics", metrics)
    assert run.exit_code == 1
    assert (
        run.stderr
        == f"Error: {metrics}: missing required column 店铺评分 (is this a 店铺指标 export?)\n"
    )


def test_alliance_without_orders_needs_the_gmv_column(doudian):
    run = doudian("check", "alliance", "--metrics", fx("metrics_no_gmv.csv"))
    assert run.exit_code == 1
    assert run.stderr == (
        "Error: fixtures/checks/metrics_no_gmv.csv: has no 近30天成交金额 column\n"
        "  hint: pass --orders FILE --as-of DATE to compute the 30-day GMV from the orders\n"
    )


def test_alliance_gb18030_metrics(doudian, tmp_path):
    text = (CHECKS / "metrics.csv").read_text(encoding="utf-8-sig")
    path = write(tmp_path / "metrics_gbk.csv", text, encoding="gb18030")
    a = doudian("check", "alliance", "--metrics", path, "--json")
    b = doudian("check", "alliance", "--metrics", fx("metrics.csv"), "--json")
    assert a.json() == b.json() and a.exit_code == b.exit_code == 3


def test_alliance_thresholds_are_policy_data(doudian, tmp_path):
    policy = write(
        tmp_path / "strict.toml",
        'extends = "default"\n[alliance]\nmin_dsr_hundredths = 460\nformal_reviews_above = 50\n',
        encoding="utf-8",
    )
    run = doudian("check", "alliance", "--metrics", fx("metrics.csv"), "--policy", policy, "--json")
    shops = {s["shop_id"]: s for s in run.json()["shops"]}
    assert shops["S01"] == {
        "shop_id": "S01",
        "result": "not-eligible",
        "failed": ["dsr-below-4.5"],
        "warnings": [],
    }
    assert shops["S06"]["failed"] == ["no-gmv-30d"]  # 5.00 still passes 4.60
    bad = write(tmp_path / "bad.toml", "[alliance]\nmin_dsr_hundredths = 4.5\n", encoding="utf-8")
    run = doudian("check", "alliance", "--metrics", fx("metrics.csv"), "--policy", bad)
    assert run.exit_code == 2
    assert run.stderr == (
        f"Error: --policy {bad}: [alliance] min_dsr_hundredths must be a whole number >= 0 (got 4.5)\n"
    )


# --- deposit -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "categories", "yuan", "set_by"),
    [
        ("个体工商户", ["服饰内衣"], 2000, "服饰内衣"),
        ("个体工商户", ["服饰"], 2000, "服饰内衣"),
        ("个体工商户", ["珠宝文玩"], 20000, "珠宝文玩"),
        ("个体工商户", ["母婴"], 5000, "母婴"),
        ("企业", ["服饰内衣"], 4000, "服饰内衣"),
        ("企业", ["珠宝文玩"], 20000, "珠宝文玩"),
        ("企业", ["母婴"], 10000, "母婴"),
        ("个人", ["服饰内衣"], 500, "服饰内衣"),
        ("个人", ["运动户外"], 500, "运动户外"),
        ("个人", ["鞋靴"], 500, "鞋靴"),
        ("个人", ["厨具"], 500, "厨具"),
        # several: the highest applies; among equals, the first given
        ("企业", ["服饰", "母婴"], 10000, "母婴"),
        ("企业", ["服饰内衣", "珠宝文玩", "母婴"], 20000, "珠宝文玩"),
        ("个体工商户", ["母婴;服饰、珠宝文玩"], 20000, "珠宝文玩"),
        ("个人", ["鞋靴", "厨具"], 500, "鞋靴"),
        ("个人", ["厨具,鞋靴"], 500, "厨具"),
        ("个人", ["服饰", "服饰内衣"], 500, "服饰内衣"),
    ],
)
def test_deposit_seed_policy(doudian, entity, categories, yuan, set_by):
    args = [a for c in categories for a in ("--category", c)]
    run = doudian("check", "deposit", "--entity", entity, *args, "--json")
    assert run.exit_code == 0
    assert (
        run.stdout
        == json.dumps(
            {"deposit_yuan": yuan, "set_by": set_by, "policy": "default"}, ensure_ascii=False
        )
        + "\n"
    )


def test_deposit_text(doudian):
    run = doudian(
        "check", "deposit", "--entity", "企业", "--category", "服饰", "--category", "珠宝文玩"
    )
    assert run.exit_code == 0
    assert run.stdout == "deposit: 20000 yuan, set by 珠宝文玩 (policy default)\n"


@pytest.mark.parametrize(
    ("entity", "categories", "refused", "allowed"),
    [
        ("个人", ["母婴"], "母婴", "服饰内衣, 运动户外, 鞋靴, 厨具"),
        (
            "个人",
            ["服饰内衣", "珠宝文玩", "数码"],
            "珠宝文玩, 数码",
            "服饰内衣, 运动户外, 鞋靴, 厨具",
        ),
        ("个体工商户", ["运动户外"], "运动户外", "服饰内衣, 珠宝文玩, 母婴"),
        ("企业", ["母婴", "家电"], "家电", "服饰内衣, 珠宝文玩, 母婴"),
    ],
)
def test_deposit_refuses_naming_the_category(doudian, entity, categories, refused, allowed):
    args = [a for c in categories for a in ("--category", c)]
    run = doudian("check", "deposit", "--entity", entity, *args, "--json")
    assert run.exit_code == 4
    assert run.stdout == ""
    assert run.stderr == (
        f"Error: refused: {entity} may not open {refused} (policy default has no deposit for "
        f"{entity} there; {entity} may open: {allowed})\n"
    )


@pytest.mark.parametrize(
    ("gmv", "yuan", "tier"),
    [
        ("0", 500, "gmv<50000"),
        ("49999.99", 500, "gmv<50000"),
        ("49,999.99", 500, "gmv<50000"),
        ("50000", 2000, "50000<=gmv<100000"),
        ("50,000.00", 2000, "50000<=gmv<100000"),
        ("99999.99", 2000, "50000<=gmv<100000"),
        ("100000", 5000, "gmv>=100000"),
        ("¥100,000.00", 5000, "gmv>=100000"),
        ("12345678.90", 5000, "gmv>=100000"),
    ],
)
def test_deposit_2025_policy_tiers_by_gmv(doudian, gmv, yuan, tier):
    # whatever the category: 个人 in 母婴 is refused by the seed's table, not here
    run = doudian(
        "check", "deposit", "--policy", "2025", "--entity", "个人", "--category", "母婴",
        "--last-month-gmv", gmv, "--json",
    )  # fmt: skip
    assert run.exit_code == 0
    assert run.json() == {"deposit_yuan": yuan, "set_by": tier, "policy": "2025"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--category", "母婴"), "--entity is required (个人, 个体工商户, 企业), or --shops FILE"),
        (("--entity", "公司", "--category", "母婴"), "--entity 公司: not an entity type of policy default (个人, 个体工商户, 企业)"),
        (("--entity", "企业"), "--category is required: policy default sets the deposit by category"),
        (("--entity", "企业", "--policy", "2025"), "--policy 2025 tiers the deposit by last month's GMV: pass --last-month-gmv YUAN"),
        (("--entity", "企业", "--policy", "2025", "--last-month-gmv", "12.3.4"), "--last-month-gmv 12.3.4: not an amount in yuan (like 52000 or 52,000.50)"),
        (("--entity", "企业", "--policy", "2025", "--last-month-gmv", "-1"), "--last-month-gmv -1: not an amount in yuan (like 52000 or 52,000.50)"),
        (("--entity", "企业", "--policy", "2025", "--last-month-gmv", "1.234"), "--last-month-gmv 1.234: not an amount in yuan (like 52000 or 52,000.50)"),
        (("--entity", "企业", "--category", "母婴", "--out", "x"), "--out is for --shops (the per-shop results); for one shop the result is printed"),
        (("--shops", "s.csv"), "--shops needs --out DIR (where the per-shop results are written)"),
        (("--shops", "s.csv", "--out", "x", "--entity", "企业", "--category", "母婴"), "--shops gives each shop's own values: drop --entity, --category"),
    ],
)  # fmt: skip
def test_deposit_usage_errors(doudian, args, message):
    run = doudian("check", "deposit", *args)
    assert run.exit_code == 2
    assert run.stderr == f"Error: {message}\n"


def test_deposit_user_policy_adds_a_category(doudian, tmp_path):
    policy = write(tmp_path / "p.toml", '[deposit.yuan."个人"]\n"数码" = 1000\n', encoding="utf-8")
    run = doudian(
        "check",
        "deposit",
        "--entity",
        "个人",
        "--category",
        "数码,鞋靴",
        "--policy",
        policy,
        "--json",
    )
    assert run.json() == {"deposit_yuan": 1000, "set_by": "数码", "policy": str(policy)}


DEPOSIT_HEADER = ["shop_id", "status", "deposit_yuan", "set_by", "refused", "reason", "policy"]
UNKNOWN_ENTITY = "unknown 主体类型 公司 (policy {}: 个人, 个体工商户, 企业)"


def test_deposit_shops_batch_seed_policy(doudian, tmp_path):
    out = tmp_path / "out"
    run = doudian("check", "deposit", "--shops", fx("deposit_shops.csv"), "--out", out)
    assert run.exit_code == 4  # D04 is refused
    assert run.stdout.splitlines() == [
        "D01: 20000 yuan, set by 珠宝文玩",
        "D02: 2000 yuan, set by 服饰内衣",
        "D03: 500 yuan, set by 鞋靴",
        "D04: refused: may not open 数码, 家电",
        "D05: invalid: " + UNKNOWN_ENTITY.format("default"),
        "D06: invalid: no 类目 (category)",
        "6 shops (policy default): 3 ok, 1 refused, 2 invalid",
        f"rejected: 2 of 8 rows ({out}/rejected/deposit-shops.csv)",
        f"results: {out}/deposit.csv",
    ]
    assert read_csv(out / "deposit.csv") == [
        DEPOSIT_HEADER,
        ["D01", "ok", "20000", "珠宝文玩", "", "", "default"],
        ["D02", "ok", "2000", "服饰内衣", "", "", "default"],
        ["D03", "ok", "500", "鞋靴", "", "", "default"],
        ["D04", "refused", "", "", "数码;家电", "", "default"],
        ["D05", "invalid", "", "", "", UNKNOWN_ENTITY.format("default"), "default"],
        ["D06", "invalid", "", "", "", "no 类目 (category)", "default"],
    ]
    f = "fixtures/checks/deposit_shops.csv"
    assert read_findings(out / "rejected" / "deposit-shops.csv") == [
        (f, 8, "上月成交金额", "12.3.4", "bad-money"),
        (f, 9, "店铺ID", "D02", "duplicate-shop"),
    ]


def test_deposit_shops_batch_2025_policy_json(doudian, tmp_path):
    out = tmp_path / "out"
    run = doudian(
        "check", "deposit", "--shops", fx("deposit_shops.csv"), "--out", out, "--policy", "2025", "--json"
    )  # fmt: skip
    assert run.exit_code == 3  # no refusal; D05, D06 invalid and 2 rows rejected

    def shop(i, status, yuan=None, tier=None, reason=None):
        return {
            "shop_id": f"D0{i}", "status": status, "deposit_yuan": yuan, "set_by": tier,
            "refused": [], "reason": reason, "policy": "2025",
        }  # fmt: skip

    assert run.json() == {
        "shops": [
            shop(1, "ok", 500, "gmv<50000"),
            shop(2, "ok", 2000, "50000<=gmv<100000"),
            shop(3, "ok", 2000, "50000<=gmv<100000"),
            shop(4, "ok", 5000, "gmv>=100000"),
            shop(5, "invalid", reason=UNKNOWN_ENTITY.format("2025")),
            shop(
                6,
                "invalid",
                reason="no 上月成交金额 (policy tiers the deposit by last month's GMV)",
            ),
        ]
    }


def test_deposit_shops_gb18030_and_all_ok(doudian, tmp_path):
    path = write(
        tmp_path / "shops.csv",
        "店铺ID,主体,一级类目\nG1,企业,母婴、服饰\nG2,个人,厨具\n",
        encoding="gb18030",
    )
    out = tmp_path / "out"
    run = doudian("check", "deposit", "--shops", path, "--out", out)
    assert run.exit_code == 0
    assert run.stdout.splitlines()[:3] == [
        "G1: 10000 yuan, set by 母婴",
        "G2: 500 yuan, set by 厨具",
        "2 shops (policy default): 2 ok, 0 refused, 0 invalid",
    ]
    assert read_findings(out / "rejected" / "deposit-shops.csv") == []


def test_deposit_shops_missing_column(doudian, tmp_path):
    path = write(tmp_path / "shops.csv", "店铺ID,类目\nG1,母婴\n")
    run = doudian("check", "deposit", "--shops", path, "--out", tmp_path / "out")
    assert run.exit_code == 1
    assert (
        run.stderr
        == f"Error: {path}: missing required column 主体类型 (is this a 店铺主体与类目 export?)\n"
    )


# --- reopen ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("closed", "reopen_on"),
    [
        ("2025-08-31", "2026-02-28"),  # 2026 is not a leap year
        ("2025-08-30", "2026-02-28"),
        ("2025-08-29", "2026-02-28"),
        ("2025-08-28", "2026-02-28"),
        ("2023-08-31", "2024-02-29"),  # 2024 is
        ("2023-08-30", "2024-02-29"),
        ("2023-08-29", "2024-02-29"),
        ("2023-08-28", "2024-02-28"),
        ("2024-02-29", "2024-08-29"),
        ("2025-03-31", "2025-09-30"),
        ("2025-05-31", "2025-11-30"),
        ("2025-12-31", "2026-06-30"),
        ("2025-07-15", "2026-01-15"),
        ("2025-06-30", "2025-12-30"),
    ],
)
def test_reopen_six_months_clamped_to_month_end(doudian, closed, reopen_on):
    run = doudian("check", "reopen", "--closed-on", closed, "--json")
    assert run.exit_code == 0
    assert run.json()["reopen_on"] == reopen_on


@pytest.mark.parametrize(
    ("closed", "refund_by"),
    [
        ("2025-09-05", "2025-09-16"),  # Friday: Mon 8 .. Fri 12 (5), Mon 15, Tue 16
        ("2025-09-06", "2025-09-16"),  # Saturday
        ("2025-09-07", "2025-09-16"),  # Sunday
        ("2025-09-08", "2025-09-17"),  # Monday
        ("2025-08-31", "2025-09-09"),
        ("2025-12-31", "2026-01-09"),  # no holidays file: 1 January is a working day
        ("2024-02-28", "2024-03-08"),  # through 29 February 2024
    ],
)
def test_refund_by_seventh_working_day(doudian, closed, refund_by):
    run = doudian("check", "reopen", "--closed-on", closed, "--json")
    assert run.json()["refund_by"] == refund_by


@pytest.mark.parametrize(
    ("closed", "refund_by"),
    [
        # 国庆 2025: 1-8 October off; Sunday 28 September and Saturday 11 October worked
        ("2025-09-26", "2025-10-13"),  # 28 Sep, 29, 30, 9 Oct, 10, 11 Oct, 13
        ("2025-09-27", "2025-10-13"),
        ("2025-09-30", "2025-10-16"),  # 9, 10, 11, 13, 14, 15, 16
        ("2025-10-01", "2025-10-16"),  # closed on a holiday
        ("2025-10-10", "2025-10-20"),  # 11 (worked Saturday), 13, 14, 15, 16, 17, 20
    ],
)
def test_refund_by_with_holidays_file(doudian, closed, refund_by):
    run = doudian(
        "check", "reopen", "--closed-on", closed, "--holidays", fx("holidays_2025.txt"), "--json"
    )
    assert run.exit_code == 0
    assert run.json()["refund_by"] == refund_by


def test_reopen_text_and_json(doudian):
    run = doudian("check", "reopen", "--closed-on", "2025-08-31")
    assert run.exit_code == 0
    assert run.stdout.splitlines() == [
        "closed on: 2025-08-31",
        "reopen on: 2026-02-28",
        "refund by: 2025-09-09",
        NOTE,
    ]
    run = doudian("check", "reopen", "--closed-on", "2025-08-31", "--json")
    assert (
        run.stdout
        == '{"closed_on": "2025-08-31", "reopen_on": "2026-02-28", "refund_by": "2025-09-09"}\n'
    )


def test_reopen_numbers_are_policy_data(doudian, tmp_path):
    policy = write(
        tmp_path / "p.toml",
        "[shop]\nreopen_after_months = 3\nrefund_working_days = 1\n",
        encoding="utf-8",
    )
    run = doudian("check", "reopen", "--closed-on", "2025-11-30", "--policy", policy, "--json")
    assert run.json() == {
        "closed_on": "2025-11-30",
        "reopen_on": "2026-02-28",
        "refund_by": "2025-12-01",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2025-10-01\n2025-13-01\n", "line 2: '2025-13-01': not a date (YYYY-MM-DD)"),
        ("2025-10-01 holiday extra\n", "line 1: '2025-10-01 holiday extra': after the date, expected holiday or workday (休 / 班)"),
        ("2025-10-01 maybe\n", "line 1: '2025-10-01 maybe': after the date, expected holiday or workday (休 / 班)"),
        ("2025-10-01\n2025-10-01 班\n", "line 2: '2025-10-01 班': 2025-10-01 is listed both as a holiday and as a workday"),
    ],
)  # fmt: skip
def test_holidays_file_errors_name_the_line(doudian, tmp_path, text, message):
    path = write(tmp_path / "h.txt", text, encoding="utf-8")
    run = doudian("check", "reopen", "--closed-on", "2025-09-30", "--holidays", path)
    assert run.exit_code == 1
    assert run.stderr == f"Error: {path}: {message}\n"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ((), 2, "Error: give --closed-on DATE (or --shops FILE with --out DIR)\n"),
        (("--closed-on", "2025-08-31", "--shops", "s.csv", "--out", "x"), 2, "Error: --shops gives each shop's own values: drop --closed-on\n"),
        (("--closed-on", "2025-08-31", "--out", "x"), 2, "Error: --out is for --shops (the per-shop results); for one shop the result is printed\n"),
        (("--closed-on", "2025-08-31", "--holidays", "nope.txt"), 1, "Error: nope.txt: no such file\n"),
    ],
)  # fmt: skip
def test_reopen_usage_errors(doudian, args, code, message):
    run = doudian("check", "reopen", *args)
    assert run.exit_code == code
    assert run.stderr == message


def test_reopen_bad_date_is_a_click_usage_error(doudian):
    run = doudian("check", "reopen", "--closed-on", "2025-02-30")
    assert run.exit_code == 2
    assert (
        "Invalid value for '--closed-on': '2025-02-30' does not match the format '%Y-%m-%d'"
        in run.stderr
    )


def test_reopen_shops_batch(doudian, tmp_path):
    out = tmp_path / "out"
    run = doudian(
        "check", "reopen", "--shops", fx("closed_shops.csv"), "--holidays", fx("holidays_2025.txt"), "--out", out
    )  # fmt: skip
    assert run.exit_code == 3
    rows = [
        ["C01", "2025-08-31", "2026-02-28", "2025-09-09"],
        ["C02", "2025-08-30", "2026-02-28", "2025-09-09"],
        ["C03", "2023-08-29", "2024-02-29", "2023-09-07"],
        ["C04", "2024-08-31", "2025-02-28", "2024-09-10"],
        ["C05", "2023-08-31", "2024-02-29", "2023-09-11"],
        ["C06", "2025-03-31", "2025-09-30", "2025-04-09"],
        ["C07", "2025-09-26", "2026-03-26", "2025-10-13"],
        ["C09", "2025-09-30", "2026-03-30", "2025-10-16"],
    ]
    assert read_csv(out / "reopen.csv") == [
        ["shop_id", "closed_on", "reopen_on", "refund_by"],
        *rows,
    ]
    assert run.stdout.splitlines() == [
        *(f"{s}: closed on {c}, reopen on {r}, refund by {b}" for s, c, r, b in rows),
        "8 shops",
        NOTE,
        f"rejected: 1 of 9 rows ({out}/rejected/closed-shops.csv)",
        f"results: {out}/reopen.csv",
    ]
    assert read_findings(out / "rejected" / "closed-shops.csv") == [
        ("fixtures/checks/closed_shops.csv", 9, "关店日期", "2025-02-30", "bad-timestamp")
    ]
    run = doudian("check", "reopen", "--shops", fx("closed_shops.csv"), "--out", out, "--json")
    shops = run.json()["shops"]
    assert shops[0] == {
        "shop_id": "C01",
        "closed_on": "2025-08-31",
        "reopen_on": "2026-02-28",
        "refund_by": "2025-09-09",
    }
    # without the holidays file, 国庆 counts as working days
    assert shops[6] == {
        "shop_id": "C07",
        "closed_on": "2025-09-26",
        "reopen_on": "2026-03-26",
        "refund_by": "2025-10-07",
    }


# --- docs and policies --------------------------------------------------------------------


def test_docs_name_every_policy_number():
    """docs/checks.md quotes every key of the shipped check policies with its value."""
    docs = (REPO / "docs" / "checks.md").read_text(encoding="utf-8")
    root = REPO / "pipeline" / "policies"
    for folder, section in (("default", "alliance"), ("default", "shop"), ("2025", "deposit")):
        data = tomllib.loads((root / folder / f"{section}.toml").read_text(encoding="utf-8"))
        for key, value in data.items():
            if isinstance(value, int | str):
                assert f"`{key} = {json.dumps(value, ensure_ascii=False)}`" in docs, key
    deposit = tomllib.loads((root / "default" / "deposit.toml").read_text(encoding="utf-8"))
    for entity, table in deposit["yuan"].items():
        for category, yuan in table.items():
            assert f"| {entity} | {category} | {yuan:,} |" in docs, (entity, category)


def test_reopen_shops_from_xlsx_with_date_cells(doudian, tmp_path):
    import datetime as dt

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "关店"
    sheet.append(["店铺ID", "关店日期"])
    sheet.append(["C01", dt.datetime(2025, 8, 31)])  # a real Excel date cell
    sheet.append(["C02", "2023-08-31"])  # text
    sheet.append(["C03", dt.datetime(2024, 8, 31, 15, 30)])  # date and time: the date counts
    path = tmp_path / "closed.xlsx"
    book.save(path)
    run = doudian("check", "reopen", "--shops", path, "--out", tmp_path / "out", "--json")
    assert run.exit_code == 0
    assert [(s["shop_id"], s["reopen_on"], s["refund_by"]) for s in run.json()["shops"]] == [
        ("C01", "2026-02-28", "2025-09-09"),
        ("C02", "2024-02-29", "2023-09-11"),
        ("C03", "2025-02-28", "2024-09-10"),
    ]


def test_metrics_is_a_validate_kind(doudian):
    run = doudian.validate("metrics", fx("metrics_bad.csv"), "--json")
    assert run.exit_code == 3
    assert (run.json()["rows"], run.json()["valid"], run.json()["rejected"]) == (8, 1, 7)
    valid = run.valid("metrics")
    assert valid.select("shop_id", "dsr", "good_rate", "valid_reviews", "gmv_30d").rows() == [
        ("B06", "4.80", "85.00%", 30, 1000)
    ]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[deposit]\nmodel = "gmv-tiers"\ngmv_tiers = [{ from_yuan = 100, deposit_yuan = 500 }]\n',
         "[deposit] gmv_tiers must be a list of { from_yuan = N, deposit_yuan = N } in whole yuan, "
         "ascending, the first from 0"),
        ('[deposit]\nmodel = "by-mood"\n',
         "[deposit] model must be one of category, gmv-tiers (got 'by-mood')"),
        ('[deposit.yuan."企业"]\n"母婴" = "10000"\n',
         "[deposit] yuan.企业 must be a table of numbers"),
        ("[shop]\nreopen_after_months = 0\n",
         "[shop] reopen_after_months must be a whole number >= 1 (got 0)"),
    ],
)  # fmt: skip
def test_bad_policy_values_are_usage_errors(doudian, tmp_path, toml, message):
    policy = write(tmp_path / "p.toml", toml, encoding="utf-8")
    command = "reopen" if "[shop]" in toml else "deposit"
    args = (
        ("--closed-on", "2025-08-31")
        if command == "reopen"
        else ("--entity", "企业", "--category", "母婴")
    )
    run = doudian("check", command, *args, "--policy", policy)
    assert run.exit_code == 2
    assert run.stderr == f"Error: --policy {policy}: {message}\n"


def test_check_stages_are_library_functions(tmp_path):
    """The checks called directly (no click): a StageResult, settings named as tokens."""
    from pipeline.errors import UsageError
    from pipeline.policy import load_policy
    from pipeline.stages.checks import jobs
    from pipeline.stages.checks.deposit import DepositRules

    rules = DepositRules.from_policy(load_policy(None))
    one = jobs.deposit_one(rules, "企业", ["服饰", "珠宝文玩"])
    assert (one.stage, one.status, one.exit_code) == ("check-deposit", "ok", 0)
    assert one.summary == {"deposit_yuan": 20000, "set_by": "珠宝文玩", "policy": "default"}
    assert one.lines == ["deposit: 20000 yuan, set by 珠宝文玩 (policy default)"]

    roster = jobs.read_shops("deposit-shops", fx("deposit_shops.csv"), tmp_path)
    many = jobs.deposit_many(roster, rules, tmp_path)
    assert (many.status, many.exit_code) == ("ineligible", 4)  # D04 is refused
    assert many.summary == {"shops": 6, "rejected": 2, "results": str(tmp_path / "deposit.csv")}
    assert many.outputs == [tmp_path / "deposit.csv"]
    assert many.lines[-3] == "6 shops (policy default): 3 ok, 1 refused, 2 invalid"
    assert [s["shop_id"] for s in json.loads(many.json_text)["shops"]] == [
        "D01", "D02", "D03", "D04", "D05", "D06",
    ]  # fmt: skip

    with pytest.raises(UsageError) as error:
        jobs.deposit_one(DepositRules.from_policy(load_policy("2025")), "企业", [], "12.3.4")
    assert error.value.message == (
        "{opt:last_month_gmv} 12.3.4: not an amount in yuan (like 52000 or 52,000.50)"
    )
