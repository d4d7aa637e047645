"""Canonicalising: the polars expressions that turn text cells into IDs, fen and China times."""
