"""商品导出 (product export, one row per SKU)."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from schemas import checks
from schemas.base import KindSpec, col

SHIP_MODES = frozenset({"现货发货", "阶梯发货", "全款预售"})
PRODUCT_STATUSES = frozenset({"在售", "下架"})

SPEC = KindSpec(
    name="products",
    title="商品导出",
    columns=(
        col("product_id", "id", "商品ID", required=True, nullable=False),
        col("product_title", "text", "商品名称", required=True),
        col("sku_id", "id", "SKU ID", "SKUID", required=True, nullable=False),
        col("merchant_code", "text", "商家编码"),
        col("spec", "text", "规格"),
        col("category", "text", "一级类目"),
        col("price", "money", "售价(元)", "价格", required=True, nullable=False),
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
)


class Products(pa.DataFrameModel):
    """A valid SKU row. Price in fen."""

    product_id: str = pa.Field(nullable=False)
    product_title: str = pa.Field(nullable=True)
    sku_id: str = pa.Field(nullable=False)
    merchant_code: str = pa.Field(nullable=True)
    spec: str = pa.Field(nullable=True)
    category: str = pa.Field(nullable=True)
    price: pl.Int64 = pa.Field(nullable=False)
    stock: pl.Int64 = pa.Field(nullable=True)
    ship_mode: str = pa.Field(nullable=True)
    promise: str = pa.Field(nullable=True)
    spot_stock: pl.Int64 = pa.Field(nullable=True)
    status: str = pa.Field(nullable=True)
    shop_id: str = pa.Field(nullable=True)

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

    class Config:
        strict = True
        coerce = False
