"""Canonicalize + validate: raw export files in, valid typed rows and findings out.

For each file, in the order given, the raw table is read in batches (bounded memory).
Each batch is canonicalized (`pipeline.clean`), its parse failures become findings, the
pandera model of the kind checks the typed rows (with its value checks really run, on
the collected batch), and a streaming check across all files rejects later copies of a
unique key. A row with any finding is rejected; the others are written to the valid
Parquet file with `source_file` and `source_row`. Every input row is counted exactly
once: valid + rejected = rows, per file.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandera.errors
import polars as pl

from pipeline.clean import canonical_exprs, code_column
from pipeline.errors import InputError
from pipeline.findings import FINDING_SCHEMA, empty_findings, message_expr
from pipeline.io.read import RawExport, open_export
from pipeline.io.write import atomic_path, write_csv
from schemas import KINDS, Kind

BATCH_ROWS = 1_000_000


@dataclass
class FileResult:
    path: str
    rows: int = 0
    valid: int = 0
    rejected: int = 0
    findings: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    format: str = ""
    encoding: str | None = None


@dataclass
class ValidationResult:
    kind: str
    files: list[FileResult]
    valid_path: Path
    rejected_path: Path
    warnings_path: Path

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def valid(self) -> int:
        return sum(f.valid for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    def findings(self) -> Counter[str]:
        return sum((f.findings for f in self.files), Counter())

    def warnings(self) -> Counter[str]:
        return sum((f.warnings for f in self.files), Counter())


def validate_files(
    kind: str,
    paths: list[str],
    *,
    valid_path: Path,
    rejected_path: Path,
    warnings_path: Path,
    encoding: str | None = None,
    sheet: str | None = None,
    shop_id: str | None = None,
    batch_rows: int = BATCH_ROWS,
) -> ValidationResult:
    """Validate the files of one kind as one table; write valid rows (Parquet), rejected
    findings and warnings (CSV). Raises InputError before writing anything when a file
    cannot be used at all."""
    k = KINDS[kind]
    valid_path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".validate-{kind}-", dir=valid_path.parent))
    try:
        raws = [
            open_export(k.spec, p, encoding=encoding, sheet=sheet, workdir=work, shop_id=shop_id)
            for p in paths
        ]
        checker = _BatchChecker(k)
        results: list[FileResult] = []
        parts: list[Path] = []
        for raw in raws:
            results.append(checker.run_file(raw, work, parts, batch_rows))
        _write_outputs(k, work, parts, valid_path, rejected_path, warnings_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ValidationResult(kind, results, valid_path, rejected_path, warnings_path)


class _BatchChecker:
    """Checks batches in input order, remembering the unique keys seen so far."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.spec = kind.spec
        self.seen = pl.Series("seen", [], dtype=pl.String)
        self.exprs = canonical_exprs(self.spec.columns)
        self.schema = kind.model.to_schema()

    def run_file(self, raw: RawExport, work: Path, parts: list[Path], batch_rows: int) -> FileResult:
        result = FileResult(raw.path, format=raw.format, encoding=raw.encoding)
        try:
            batches = raw.frame.collect_batches(chunk_size=batch_rows)
            for batch in batches:
                self._check(raw, batch, result, work, parts)
        except pl.exceptions.PolarsError as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            hint = None
            if "utf-8" in detail.lower() or "utf8" in detail.lower():
                hint = "the file mixes encodings or is not UTF-8: pass --encoding gb18030 if Excel saved it"
            raise InputError(raw.path, f"cannot be read past its header ({detail})", hint) from None
        return result

    def _check(
        self, raw: RawExport, batch: pl.DataFrame, result: FileResult, work: Path, parts: list[Path]
    ) -> None:
        if batch.height == 0:
            return
        spec = self.spec
        typed = batch.select(pl.col("__row"), *self.exprs)
        parsed = self._parse_rows(typed)
        rows = [parsed, self._model_rows(typed, parsed)]
        if spec.unique:
            rows.append(self._duplicate_rows(typed))
        found = self._long(raw, batch, pl.concat(rows).unique())
        warnings = self._long(raw, batch, self._status_rows(typed))

        bad_rows = found.get_column("row").unique()
        valid = typed.filter(~pl.col("__row").is_in(bad_rows.implode()))
        n = len(parts)
        valid.select(
            *spec.names,
            pl.lit(raw.path, pl.String).alias("source_file"),
            pl.col("__row").alias("source_row"),
        ).write_parquet(work / f"valid-{n:06d}.parquet")
        found.write_parquet(work / f"rejected-{n:06d}.parquet")
        warnings.write_parquet(work / f"warnings-{n:06d}.parquet")
        parts.append(work / f"valid-{n:06d}.parquet")

        result.rows += batch.height
        result.rejected += bad_rows.len()
        result.valid += valid.height
        result.findings.update(_count(found))
        result.warnings.update(_count(warnings))

    def _long(self, raw: RawExport, batch: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
        """(row, name, code) -> the report's columns, sorted by row then column order:
        the raw cell text as the value and the file's own header as the column."""
        order = {name: i for i, name in enumerate(self.spec.names)}
        cells = batch.select("__row", *self.spec.names).unpivot(
            index="__row", variable_name="name", value_name="value"
        )
        joined = rows.join(cells, left_on=["row", "name"], right_on=["__row", "name"], how="left")
        header = pl.col("name").replace_strict(raw.headers, return_dtype=pl.String)
        return joined.sort(
            "row", pl.col("name").replace_strict(order, return_dtype=pl.Int64), "code"
        ).select(
            pl.lit(raw.path, pl.String).alias("file"),
            pl.col("row").cast(pl.Int64),
            header.alias("column"),
            pl.col("value"),
            pl.col("code"),
            message_expr(pl.col("code"), header).alias("message"),
        )

    def _parse_rows(self, typed: pl.DataFrame) -> pl.DataFrame:
        """Cells that could not be parsed (bad money, bad timestamps, mangled IDs)."""
        frames = [
            typed.filter(pl.col(code_column(c.name)).is_not_null()).select(
                pl.col("__row").alias("row"),
                pl.lit(c.name).alias("name"),
                pl.col(code_column(c.name)).alias("code"),
            )
            for c in self.spec.columns
            if c.type != "text"
        ]
        return pl.concat([_no_rows(), *frames])

    def _model_rows(self, typed: pl.DataFrame, parsed: pl.DataFrame) -> pl.DataFrame:
        """Run the pandera model on the collected batch (a DataFrame, so its value
        checks run, not only the schema) and turn its failure cases into rows."""
        try:
            self.schema.validate(typed.select(self.spec.names), lazy=True)
            return _no_rows()
        except pandera.errors.SchemaErrors as exc:
            cases = exc.failure_cases.filter(pl.col("index").is_not_null())
        rows = cases.select(
            typed.get_column("__row").gather(cases.get_column("index")).alias("row"),
            pl.col("column").alias("name"),
            pl.when(pl.col("check") == "not_nullable")
            .then(pl.lit("missing-value"))
            .when(pl.col("check").str.contains(r"^[a-z0-9-]+$"))
            .then(pl.col("check"))
            .otherwise(pl.lit("schema"))
            .alias("code"),
        )
        # A cell that failed to parse is null now: its parse finding says more than
        # pandera's not_nullable on the same cell would.
        return rows.join(parsed, on=["row", "name"], how="anti")

    def _duplicate_rows(self, typed: pl.DataFrame) -> pl.DataFrame:
        """Later copies of the unique key, across batches and files."""
        key = self.spec.unique
        assert key is not None
        keys = typed.get_column(key)
        dup = keys.is_not_null() & (~keys.is_first_distinct() | keys.is_in(self.seen.implode()))
        self.seen = pl.concat([self.seen, keys.filter(keys.is_not_null() & ~dup).rename("seen")])
        return typed.filter(dup).select(
            pl.col("__row").alias("row"),
            pl.lit(key).alias("name"),
            pl.lit(self.spec.unique_code).alias("code"),
        )

    def _status_rows(self, typed: pl.DataFrame) -> pl.DataFrame:
        frames = [
            typed.filter(pl.col(name).is_not_null() & ~pl.col(name).is_in(sorted(known))).select(
                pl.col("__row").alias("row"),
                pl.lit(name).alias("name"),
                pl.lit("unknown-status").alias("code"),
            )
            for name, known in self.spec.statuses.items()
        ]
        return pl.concat([_no_rows(), *frames])


def _count(findings: pl.DataFrame) -> dict[str, int]:
    counts = findings.group_by("code").len()
    return dict(zip(counts.get_column("code").to_list(), counts.get_column("len").to_list(), strict=True))


def _no_rows() -> pl.DataFrame:
    return pl.DataFrame(schema={"row": pl.Int64, "name": pl.String, "code": pl.String})


def _write_outputs(
    kind: Kind, work: Path, parts: list[Path], valid_path: Path, rejected_path: Path, warnings_path: Path
) -> None:
    spec = kind.spec
    valid_schema = {**spec.schema, "source_file": pl.String, "source_row": pl.Int64}
    with atomic_path(valid_path) as tmp:
        if parts:
            pl.scan_parquet(parts).sink_parquet(tmp, compression="zstd")
        else:
            pl.DataFrame(schema=valid_schema).write_parquet(tmp, compression="zstd")
    for prefix, target in (("rejected", rejected_path), ("warnings", warnings_path)):
        files = sorted(work.glob(f"{prefix}-*.parquet"))
        frame = pl.scan_parquet(files) if files else empty_findings().lazy()
        write_csv(frame.select(list(FINDING_SCHEMA)), target)
