"""Profit per settled line, SKU and shop (`doudian profit`)."""

from pipeline.stages.profit.job import ProfitResult, profit_period
from pipeline.stages.profit.policy import ProfitPolicy

__all__ = ["ProfitPolicy", "ProfitResult", "profit_period"]
