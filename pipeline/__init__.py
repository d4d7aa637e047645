"""doudian-batch: batch jobs over 抖店 exports."""

__version__ = "0.1.0"
