"""Bulk price updates (批量改价).

`rules` reads and checks the TOML rules file into typed objects (a bad file is refused
before any data is read); `engine` decides each SKU's new price with polars expressions
(first matching rule, percent, amount, round, ending, guards, all in integer fen);
`outputs` turns the decided table into the upload files, payloads, reports and summary.
"""
