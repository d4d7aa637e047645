"""Orchestration: `doudian run` over many shops, the output-root lock, the engines."""
