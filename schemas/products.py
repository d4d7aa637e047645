"""商品导出 (product export, one row per SKU)."""

from __future__ import annotations

import pandera.polars as pa

from schemas import checks
from schemas.base import KindSpec, RowChecks, Vocabulary, col, model_of

SHIP_MODES = Vocabulary(frozenset({"现货发货", "阶梯发货", "全款预售"}))
PRODUCT_STATUSES = Vocabulary(frozenset({"在售", "下架"}))

SPEC = KindSpec(
    name="products",
    title="商品导出",
    columns=(
        col("product_id", "id", "商品ID", required=True, nullable=False),
        col("product_title", "text", "商品名称"),
        col("sku_id", "id", "SKU ID", "SKUID", required=True, nullable=False),
        col("merchant_code", "text", "商家编码"),
        col("spec", "text", "规格"),
        col("category", "text", "一级类目"),
        col("price", "money", "售价(元)", "价格", nullable=False),
        col("stock", "int", "库存"),
        col("ship_mode", "text", "发货模式"),
        col("promise", "text", "承诺发货时间"),
        col("spot_stock", "int", "现货库存"),
        col("status", "text", "商品状态"),
        col("shop_id", "text", "店铺ID"),
    ),
    unique="sku_id",
    unique_code="duplicate-sku",
    statuses={"ship_mode": SHIP_MODES, "status": PRODUCT_STATUSES},
    needs={"price": ("price",), "shipping-mode": ("product_title",)},
)


class _Checks(RowChecks):
    @pa.check("product_id", "sku_id", name="bad-id")
    def _ids(cls, data):
        return checks.is_id(data)

    @pa.check("shop_id", name="bad-shop-id")
    def _shop(cls, data):
        return checks.is_shop_id(data)

    @pa.check("price", name="money-out-of-range")
    def _money(cls, data):
        return checks.money_unsigned(data)

    @pa.check("stock", "spot_stock", name="negative-stock")
    def _stock(cls, data):
        return checks.non_negative(data)


Products = model_of(SPEC, _Checks, """A valid SKU row. Price in fen.""")
