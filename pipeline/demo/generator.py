"""Deterministic generator of realistic 抖店 back-office exports (test and benchmark data).

`generate(out_dir, shops=..., orders=..., seed=...)` writes the six kinds the pipeline
reads, as the back office exports them (as the README describes them):

- ``orders.csv``       订单导出, one row per sub-order, SPEC headers plus a few extra
                       columns the pipeline ignores; ID cells prefixed by a tab.
- ``after_sales.csv``  售后导出, full-width bracket headers (``退商品金额（元）``).
- ``bill.csv``         结算账单, header in row 1, a note row in row 2, data from row 3.
- ``products.csv``     商品导出, one row per SKU.
- ``costs.csv``        the merchant's cost file (成本价), for about 90 % of the SKUs.
- ``commissions.csv``  精选联盟 orders with their 预估佣金支出.

and, for the finance close, ``bill_refunds.csv``, ``fund_flow.csv`` and
``account_flow.csv`` (made by `pipeline.demo.funds` from the bill rows, from a
random stream of their own: the six files above do not depend on them).

Every cell is text exactly as the exports print it: money in yuan with two decimals
formatted from integer fen, timestamps ``YYYY-MM-DD HH:MM:SS`` (China time, no zone),
``-`` for "none" where the back office prints it, empty cells for missing timestamps.
With ``"parquet"`` in ``formats`` each kind is also written as ``STEM.parquet`` holding
the same raw text cells (every column String, same headers, an empty cell as null). A
Parquet file has no note row: the bill's data starts at its first row, as
`pipeline.read.exports` expects of Parquet.

Everything is vectorized (numpy arrays from one ``np.random.default_rng(seed)``, polars
expressions for the text) and the order rows are produced in fixed-size batches that are
appended to the files (one writer thread overlaps writing with generating), so ten
million rows take about 1 GB of memory. The same
arguments always give byte-identical files.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import shutil
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.write.files import atomic_path, write_csv, write_parquet
from schemas import after_sales as _after_sales
from schemas import bill as _bill
from schemas import commissions as _commissions
from schemas import costs as _costs
from schemas import orders as _orders
from schemas import products as _products
from schemas.base import KindSpec

#: order rows generated (and written) per batch
BATCH_ROWS = 250_000

KIND_STEMS = ("orders", "after_sales", "bill", "products", "costs", "commissions")
#: the finance close's exports (pipeline.demo.funds)
CLOSE_STEMS = ("bill_refunds", "fund_flow", "account_flow")
#: the files with the bill's note row
NOTED_STEMS = ("bill", "bill_refunds")
#: the same, in the order a `doudian run` config lists a shop's files
FILE_STEMS = ("orders", "after_sales", "products", "costs", "commissions", "bill")

BILL_NOTE = "注：金额单位为元"

DAY = 86_400

#: _batch's frames that are not written (the fund flow is made from them)
SETTLED, UNBILLED = "_settled", "_unbilled"

# ----------------------------------------------------------------------------- catalogue

CATEGORIES = ("休闲食品", "服饰内衣", "鞋靴", "箱包", "彩妆香水", "营养保健", "酒类", "家居用品")
CATEGORY_WEIGHTS = (0.20, 0.20, 0.10, 0.08, 0.12, 0.10, 0.05, 0.15)
#: platform fee per category in basis points: the default policy of the shipped default policy, so that
#: the generated bill reconciles with a default-policy statement (bar the planted errors)
FEE_BP = (300, 600, 600, 600, 500, 400, 300, 500)
#: typical price per category, yuan
MEDIAN_PRICE_YUAN = (29, 129, 199, 169, 139, 189, 259, 59)
CODE_LETTERS = "ABCDEFGH"

NOUNS = (
    ("每日坚果", "手撕牛肉干", "芒果干", "麻辣小龙虾尾", "海苔脆片"),
    ("纯棉T恤", "加绒卫衣", "针织开衫", "高腰牛仔裤", "无痕内衣套装"),
    ("运动跑步鞋", "马丁靴", "帆布鞋", "老爹鞋", "雪地靴"),
    ("双肩背包", "托特包", "拉杆箱", "斜挎包", "真皮钱包"),
    ("持妆粉底液", "哑光口红", "眼影盘", "淡香水", "定妆喷雾"),
    ("维生素C片", "乳清蛋白粉", "鱼油软胶囊", "益生菌粉", "胶原蛋白肽"),
    ("酱香型白酒", "干红葡萄酒", "精酿啤酒", "青梅酒", "绍兴黄酒"),
    ("纯棉四件套", "记忆棉枕头", "折叠收纳箱", "香薰蜡烛", "长绒棉毛巾"),
)
PREFIXES = ("网红", "爆款", "新款", "经典", "品牌直营", "官方", "加厚", "轻奢", "简约", "国潮")
#: title suffixes: plain, autumn, custom-made (定制), gift box
SUFFIXES = ("", " 秋季新款", " 秋冬款", " 私人定制", " 刻字定制款", " 礼盒装")
SUFFIX_WEIGHTS = (0.68, 0.10, 0.08, 0.02, 0.01, 0.11)
SPECS = (
    ("规格:250g", "规格:500g", "规格:1000g", "规格:家庭装2kg"),
    ("颜色:黑色;尺码:M", "颜色:黑色;尺码:L", "颜色:白色;尺码:XL", "颜色:白色;尺码:M"),
    ("颜色:黑色;尺码:38", "颜色:黑色;尺码:39", "颜色:白色;尺码:40", "颜色:白色;尺码:41"),
    ("颜色:黑色", "颜色:卡其色", "颜色:灰色", "颜色:酒红色"),
    ("色号:01", "色号:02", "色号:03", "色号:04"),
    ("规格:1瓶装", "规格:2瓶装", "规格:3瓶装", "规格:6瓶装"),
    ("规格:500ml单瓶", "规格:500ml*2", "规格:500ml*6整箱", "规格:礼盒装"),
    ("规格:1.5m床", "规格:1.8m床", "规格:2.0m床", "规格:单件"),
)

# promise kinds of a SKU
_P48, _PSAME, _PNEXT, _PDAYS = 0, 1, 2, 3
SPOT_PROMISES = ("48小时", "当日发", "次日发")
SHIP_MODES = ("现货发货", "阶梯发货", "全款预售")

# ----------------------------------------------------------------------------- orders

ORDER_STATUSES = ("待支付", "备货中", "已发货", "已完成", "已关闭")
_S_UNPAID, _S_PREPARING, _S_SHIPPED, _S_DONE, _S_CLOSED = range(5)
TRAFFIC_SOURCES = ("精选联盟", "商品卡", "直播", "短视频")
TRAFFIC_WEIGHTS = (0.25, 0.30, 0.30, 0.15)
PAYMENT_METHODS = ("抖音支付", "微信", "支付宝", "抖音月付")
PAYMENT_WEIGHTS = (0.45, 0.25, 0.20, 0.10)
SURNAMES = tuple("张王李赵刘陈杨黄周吴徐孙马朱胡郭何林罗高")
PLACES = (
    ("广东省", "广州市"),
    ("广东省", "深圳市"),
    ("浙江省", "杭州市"),
    ("江苏省", "南京市"),
    ("江苏省", "苏州市"),
    ("上海市", "上海市"),
    ("北京市", "北京市"),
    ("四川省", "成都市"),
    ("湖北省", "武汉市"),
    ("山东省", "济南市"),
    ("河南省", "郑州市"),
    ("福建省", "厦门市"),
    ("湖南省", "长沙市"),
    ("陕西省", "西安市"),
    ("重庆市", "重庆市"),
    ("天津市", "天津市"),
)
BUYER_NOTES = ("请尽快发货", "不要放快递柜", "送人的，不要放价格单", "发顺丰谢谢", "周末送货")
MERCHANT_NOTES = ("已备注赠品", "优先发货", "老客户", "换货补发", "缺货待补")
CREATORS_PER_SHOP = 40

# ----------------------------------------------------------------------------- after-sales

AS_TYPES = ("仅退款", "退货退款", "换货")
AS_STATUSES = ("退款成功", "售后关闭", "退款中", "换货成功")
_AS_REFUNDED, _AS_CLOSED, _AS_OPEN, _AS_EXCHANGED = range(4)
AS_REASONS = (
    "七天无理由退货",
    "不想要了",
    "商品质量问题",
    "发错货",
    "尺码不合适",
    "未按约定时间发货",
)
AS_SHARE = 0.08

BILL_ACCOUNTS = ("聚合账户", "聚合账户", "聚合账户", "支付宝", "微信")


def _headers(spec: KindSpec) -> list[str]:
    """The header the real export uses for each column (the first of ColumnSpec.headers)."""
    return [c.headers[0] for c in spec.columns]


def _full_width(header: str) -> str:
    return header.replace("(元)", "（元）")


ORDER_HEADERS = _headers(_orders.SPEC)
AFTER_SALES_HEADERS = [_full_width(h) for h in _headers(_after_sales.SPEC)]
BILL_HEADERS = _headers(_bill.SPEC)
PRODUCT_HEADERS = _headers(_products.SPEC)
COST_HEADERS = _headers(_costs.SPEC)
COMMISSION_HEADERS = _headers(_commissions.SPEC)

# ============================================================================= text helpers


#: ".00" to ".99": the fen part of a yuan amount
_CENTS = pl.Series([f".{i:02d}" for i in range(100)], dtype=pl.String)
#: timestamps are printed from two lookups: the date ("YYYY-MM-DD ") and the time of day
_LUT_FIRST_DAY = _dt.date(2000, 1, 1)
_LUT_END_DAY = _dt.date(2100, 1, 1)
_LUT_DAY0 = (_LUT_FIRST_DAY - _dt.date(1970, 1, 1)).days


@functools.cache
def _time_luts() -> tuple[pl.Series, pl.Series]:
    dates = pl.date_range(_LUT_FIRST_DAY, _LUT_END_DAY, eager=True).dt.strftime("%Y-%m-%d ")
    clock = pl.select(
        pl.from_epoch(pl.int_range(DAY, dtype=pl.Int64), time_unit="s").dt.strftime("%H:%M:%S")
    ).to_series()
    return dates, clock


def _yuan(e: pl.Expr) -> pl.Expr:
    """Integer fen to yuan text with exactly two decimals ("59.90", "-2.95", "0.00")."""
    a = e.abs()
    text = (a // 100).cast(pl.String) + pl.lit(_CENTS).gather(a % 100)
    return pl.when(e < 0).then(pl.lit("-") + text).otherwise(text)


def _ts(e: pl.Expr) -> pl.Expr:
    """Seconds since the naive epoch (China wall time) to "YYYY-MM-DD HH:MM:SS"; a
    negative value is a missing time, printed as an empty cell."""
    dates, clock = _time_luts()
    seconds = pl.when(e >= 0).then(e)
    return pl.lit(dates).gather(seconds // DAY - _LUT_DAY0) + pl.lit(clock).gather(seconds % DAY)


def _id(e: pl.Expr, *, tab: bool = False) -> pl.Expr:
    text = e.cast(pl.String)
    return pl.lit("\t") + text if tab else text


def _frame(frame: pl.DataFrame, headers: list[str], *exprs: pl.Expr) -> pl.DataFrame:
    """`frame.select` of `exprs`, named by `headers` (one each)."""
    return frame.select([e.alias(h) for h, e in zip(headers, exprs, strict=True)])


def _pick(values: tuple[str, ...] | list[str], codes: np.ndarray) -> pl.Series:
    """Text of each code (vectorized gather from a small lookup)."""
    return pl.Series(values, dtype=pl.String).gather(codes)


def _choice(rng: np.random.Generator, n: int, weights: tuple[float, ...]) -> np.ndarray:
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(p), size=n, p=p / p.sum())


def _increasing_ids(rng: np.random.Generator, n: int, last: int, max_step: int) -> np.ndarray:
    """`n` strictly increasing int64 ids after `last` with random gaps."""
    return np.int64(last) + np.cumsum(rng.integers(1, max_step, n, dtype=np.int64))


def _half_up_div(num: np.ndarray, den: int) -> np.ndarray:
    """round_half_up(num / den) for num >= 0, in integers."""
    return (num + den // 2) // den


# ============================================================================= catalogue


@dataclass(frozen=True)
class _Catalogue:
    sku_offset: np.ndarray  # per shop: first SKU index
    sku_count: np.ndarray  # per shop: number of SKUs
    product_id: np.ndarray  # per SKU
    category: np.ndarray  # per SKU (index into CATEGORIES)
    price: np.ndarray  # per SKU, fen
    promise_kind: np.ndarray  # per SKU: _P48/_PSAME/_PNEXT/_PDAYS
    promise_days: np.ndarray  # per SKU, days for _PDAYS
    tiered: np.ndarray  # per SKU, bool
    text: pl.DataFrame  # per SKU: 选购商品, 商品规格, 商家编码
    products: pl.DataFrame  # products.csv
    costs: pl.DataFrame  # costs.csv


def _catalogue(rng: np.random.Generator, shop_ids: list[str]) -> _Catalogue:
    n_shops = len(shop_ids)
    n_prod_shop = rng.integers(180, 221, n_shops)
    n_prod = int(n_prod_shop.sum())
    p_shop = np.repeat(np.arange(n_shops), n_prod_shop)
    p_no = np.arange(n_prod) - np.repeat(np.cumsum(n_prod_shop) - n_prod_shop, n_prod_shop) + 1
    p_cat = _choice(rng, n_prod, CATEGORY_WEIGHTS)
    p_noun = rng.integers(0, 5, n_prod)
    p_prefix = rng.integers(0, len(PREFIXES), n_prod)
    p_suffix = _choice(rng, n_prod, SUFFIX_WEIGHTS)
    p_custom = np.isin(p_suffix, (3, 4))
    p_id = _increasing_ids(rng, n_prod, 3_450_000_000_000_000_000, 10**9)
    p_nsku = _choice(rng, n_prod, (0.35, 0.30, 0.20, 0.15)) + 1
    # base price: log-normal around the category's typical price, yuan endings .90/.00/.99
    median = np.asarray(MEDIAN_PRICE_YUAN, dtype=np.float64)[p_cat]
    p_yuan = np.maximum(np.floor(median * np.exp(rng.normal(0.0, 0.45, n_prod))), 3).astype(
        np.int64
    )
    p_status = np.where(rng.random(n_prod) < 0.9, 0, 1)  # 在售 / 下架

    # shipping mode and promise, per product
    u = rng.random(n_prod)
    mode = np.where(u < 0.04, 2, np.where(u < 0.12, 1, 0))  # presale / tiered / spot
    mode = np.where(p_custom, np.where(rng.random(n_prod) < 0.5, 2, 0), mode)
    spot_promise = _choice(rng, n_prod, (0.70, 0.11, 0.15, 0.025, 0.015))  # 48h,当日,次日,7天,15天
    spot_promise = np.where(p_custom & (mode == 0), 4, spot_promise)  # old "15天现货" custom goods
    kind = np.where(mode == 0, np.minimum(spot_promise, _PDAYS), _PDAYS)
    days = np.select(
        [mode == 0, mode == 1],
        [
            np.where(spot_promise == 4, 15, 7),
            np.asarray([5, 7, 10, 15])[rng.integers(0, 4, n_prod)],
        ],
        np.asarray([7, 10, 15])[rng.integers(0, 3, n_prod)],
    )

    # SKUs
    n_sku = int(p_nsku.sum())
    s_prod = np.repeat(np.arange(n_prod), p_nsku)
    s_no = np.arange(n_sku) - np.repeat(np.cumsum(p_nsku) - p_nsku, p_nsku)
    s_cat = p_cat[s_prod]
    s_id = _increasing_ids(rng, n_sku, 1_720_000_000_000_000, 10**6)
    s_yuan = np.floor(p_yuan[s_prod] * (1.0 + 0.15 * s_no)).astype(np.int64)
    ending = np.asarray([90, 0, 99, 80])[_choice(rng, n_sku, (0.55, 0.2, 0.15, 0.1))]
    s_price = np.maximum(s_yuan * 100 + ending - np.where(ending > 0, 100, 0), 100)
    stock = np.where(rng.random(n_sku) < 0.05, 0, rng.integers(1, 3000, n_sku))
    stock = np.where(p_status[s_prod] == 1, 0, stock)
    s_mode = mode[s_prod]
    spot_stock = np.select(
        [s_mode == 0, s_mode == 1],
        [stock, (stock * rng.uniform(0.2, 0.6, n_sku)).astype(np.int64)],
        0,
    )
    s_kind = kind[s_prod]
    s_days = days[s_prod]

    shop_of_sku = p_shop[s_prod]
    sku_count = np.bincount(shop_of_sku, minlength=n_shops)
    sku_offset = np.cumsum(sku_count) - sku_count

    title = (
        _pick(PREFIXES, p_prefix)
        + pl.Series([n for row in NOUNS for n in row]).gather(p_cat * 5 + p_noun)
        + _pick(SUFFIXES, p_suffix)
    ).gather(s_prod)
    spec = pl.Series([s for row in SPECS for s in row]).gather(s_cat * 4 + s_no)
    promise_text = _pick(SPOT_PROMISES, np.minimum(s_kind, 2))
    raw = pl.DataFrame(
        {
            "product_id": p_id[s_prod],
            "title": title,
            "sku_id": s_id,
            "letter": _pick(tuple(CODE_LETTERS), s_cat),
            "p_no": p_no[s_prod],
            "s_no": s_no + 1,
            "spec": spec,
            "category": _pick(CATEGORIES, s_cat),
            "price": s_price,
            "stock": stock,
            "mode": _pick(SHIP_MODES, s_mode),
            "kind": s_kind,
            "days": s_days,
            "promise_spot": promise_text,
            "spot_stock": spot_stock,
            "status": _pick(("在售", "下架"), p_status[s_prod]),
            "shop": _pick(shop_ids, shop_of_sku),
            "cost_pct": rng.integers(40, 71, n_sku),
            "has_cost": rng.random(n_sku) < 0.9,
        }
    )
    raw = raw.with_columns(
        code=pl.concat_str(
            [
                pl.col("letter"),
                pl.lit("-"),
                pl.col("p_no").cast(pl.String).str.zfill(4),
                pl.lit("-"),
                pl.col("s_no").cast(pl.String).str.zfill(2),
            ]
        ),
        promise=pl.when(pl.col("kind") == _PDAYS)
        .then(pl.col("days").cast(pl.String) + pl.lit("天"))
        .otherwise(pl.col("promise_spot")),
    )
    products = _frame(
        raw,
        PRODUCT_HEADERS,
        _id(pl.col("product_id")),
        pl.col("title"),
        _id(pl.col("sku_id")),
        pl.col("code"),
        pl.col("spec"),
        pl.col("category"),
        _yuan(pl.col("price")),
        pl.col("stock").cast(pl.String),
        pl.col("mode"),
        pl.col("promise"),
        pl.col("spot_stock").cast(pl.String),
        pl.col("status"),
        pl.col("shop"),
    )
    costs = _frame(
        raw.filter(pl.col("has_cost")),
        [*COST_HEADERS, "店铺ID"],
        _id(pl.col("sku_id")),
        pl.col("code"),
        _yuan(_half_up_div_expr(pl.col("price") * pl.col("cost_pct"), 100)),
        pl.col("shop"),
    )
    return _Catalogue(
        sku_offset=sku_offset,
        sku_count=sku_count,
        product_id=p_id[s_prod],
        category=s_cat,
        price=s_price,
        promise_kind=s_kind,
        promise_days=s_days,
        tiered=s_mode == 1,
        text=raw.select(
            pl.col("title").alias("选购商品"),
            pl.col("spec").alias("商品规格"),
            pl.col("code").alias("商家编码"),
        ),
        products=products,
        costs=costs,
    )


def _half_up_div_expr(num: pl.Expr, den: int) -> pl.Expr:
    return (num + den // 2) // den


# ============================================================================= order batches


@dataclass
class _State:
    """What carries from one batch to the next: the last IDs handed out."""

    #: the largest gap between consecutive IDs (set from the total number of rows so that
    #: the ranges never overlap: orders 69[0-4]..., sub-orders 69[5-9]..., after-sales 14...)
    step: int = 2_000_000_000
    order_id: int = 6_900_012_345_678_901_234
    sub_order_id: int = 6_950_098_765_432_109_876
    after_sale_id: int = 1_400_034_567_890_123_456


def _batch(
    rng: np.random.Generator,
    state: _State,
    shop_of_row: np.ndarray,
    cat: _Catalogue,
    shop_ids: list[str],
    creator_ids: np.ndarray,
    start_s: int,
    end_s: int,
) -> dict[str, pl.DataFrame]:
    """Orders, after-sales, bill and commission rows for one batch of order rows."""
    n = len(shop_of_row)
    # --- sub-orders grouped into orders (1-3 rows, never across a shop) --------------
    sizes = _choice(rng, n, (0.80, 0.15, 0.05)) + 1
    is_start = np.zeros(n, dtype=bool)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    is_start[starts[starts < n]] = True
    is_start[1:] |= shop_of_row[1:] != shop_of_row[:-1]
    is_start[0] = True
    order_of_row = np.cumsum(is_start) - 1
    start_rows = np.flatnonzero(is_start)
    n_orders = len(start_rows)
    line = np.arange(n) - start_rows[order_of_row]

    # --- order level ----------------------------------------------------------------
    o_shop = shop_of_row[start_rows]
    o_id = _increasing_ids(rng, n_orders, state.order_id, state.step)
    state.order_id = int(o_id[-1])
    o_created = start_s + rng.integers(0, end_s - start_s, n_orders)
    o_paid = o_created + np.clip(rng.exponential(90.0, n_orders).astype(np.int64) + 3, 3, 3_600)
    u = rng.random(n_orders)
    o_unpaid = (u < 0.03) | (o_paid >= end_s)
    o_closed = (u >= 0.03) & (u < 0.05)
    o_paid = np.where(o_unpaid | o_closed, -1, o_paid)
    o_freight = np.where(rng.random(n_orders) < 0.2, rng.integers(10, 25, n_orders) * 50, 0)
    o_source = _choice(rng, n_orders, TRAFFIC_WEIGHTS)
    o_alliance = o_source == 0
    o_creator = creator_ids[
        o_shop * CREATORS_PER_SHOP + rng.integers(0, CREATORS_PER_SHOP, n_orders)
    ]
    o_payment = _choice(rng, n_orders, PAYMENT_WEIGHTS)
    o_surname = rng.integers(0, len(SURNAMES), n_orders)
    o_place = rng.integers(0, len(PLACES), n_orders)
    o_buyer_note = np.where(
        rng.random(n_orders) < 0.06, rng.integers(0, len(BUYER_NOTES), n_orders), -1
    )
    o_merchant_note = np.where(
        rng.random(n_orders) < 0.03, rng.integers(0, len(MERCHANT_NOTES), n_orders), -1
    )

    # --- row level: product, money ----------------------------------------------------
    # popular products first: a skewed pick within the shop's catalogue
    pick = np.floor(cat.sku_count[shop_of_row] * rng.random(n) ** 2.2).astype(np.int64)
    sku = cat.sku_offset[shop_of_row] + pick
    sub_id = _increasing_ids(rng, n, state.sub_order_id, state.step)
    state.sub_order_id = int(sub_id[-1])
    qty = _choice(rng, n, (0.82, 0.14, 0.04)) + 1
    unit = cat.price[sku]
    goods = unit * qty
    freight = np.where(line == 0, o_freight[order_of_row], 0)
    alliance = o_alliance[order_of_row]
    platform_d = np.where(
        rng.random(n) < 0.15, np.minimum(rng.integers(100, 1001, n), goods // 5), 0
    )
    creator_d = np.where(
        alliance & (rng.random(n) < 0.30), np.minimum(rng.integers(100, 501, n), goods // 10), 0
    )
    payment_d = np.where(rng.random(n) < 0.12, np.minimum(rng.integers(1, 301, n), goods // 20), 0)
    payable = goods + freight - platform_d - creator_d - payment_d

    # --- row level: times and status ----------------------------------------------------
    paid = o_paid[order_of_row]
    is_paid = paid >= 0
    kind = cat.promise_kind[sku]
    kind = np.where(cat.tiered[sku] & (rng.random(n) < 0.5), _P48, kind)  # tiered: spot stock
    day_end = paid - paid % DAY + DAY - 1
    promised = np.select(
        [kind == _P48, kind == _PSAME, kind == _PNEXT],
        [paid + 2 * DAY, day_end, day_end + DAY],
        paid + cat.promise_days[sku] * DAY,
    )
    shipped = paid + ((promised - paid) * rng.uniform(0.05, 0.95, n)).astype(np.int64)
    late = rng.random(n) < 0.03
    shipped = np.where(late, promised + rng.integers(3_600, 2 * DAY, n), shipped)
    received = shipped + rng.integers(3 * DAY, 12 * DAY, n)
    status = np.select(
        [~is_paid & o_closed[order_of_row], ~is_paid, shipped >= end_s, received >= end_s],
        [_S_CLOSED, _S_UNPAID, _S_PREPARING, _S_SHIPPED],
        _S_DONE,
    )
    promised = np.where(is_paid, promised, -1)
    shipped = np.where(is_paid & (shipped < end_s), shipped, -1)
    received = np.where(status == _S_DONE, received, -1)

    # --- after-sales --------------------------------------------------------------------
    has_as = is_paid & (rng.random(n) < AS_SHARE / 0.95)
    a_type = np.where(status == _S_PREPARING, 0, _choice(rng, n, (0.35, 0.50, 0.15)))
    a_status = np.where(
        a_type == 2,
        np.where(rng.random(n) < 0.8, _AS_EXCHANGED, _AS_CLOSED),
        _choice(rng, n, (0.75, 0.15, 0.10)),
    )
    limit = np.where(received >= 0, np.minimum(received + 7 * DAY, end_s - 1), end_s - 1)
    applied = paid + ((limit - paid) * rng.uniform(0.02, 1.0, n)).astype(np.int64)
    done_at = np.minimum(applied + rng.integers(3_600, 5 * DAY, n), end_s - 1)
    basis = payable - freight
    full = rng.random(n) < 0.85
    refund_goods = np.select(
        [a_status == _AS_OPEN, (a_status == _AS_REFUNDED) & full, a_status == _AS_REFUNDED],
        [basis, basis, (basis * rng.uniform(0.2, 0.8, n)).astype(np.int64)],
        0,
    )
    refund_full = (a_status == _AS_REFUNDED) & full
    refund_freight = np.where(refund_full & ((a_type == 0) | (rng.random(n) < 0.3)), freight, 0)
    refund_payment = np.where(refund_full, payment_d, 0)
    a_reason = rng.integers(0, len(AS_REASONS), n)
    # a full refund before shipping closes the order
    status = np.where(has_as & refund_full & (status == _S_PREPARING), _S_CLOSED, status)

    # --- commission and settlement --------------------------------------------------------
    comm_rate = rng.integers(10, 31, n)
    has_comm = alliance & is_paid
    commission = np.where(has_comm, _half_up_div(basis * comm_rate, 100), 0)
    in_bill_candidate = (status == _S_DONE) & ~has_as
    rec_day = (np.where(received >= 0, received, 0) // DAY).astype("datetime64[D]")
    month = rec_day.astype("datetime64[M]")
    dom = (rec_day - month.astype("datetime64[D]")).astype(np.int64) + 1
    window_end = (
        np.where(
            dom < 16, month.astype("datetime64[D]") + 15, (month + 1).astype("datetime64[D]")
        ).astype(np.int64)
        * DAY
    )
    in_bill = in_bill_candidate & (window_end <= end_s)
    income = payable + platform_d + creator_d + payment_d
    fee = _half_up_div((income - freight) * np.asarray(FEE_BP)[cat.category[sku]], 10_000)
    net = income - fee - commission
    off = rng.random(n) < 0.01
    net = np.where(off, net + rng.integers(1, 10, n) * np.where(rng.random(n) < 0.5, -1, 1), net)
    account = rng.integers(0, len(BILL_ACCOUNTS), n)

    # --- frames ----------------------------------------------------------------------------
    shop = _pick(shop_ids, shop_of_row)
    base = pl.DataFrame(
        {
            "order_id": o_id[order_of_row],
            "sub_order_id": sub_id,
            "product_id": cat.product_id[sku],
            "quantity": qty,
            "unit": unit,
            "goods": goods,
            "payable": payable,
            "freight": freight,
            "platform_d": platform_d,
            "creator_d": creator_d,
            "payment_d": payment_d,
            "created": o_created[order_of_row],
            "paid": paid,
            "promised": promised,
            "shipped": shipped,
            "received": received,
            "shop": shop,
        }
    )
    text = cat.text[sku]
    as_status_text = _pick(AS_STATUSES, a_status)
    order_frame = pl.concat(
        [
            base,
            text,
            pl.DataFrame(
                {
                    "status": _pick(ORDER_STATUSES, status),
                    "as_status": _pick(("-", *AS_STATUSES), np.where(has_as, a_status + 1, 0)),
                    "source": _pick(TRAFFIC_SOURCES, o_source[order_of_row]),
                    "creator": o_creator[order_of_row],
                    "alliance": alliance,
                    "receiver": _pick(SURNAMES, o_surname[order_of_row]) + "**",
                    "province": _pick([p for p, _ in PLACES], o_place[order_of_row]),
                    "city": _pick([c for _, c in PLACES], o_place[order_of_row]),
                    "buyer_note": _pick(BUYER_NOTES, np.maximum(o_buyer_note, 0)[order_of_row]),
                    "has_buyer_note": o_buyer_note[order_of_row] >= 0,
                    "merchant_note": _pick(
                        MERCHANT_NOTES, np.maximum(o_merchant_note, 0)[order_of_row]
                    ),
                    "has_merchant_note": o_merchant_note[order_of_row] >= 0,
                    "payment_method": _pick(PAYMENT_METHODS, o_payment[order_of_row]),
                }
            ),
        ],
        how="horizontal",
    )
    orders = order_frame.select(_order_columns())

    as_idx = np.flatnonzero(has_as)
    n_as = len(as_idx)
    as_ids = _increasing_ids(rng, n_as, state.after_sale_id, state.step)
    if n_as:
        state.after_sale_id = int(as_ids[-1])
    a_done = a_status[as_idx]
    as_frame = pl.DataFrame(
        {
            "id": as_ids,
            "order_id": o_id[order_of_row][as_idx],
            "sub_order_id": sub_id[as_idx],
            "product_id": cat.product_id[sku][as_idx],
            "type": _pick(AS_TYPES, a_type[as_idx]),
            "status": as_status_text.gather(as_idx),
            "applied": applied[as_idx],
            "refund_goods": refund_goods[as_idx],
            "refund_freight": refund_freight[as_idx],
            "refund_payment": refund_payment[as_idx],
            "method": _pick(
                ("原路退回", "无需退款"),
                ((a_done == _AS_CLOSED) | (a_done == _AS_EXCHANGED)).astype(np.int64),
            ),
            "closed": np.where(a_done == _AS_CLOSED, done_at[as_idx], -1),
            "completed": np.where(
                (a_done == _AS_REFUNDED) | (a_done == _AS_EXCHANGED), done_at[as_idx], -1
            ),
            "shop": shop.gather(as_idx),
            "reason": _pick(AS_REASONS, a_reason[as_idx]),
        }
    )
    after_sales = _frame(
        as_frame,
        [*AFTER_SALES_HEADERS, "售后原因"],
        _id(pl.col("id")),
        _id(pl.col("order_id")),
        _id(pl.col("sub_order_id")),
        _id(pl.col("product_id")),
        pl.col("type"),
        pl.col("status"),
        _ts(pl.col("applied")),
        _yuan(pl.col("refund_goods")),
        _yuan(pl.col("refund_freight")),
        _yuan(pl.col("refund_payment")),
        pl.col("method"),
        _ts(pl.col("closed")),
        _ts(pl.col("completed")),
        pl.col("shop"),
        pl.col("reason"),
    )

    b_idx = np.flatnonzero(in_bill)
    bill_frame = base[b_idx].with_columns(
        settled=pl.Series(window_end[b_idx] + 10 * 3_600),
        net=pl.Series(net[b_idx]),
        income=pl.Series(income[b_idx]),
        fee=pl.Series(fee[b_idx]),
        commission=pl.Series(commission[b_idx]),
        account=_pick(BILL_ACCOUNTS, account[b_idx]),
        alliance=pl.Series(alliance[b_idx]),
        bill_type=pl.lit("正向结算"),
    )
    bill = _bill_cells(bill_frame)

    c_idx = np.flatnonzero(has_comm)
    comm_frame = pl.DataFrame(
        {
            "sub_order_id": sub_id[c_idx],
            "product_id": cat.product_id[sku][c_idx],
            "commission": commission[c_idx],
            "rate": comm_rate[c_idx],
            "shop": shop.gather(c_idx),
        }
    )
    commissions = _frame(
        comm_frame,
        [*COMMISSION_HEADERS, "佣金率"],
        _id(pl.col("sub_order_id")),
        _id(pl.col("product_id")),
        _yuan(pl.col("commission")),
        pl.col("shop"),
        pl.col("rate").cast(pl.String) + pl.lit("%"),
    )
    # not written: what the fund flow is made from (the bill rows, and paid sub-orders
    # the bill does not hold)
    unbilled = base.filter(pl.Series(is_paid & ~in_bill & (status != _S_CLOSED)))
    return {
        "orders": orders,
        "after_sales": after_sales,
        "bill": bill,
        "commissions": commissions,
        SETTLED: bill_frame,
        UNBILLED: unbilled.select(
            "order_id", "sub_order_id", "product_id", "created", "payable", "shop"
        ),  # fmt: skip
    }


def _bill_cells(frame: pl.DataFrame) -> pl.DataFrame:
    """The bill's text cells of `frame` (settled, order_id, sub_order_id, net, account,
    bill_type, created, product_id, quantity, alliance, goods, freight, platform_d,
    creator_d, payment_d, payable, income, fee, commission, shop; fees positive)."""
    zero = pl.lit("0.00")
    return _frame(
        frame,
        BILL_HEADERS,
        _ts(pl.col("settled")),
        _id(pl.col("order_id")),
        _id(pl.col("sub_order_id")),
        _yuan(pl.col("net")),
        pl.col("account"),
        pl.col("bill_type"),
        pl.lit("否"),
        _ts(pl.col("created")),
        _id(pl.col("product_id")),
        pl.col("quantity").cast(pl.String),
        pl.when(pl.col("alliance")).then(pl.lit("精选联盟")).otherwise(pl.lit("小店自卖")),
        pl.lit("普通订单"),
        _yuan(pl.col("goods") + pl.col("freight")),  # 订单总价
        _yuan(pl.col("goods")),  # 商品总价
        _yuan(pl.col("freight")),
        zero,  # 店铺劵
        zero,  # 结算前退款金额
        _yuan(pl.col("platform_d")),
        _yuan(pl.col("creator_d")),
        _yuan(pl.col("payment_d")),
        zero,  # 抖音月付营销补贴
        _yuan(pl.col("payable")),  # 用户实付
        _yuan(pl.col("income")),  # 收入合计
        _yuan(-pl.col("fee")),
        _yuan(-pl.col("commission")),
        zero,  # 渠道分成
        zero,  # 招商服务费
        zero,  # 站外推广费
        zero,  # 其他分成
        _yuan(-(pl.col("fee") + pl.col("commission"))),  # 支出合计
        zero,  # 免佣金额
        pl.lit(None, dtype=pl.String),  # 其他分成说明
        pl.lit("否"),
        pl.lit(None, dtype=pl.String),  # 备注
        pl.col("shop"),
    )


def _order_columns() -> list[pl.Expr]:
    """The order export's columns: every SPEC column under its real header, in SPEC
    order, with the extra columns of the real export interleaved (matched by name)."""
    note = lambda flag, col: pl.when(pl.col(flag)).then(pl.col(col)).otherwise(None)  # noqa: E731
    by_name = {
        "order_id": _id(pl.col("order_id"), tab=True),
        "sub_order_id": _id(pl.col("sub_order_id"), tab=True),
        "product_title": pl.col("选购商品"),
        "sku_spec": pl.col("商品规格"),
        "quantity": pl.col("quantity").cast(pl.String),
        "product_id": _id(pl.col("product_id"), tab=True),
        "merchant_code": pl.col("商家编码"),
        "unit_price": _yuan(pl.col("unit")),
        "payable": _yuan(pl.col("payable")),
        "freight": _yuan(pl.col("freight")),
        "platform_discount": _yuan(pl.col("platform_d")),
        "creator_discount": _yuan(pl.col("creator_d")),
        "payment_discount": _yuan(pl.col("payment_d")),
        "created_at": _ts(pl.col("created")),
        "paid_at": _ts(pl.col("paid")),
        "promised_ship_at": _ts(pl.col("promised")),
        "shipped_at": _ts(pl.col("shipped")),
        "received_at": _ts(pl.col("received")),
        "order_status": pl.col("status"),
        "after_sale_status": pl.col("as_status"),
        "traffic_source": pl.col("source"),
        "creator_id": pl.when(pl.col("alliance"))
        .then(_id(pl.col("creator"), tab=True))
        .otherwise(pl.lit("-")),
        "shop_id": pl.col("shop"),
    }
    extras_after = {
        "payment_discount": [("支付方式", pl.col("payment_method"))],
        "order_status": [
            ("收件人", pl.col("receiver")),
            ("省", pl.col("province")),
            ("市", pl.col("city")),
        ],
        "creator_id": [
            ("买家留言", note("has_buyer_note", "buyer_note")),
            ("商家备注", note("has_merchant_note", "merchant_note")),
        ],
    }
    exprs = []
    for column in _orders.SPEC.columns:
        if column.name not in by_name:  # 货号 beside 商家编码: the demo export has none
            continue
        exprs.append(by_name[column.name].alias(column.headers[0]))
        for header, expr in extras_after.get(column.name, []):
            exprs.append(expr.alias(header))
    return exprs


ORDER_FILE_HEADERS = [e.meta.output_name() for e in _order_columns()]

# ============================================================================= writing


class _Sink:
    """One kind's output files, filled batch by batch: the CSV is appended to directly;
    parquet batches go to part files that are combined at the end."""

    def __init__(
        self,
        stack: contextlib.ExitStack,
        out_dir: Path,
        stem: str,
        headers: list[str],
        parquet: bool,
        note: str | None = None,
    ) -> None:
        self.out_dir, self.stem, self.parquet = out_dir, stem, parquet
        self.rows = 0
        self.empty = pl.DataFrame(schema={h: pl.String for h in headers})
        tmp = stack.enter_context(atomic_path(out_dir / f"{stem}.csv"))
        self.fh = stack.enter_context(open(tmp, "wb"))
        self.empty.write_csv(self.fh, include_bom=True)
        self.parts: list[Path] = []
        if parquet:
            self.part_dir = Path(tempfile.mkdtemp(prefix=f".{stem}.parts.", dir=out_dir))
            stack.callback(shutil.rmtree, self.part_dir, True)
        if note is not None:
            note_row = pl.DataFrame(
                [[note] + [None] * (len(headers) - 1)], schema=self.empty.schema, orient="row"
            )
            note_row.write_csv(self.fh, include_header=False)  # CSV only

    def _write(self, frame: pl.DataFrame) -> None:
        frame.write_csv(self.fh, include_header=False)
        if self.parquet:
            part = self.part_dir / f"{len(self.parts):06d}.parquet"
            frame.write_parquet(part)
            self.parts.append(part)

    def append(self, frame: pl.DataFrame) -> None:
        if frame.height:
            self._write(frame)
            self.rows += frame.height

    def finish(self) -> None:
        self.fh.flush()
        if self.parquet:
            source = pl.scan_parquet(self.parts) if self.parts else self.empty.lazy()
            write_parquet(source, self.out_dir / f"{self.stem}.parquet")


def _append(sinks: dict[str, _Sink], frames: dict[str, pl.DataFrame]) -> None:
    for stem, frame in frames.items():
        sinks[stem].append(frame)


def _shop_split(rng: np.random.Generator, rows: int, shops: int) -> np.ndarray:
    """Order rows per shop: uneven (log-normal shares), summing to `rows`."""
    weights = np.exp(rng.normal(0.0, 0.5, shops))
    return rng.multinomial(rows, weights / weights.sum())


def generate(
    out_dir: str | Path,
    *,
    shops: int,
    orders: int,
    seed: int,
    formats: tuple[str, ...] = ("csv",),
    start: _dt.date = _dt.date(2026, 9, 1),
    days: int = 61,
) -> dict[str, int]:
    """Writes orders, after_sales, bill, products, costs, commissions exports into out_dir;
    returns {kind: row_count}.

    `orders` is the number of order rows (sub-orders) over all `shops`; the counts
    returned are data rows (the bill's note row not counted). `formats` may hold "csv"
    (always written) and "parquet". Orders are created in [start, start + days); the
    exports are taken at start + days 00:00, and the bill holds the sub-orders received in
    a half-month window ending by then (settled on the 1st or the 16th, 10:00).
    """
    if shops < 1:
        raise ValueError("shops must be at least 1")
    if orders < 0 or days < 1:
        raise ValueError("orders must be >= 0 and days >= 1")
    if not (_LUT_FIRST_DAY <= start and start + _dt.timedelta(days=days + 60) < _LUT_END_DAY):
        raise ValueError(f"start and days must stay within {_LUT_FIRST_DAY}..{_LUT_END_DAY}")
    unknown = set(formats) - {"csv", "parquet"}
    if unknown:
        raise ValueError(f"unknown formats: {sorted(unknown)}")
    parquet = "parquet" in formats
    from pipeline.demo import funds

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    shop_ids = [str(1_000_001 + i) for i in range(shops)]
    cat = _catalogue(rng, shop_ids)
    # 达人ID: 16 to 19 digits, a pool per shop
    n_creators = shops * CREATORS_PER_SHOP
    length = rng.integers(16, 20, n_creators)
    low = np.power(10, length - 1, dtype=np.int64)
    high = np.where(
        length == 19,
        9_000_000_000_000_000_000,
        np.power(10, np.minimum(length, 18), dtype=np.int64),
    )
    creator_ids = rng.integers(low, high, dtype=np.int64)

    start_s = (start - _dt.date(1970, 1, 1)).days * DAY
    end_s = start_s + days * DAY
    rows_per_shop = _shop_split(rng, orders, shops)
    shop_end = np.cumsum(rows_per_shop)

    counts: dict[str, int] = {}
    for stem, frame in (("products", cat.products), ("costs", cat.costs)):
        write_csv(frame, out / f"{stem}.csv", bom=True)
        if parquet:
            write_parquet(frame, out / f"{stem}.parquet")
        counts[stem] = frame.height

    state = _State(step=int(min(2 * 10**9, max(2, 4 * 10**16 // max(orders, 1)))))
    # the close's exports draw from their own stream: the others stay as they were
    cycle_s = (
        funds.cycle_start(start + _dt.timedelta(days=days)) - _dt.date(1970, 1, 1)
    ).days * DAY
    fund_state = funds.FundState(np.random.default_rng([seed, 1]), cycle_s, end_s)
    with contextlib.ExitStack() as stack:
        sinks = {
            "orders": _Sink(stack, out, "orders", ORDER_FILE_HEADERS, parquet),
            "after_sales": _Sink(
                stack, out, "after_sales", [*AFTER_SALES_HEADERS, "售后原因"], parquet
            ),
            "bill": _Sink(stack, out, "bill", BILL_HEADERS, parquet, note=BILL_NOTE),
            "commissions": _Sink(
                stack, out, "commissions", [*COMMISSION_HEADERS, "佣金率"], parquet
            ),
            "bill_refunds": _Sink(
                stack, out, "bill_refunds", BILL_HEADERS, parquet, note=BILL_NOTE
            ),
            "fund_flow": _Sink(stack, out, "fund_flow", funds.FUND_HEADERS, parquet),
        }
        # one writer thread: batch k is written while batch k+1 is generated (polars and
        # numpy release the GIL); writes stay in batch order, so the files are the same
        with ThreadPoolExecutor(max_workers=1) as writer:
            pending: Future[None] | None = None
            for first in range(0, orders, BATCH_ROWS):
                rows = np.arange(first, min(first + BATCH_ROWS, orders))
                shop_of_row = np.searchsorted(shop_end, rows, side="right")
                frames = _batch(rng, state, shop_of_row, cat, shop_ids, creator_ids, start_s, end_s)
                frames.update(funds.batch(fund_state, frames.pop(SETTLED), frames.pop(UNBILLED)))
                if pending is not None:
                    pending.result()
                pending = writer.submit(_append, sinks, frames)
            if pending is not None:
                pending.result()
        sinks["fund_flow"].append(funds.fund_cells(funds.other_money(fund_state, shop_ids)))
        for stem, sink in sinks.items():
            sink.finish()
            counts[stem] = sink.rows
    account = funds.account_flow(fund_state)
    write_csv(account, out / "account_flow.csv", bom=True)
    if parquet:
        write_parquet(account, out / "account_flow.parquet")
    counts["account_flow"] = account.height
    return {stem: counts[stem] for stem in (*KIND_STEMS, *CLOSE_STEMS)}


def split_by_shop(out_dir: str | Path) -> list[str]:
    """Copy each CSV export of `out_dir` into `out_dir/<店铺ID>/`, one shop's rows each,
    as every shop's own back office would export them (the bill keeps its note row).
    For demos and tests: it reads whole files. Returns the shop IDs."""
    out = Path(out_dir)
    shops: set[str] = set()
    for stem in (*KIND_STEMS, *CLOSE_STEMS):
        path = out / f"{stem}.csv"
        skip = 1 if stem in NOTED_STEMS else 0
        table = pl.read_csv(path, infer_schema=False, skip_rows_after_header=skip)
        for (shop,), part in table.group_by("店铺ID", maintain_order=True):
            shops.add(str(shop))
            with atomic_path(out / str(shop) / f"{stem}.csv") as tmp, open(tmp, "wb") as fh:
                part.head(0).write_csv(fh, include_bom=True)
                if skip:
                    note = [[BILL_NOTE] + [None] * (part.width - 1)]
                    pl.DataFrame(note, schema=part.schema, orient="row").write_csv(
                        fh, include_header=False
                    )
                part.write_csv(fh, include_header=False)
    return sorted(shops)


def shops_config(out_dir: str | Path, shops: list[str], price_rules: str | Path | None) -> str:
    """The `[[shops]]` tables of a `doudian run` config over the exports `split_by_shop`
    wrote into `out_dir` (absolute paths), each shop with `price_rules` when given."""
    text = ""
    for shop in shops:
        folder = Path(out_dir) / shop
        text += f'\n[[shops]]\nid = "{shop}"\n'
        text += "".join(f'{stem} = "{folder / (stem + ".csv")}"\n' for stem in FILE_STEMS)
        if price_rules is not None:
            text += f'price_rules = "{price_rules}"\n'
    return text
