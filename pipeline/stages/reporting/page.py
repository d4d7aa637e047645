"""report.html: one self-contained page of charts (plotly.js embedded, no network when
viewed; Chinese labels in the browser's own fonts)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.stages.reporting.data import HELD_REASONS, ReportData
from pipeline.stages.reporting.workbook import REASONS_ZH, STATUS_ZH, summary_frame
from pipeline.stages.shipping.plan import ShippingPolicy

FONT = '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif'
CONFIG = {"displaylogo": False, "displayModeBar": False, "responsive": True}


def _yuan(values: list[int | None]) -> list[float | None]:
    return [None if v is None else v / 100 for v in values]


def _figure(traces: list[dict[str, Any]], title: str, **layout: Any) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    for trace in traces:
        fig.add_trace(trace.pop("type")(**trace))
    fig.update_layout(
        title=title, font={"family": FONT}, template="plotly_white", height=380,
        margin={"l": 60, "r": 20, "t": 60, "b": 60}, legend={"orientation": "h"}, **layout,
    )  # fmt: skip
    return fig


def _bar(**kw: Any) -> dict[str, Any]:
    import plotly.graph_objects as go

    return {"type": go.Bar, **kw}


def _line(**kw: Any) -> dict[str, Any]:
    import plotly.graph_objects as go

    return {"type": go.Scatter, **kw}


def charts(data: ReportData, shipping: ShippingPolicy | None) -> dict[str, Any]:
    """The page's charts by id, in order (a chart without data is left out)."""
    out: dict[str, Any] = {}
    summary = summary_frame(data).filter(pl.col("shop_id") != "合计")
    shops = summary["shop_id"].to_list()
    out["due"] = _figure(
        [_bar(x=shops, y=_yuan(summary["net"].to_list()), name="应结金额")],
        "各店铺应结金额（元）", xaxis={"type": "category", "title": "店铺ID"},
    )  # fmt: skip
    daily = (
        data.statement.group_by(pl.col("received_at").dt.date().alias("day"))
        .agg(pl.col("net").sum())
        .sort("day")
    )
    out["daily"] = _figure(
        [_line(x=[d.isoformat() for d in daily["day"]], y=_yuan(daily["net"].to_list()),
               mode="lines+markers", name="应结金额")],
        "按收货日的应结金额（元）", xaxis={"title": "订单完成日期"},
    )  # fmt: skip
    parts = (("net", "应结金额"), ("platform_fee", "平台服务费"), ("commission", "佣金"))
    out["fees"] = _figure(
        [_bar(x=shops, y=_yuan(summary[c].to_list()), name=n) for c, n in parts],
        "收入构成：应结、平台服务费、佣金（元）", barmode="stack",
        xaxis={"type": "category", "title": "店铺ID"},
    )  # fmt: skip
    _held_chart(out, data, summary, shops)
    if data.reconciliation is not None:
        counts = data.reconciliation.group_by("status").agg(
            pl.len().alias("n"), pl.col("difference").sum()
        )
        found = {r["status"]: r for r in counts.iter_rows(named=True)}
        kinds = [s for s in STATUS_ZH if s != "match"]
        out["reconciliation"] = _figure(
            [_bar(x=[STATUS_ZH[k] for k in kinds], y=[found.get(k, {}).get("n", 0) for k in kinds],
                  name="笔数",
                  text=[f"差异 {found.get(k, {}).get('difference', 0) / 100:,.2f} 元" for k in kinds])],
            "对账差异（按类型，笔数）",
        )  # fmt: skip
    if data.loss_makers is not None and data.loss_makers.height:
        top = data.loss_makers.head(10).reverse()
        labels = [f"{s or p}" for s, p in zip(top["sku"], top["product_id"], strict=True)]
        out["losers"] = _figure(
            [_bar(y=labels, x=_yuan(top["profit"].to_list()), orientation="h", name="利润",
                  text=top["product_title"].to_list() if "product_title" in top.columns else None)],
            "亏损最多的商品（利润，元）", yaxis={"type": "category"},
        )  # fmt: skip
    if data.spot is not None and data.spot.height and shipping is not None:
        out["spot"] = _spot_chart(data.spot, shipping)
    return out


def _held_chart(out: dict[str, Any], data: ReportData, summary: pl.DataFrame, shops: list) -> None:
    if "payable" not in data.excluded.columns:
        return
    out["held"] = _figure(
        [_bar(x=shops, y=_yuan(summary[f"held_amount:{r}"].to_list()), name=REASONS_ZH[r])
         for r in HELD_REASONS],
        "未结算金额（按原因，订单应付金额，元）", barmode="stack",
        xaxis={"type": "category", "title": "店铺ID"},
    )  # fmt: skip


def _spot_chart(spot: pl.DataFrame, policy: ShippingPolicy) -> Any:
    traces = []
    for (shop,), rows in spot.group_by("shop_id", maintain_order=True):
        share = [
            None if t == 0 else s / t for s, t in zip(rows["spot"], rows["total"], strict=True)
        ]
        days = [d.isoformat() for d in rows["as_of"]]
        traces.append(_line(x=days, y=share, mode="lines+markers", name=f"店铺 {shop}"))
    days = [d.isoformat() for d in spot["as_of"].unique().sort()]
    for value, name, dash in (
        (policy.ok_share, "正常线", "dash"),
        (policy.warning_share, "预警线", "dot"),
    ):
        traces.append(_line(x=days, y=[float(value)] * len(days), mode="lines",
                            name=f"{name} {float(value):.0%}", line={"dash": dash}))  # fmt: skip
    return _figure(traces, f"近{policy.window_days}天现货发货占比", yaxis={"tickformat": ".0%"})


TITLES = {"due": "应结金额", "daily": "每日应结", "fees": "费用构成", "held": "未结算",
          "reconciliation": "对账差异", "losers": "亏损商品", "spot": "现货率"}  # fmt: skip


def render(data: ReportData, shipping: ShippingPolicy | None) -> str:
    """The whole page as text (deterministic: fixed chart ids, no timestamps)."""
    from plotly.offline import get_plotlyjs

    figures = charts(data, shipping)
    blocks = [
        f'<section class="chart" data-chart="{key}">'
        + fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{key}", config=CONFIG)
        + "</section>"
        for key, fig in figures.items()
    ]
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in data.notes)
    title = f"抖店结算报告 {data.period.id}（{data.period.start_date} 至 {data.period.end_date}，结算日 {data.period.settle_date}）"
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        f"<style>body{{font-family:{FONT};margin:24px;color:#222}}"
        ".chart{max-width:1100px;margin:12px 0}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f"<h1>{html.escape(title)}</h1><p>店铺：{html.escape('、'.join(data.shops))}</p>"
        + (f'<ul class="notes">{notes}</ul>' if notes else "")
        + "".join(blocks)
        + "</body></html>\n"
    )


def write(data: ReportData, shipping: ShippingPolicy | None, path: Path) -> list[str]:
    from pipeline.write.files import write_text

    text = render(data, shipping)
    write_text(text, path)
    return [key for key in TITLES if f'data-chart="{key}"' in text]
