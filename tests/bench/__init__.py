"""The benchmark suite (`make bench`): scripts, not tests.

`run_bench.py` generates exports with the project's own generator (cached), then times
`doudian settle` and `doudian validate` against the same settlement written as one
DuckDB query (`duckdb_settle.py`), in pandas (`pandas_settle.py`) and as a polars floor
without validation (`polars_floor.py`), and pandera against plain polars expressions
(`validation_checks.py`). No file here is named `test_*`: pytest does not collect them.
"""
