"""Canonicalize + validate: raw export files in, valid typed rows and findings out.

For each file, in the order given, the raw table is read in batches (bounded memory).
Each batch is canonicalized (`pipeline.canonical.cells`), its parse failures become findings, the
pandera model of the kind checks the typed rows (with its value checks really run, on
the collected batch), and its valid rows are staged. A check across all files then
rejects later copies of a unique key. A row with any finding is rejected; the others
are the valid rows, with `source_file` and `source_row` (one Parquet file for `doudian
validate`; the staged parts themselves for a stage's inputs). Every input row is counted
exactly once: valid + rejected = rows, per file.

A file must have its kind's keys; read for a stage (`stage`), also the columns that
stage needs (`schemas.KindSpec.needs`), else it is refused naming the column and the
stage. Every cell of the file is checked whatever the stage, so a row is valid or not
the same way for every stage. A column the kind knows but the file lacks is all null
(its non-null rule does not apply); the file's own columns that are not read are listed
in the result (`FileResult.unread`).
"""

from __future__ import annotations

import contextlib
import itertools
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import pandera.errors
import pandera.polars as pa
import polars as pl

from pipeline import faults
from pipeline.canonical.cells import MONEY, canonicalize, code_column, raw_column
from pipeline.errors import InputError, first_line
from pipeline.parallel import ordered_map
from pipeline.policy import StatusWords, default_words
from pipeline.read.exports import EXTRA, SPANS, RawExport, open_export, open_exports
from pipeline.validation.findings import FINDING_SCHEMA, message_expr
from pipeline.validation.listing import (
    NO_SECONDS,
    NoSeconds,
    PartCap,
    capped,
    no_seconds_lines,
    not_listed_lines,
    without_seconds,
)
from pipeline.write.files import atomic_path, scratch_folder, write_csv, writing
from schemas import KINDS, Kind
from schemas.base import KindSpec, col, normalize_header

#: Rows per batch: memory is bounded by a few batches' worth, whatever the file's size.
BATCH_ROWS = 250_000
#: Keys hashed per pass of the duplicate check: finding repeats among N hashes at once
#: takes memory in proportion to N (2.9 GB for 50 million), so they are split by hash
#: into groups of about this many.
KEY_BUCKET_ROWS = 4_000_000


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
    #: the file's columns that were not read (headers as written, in file order)
    unread: list[str] = field(default_factory=list)
    #: the canonical columns the file has
    present: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _BatchOutcome:
    """What checking one batch gave: its staged part and its counts."""

    part: Path
    number: int
    rows: int
    rejected: int
    findings: dict[str, int]
    warnings: dict[str, int]
    warned: int  # rows with a warning
    no_seconds: NoSeconds


@dataclass
class ValidationResult:
    kind: str
    files: list[FileResult]
    valid_path: Path | None  # None: the valid rows are only `valid` (staged parts)
    rejected_path: Path
    warnings_path: Path
    #: the valid rows (typed columns, source_file, source_row) as one or more frames of
    #: a batch each, in order: a stage may work through them one at a time
    valid_parts: list[pl.LazyFrame]

    @property
    def valid_frame(self) -> pl.LazyFrame:
        """All the valid rows, in order."""
        return pl.concat(self.valid_parts)

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
    kind: str | Kind,
    paths: list[str],
    *,
    valid_path: Path | None,
    rejected_path: Path,
    warnings_path: Path,
    encoding: str | None = None,
    sheet: str | None = None,
    shop_id: str | None = None,
    batch_rows: int = BATCH_ROWS,
    workdir: Path | None = None,
    stage: str | None = None,
    words: StatusWords | None = None,
    keep: Collection[str] | None = None,
) -> ValidationResult:
    """Validate the files of one kind as one table; write valid rows (Parquet), rejected
    findings and warnings (CSV). Raises InputError, before writing any output, when a
    file cannot be used at all.

    With `workdir` (a folder that outlives the call) and no `valid_path`, the valid rows
    are not copied into one file: `valid_frame` reads the staged parts in `workdir`.

    `stage` names the stage the files are read for (the columns it needs must be
    there); `words` are the policy's status words (default: the default policy's);
    `keep` the columns the valid rows keep (default: all; the unique key is always
    kept): every cell is checked, only those are staged."""
    k = KINDS[kind] if isinstance(kind, str) else kind
    name = kind if isinstance(kind, str) else k.spec.name
    k = k.with_words(words or default_words()).for_stage(stage or k.stage)
    if workdir is None and valid_path is None:
        raise ValueError("validate_files needs a valid_path or a workdir")
    scratch = (
        scratch_folder(valid_path.parent, f".validate-{name}-")  # type: ignore[union-attr]
        if workdir is None
        else contextlib.nullcontext(workdir)
    )
    with scratch as work:
        raws = [
            raw
            for p in paths
            for raw in open_exports(k.spec, p, encoding=encoding, sheet=sheet, shop_id=shop_id)
        ]
        for raw in raws:
            require_columns(k, raw.path, raw.present)
        checker = _BatchChecker(k, work, keep)
        results = [checker.run_file(file_no, raw, batch_rows) for file_no, raw in enumerate(raws)]
        money = [
            _unknown_money(k.spec, file_no, raw, result, encoding, sheet)
            for file_no, (raw, result) in enumerate(zip(raws, results, strict=True))
        ]
        duplicates = checker.duplicates(raws, results)
        parts = [checker.valid_rows(duplicates, [part]) for part in checker.parts]
        parts = parts or [checker.valid_rows(duplicates, [])]
        if valid_path is not None:
            with atomic_path(valid_path) as tmp:
                pl.concat(parts).sink_parquet(tmp, compression="zstd")
            if workdir is None:  # the staged parts go with the scratch folder
                parts = [pl.scan_parquet(valid_path)]
        checker.write_findings(
            duplicates,
            rejected_path,
            warnings_path,
            results,
            pl.concat([_empty_staged_findings(), *money]),
        )
    return ValidationResult(name, results, valid_path, rejected_path, warnings_path, parts)


def _read_error(exc: Exception) -> tuple[str, str | None]:
    """A polars read error in words a user can act on (and a hint)."""
    text = str(exc).strip()
    lower = text.lower()
    if "utf-8" in lower or "utf8" in lower:
        return (
            "it is not valid UTF-8 text after the header (another encoding, mixed encodings, "
            "or a file cut off in the middle of a character)",
            "if Excel saved it on Chinese Windows, pass {opt:encoding} gb18030; otherwise export it again",
        )
    if "could not parse" in lower or "malformed" in lower:
        return ("a quote is opened and never closed (the rest of the file would be one cell)", None)
    if "column names not specified" in lower or "more fields" in lower:
        return (
            "its rows do not line up with the header (old Mac line ends, CR only, or a broken row)",
            "save it again as CSV with Windows or Unix line ends",
        )
    return (first_line(exc), None)


def require_columns(kind: Kind, path: str, present: Collection[str]) -> None:
    """Refuse a file that lacks a column the kind's stage needs (the keys were checked
    when its header was read)."""
    missing = [c for c in kind.needed if c not in present]
    if missing:
        what = ", ".join(kind.spec.column(c).headers[0] for c in missing)
        plural = "columns" if len(missing) > 1 else "column"
        raise InputError(
            path,
            f"missing {plural} {what}, which {kind.stage} needs",
            f"export the {kind.spec.title} again with {'those' if missing[1:] else 'that'} "
            f"{plural} for {kind.stage}",
        )


def _unread(spec: KindSpec, raw: RawExport) -> list[str]:
    """The file's headers that no canonical column read (blank headers left out)."""
    used = {normalize_header(raw.headers[c]) for c in raw.present}
    return [h for h in raw.header if h.strip() and normalize_header(h) not in used]


#: A cell that reads as yuan (the money pattern of `pipeline.canonical.cells`), and one with
#: decimals: a column of such cells, at least one with decimals, looks like money.
_LOOKS_LIKE_MONEY = MONEY
_HAS_DECIMALS = r"\.[0-9]{1,2}0*$"


def _unknown_money(
    spec: KindSpec,
    file_no: int,
    raw: RawExport,
    result: FileResult,
    encoding: str | None,
    sheet: str | None,
) -> pl.DataFrame:
    """Record the file's unread columns in `result`; for a kind that asks for it (the
    bill), warn `unknown-money-column` about each one whose cells look like money, once
    per file (row 1, the header), so that a fee under a new name is not lost unseen."""
    result.unread = _unread(spec, raw)
    result.present = list(raw.present)
    once = [h for h in dict.fromkeys(result.unread) if result.unread.count(h) == 1]
    if not spec.unknown_money or not once:
        return _empty_staged_findings()
    probe = KindSpec(
        spec.name,
        spec.title,
        (
            *(c for c in spec.columns if c.required),
            *(col(f"u{i}", "text", h) for i, h in enumerate(once)),
        ),
        skip_after_header=spec.skip_after_header,
    )
    try:
        opened = open_export(probe, raw.path, encoding=encoding, sheet=sheet)
    except InputError:  # a member of a zip archive is not reopened by its name
        return _empty_staged_findings()
    names = [f"u{i}" for i in range(len(once))]
    counts = [
        batch.select(e for n in names for e in _money_counts(n))
        for batch in opened.batches(BATCH_ROWS)
    ]
    if not counts:
        return _empty_staged_findings()
    totals = pl.concat(counts).sum()
    flagged = [
        h
        for n, h in zip(names, once, strict=True)
        if _is_money(*(totals.item(0, f"{n}{k}") or 0 for k in _COUNTS))
    ]
    result.warnings.update({"unknown-money-column": len(flagged)} if flagged else {})
    frame = pl.DataFrame(
        {"column": flagged, "value": flagged}, schema={"column": pl.String, "value": pl.String}
    )
    return frame.select(
        pl.lit(raw.path, pl.String).alias("file"),
        pl.lit(1, pl.Int64).alias("row"),
        "column",
        "value",
        pl.lit("unknown-money-column").alias("code"),
        message_expr(pl.lit("unknown-money-column"), pl.col("column")).alias("message"),
        pl.lit(file_no, pl.Int32).alias("__file_no"),
        pl.lit(-1, pl.Int32).alias("__order"),
    )


_COUNTS = (":filled", ":money", ":decimals")


def _money_counts(name: str) -> list[pl.Expr]:
    """The filled cells of column `name`, those like money, those with decimals."""
    text = pl.col(name).str.strip_chars()
    filled = text.is_not_null() & (text.str.len_bytes() > 0) & (text != "-")
    money = filled & text.str.contains(_LOOKS_LIKE_MONEY)
    decimals = money & text.str.contains(_HAS_DECIMALS)
    return [
        e.sum().cast(pl.Int64).alias(f"{name}{k}")
        for e, k in zip((filled, money, decimals), _COUNTS, strict=True)
    ]


def _is_money(filled: int, money: int, decimals: int) -> bool:
    return filled > 0 and money == filled and decimals > 0


class _BatchChecker:
    """Phase 1, per batch (two at a time, in threads): parse findings and the pandera
    model's findings; the batch's valid rows are staged with their key's hash. Phase 2,
    over the staged hashes of all files: later copies of the unique key. Phase 3: the
    valid rows, less those copies, as the staged parts (or one Parquet file)."""

    def __init__(self, kind: Kind, work: Path, keep: Collection[str] | None = None) -> None:
        self.kind = kind
        self.spec = kind.spec
        wanted = set(self.spec.names if keep is None else keep) | {self.spec.unique}
        self.kept = [n for n in self.spec.names if n in wanted]
        self.schemas: dict[frozenset[str], pa.DataFrameSchema] = {}
        self.work = work
        self.parts: list[Path] = []
        self.numbers = itertools.count()  # numbers the staged parts, over all files
        self.order = {name: i for i, name in enumerate([*self.spec.names, EXTRA, SPANS])}
        self.cap = PartCap()  # findings files list the first rows of each file
        self.warned: dict[int, list[int]] = {}  # file -> [rows with warnings, warnings]
        self.no_seconds: dict[int, tuple[str, NoSeconds]] = {}

    def run_file(self, file_no: int, raw: RawExport, batch_rows: int) -> FileResult:
        """Check the file's batches, two at a time (`pipeline.parallel`): the file is
        read in this thread while earlier batches are checked. Results are taken in
        batch order: the staged parts and the counts do not depend on which thread
        finished first."""
        result = FileResult(raw.path, format=raw.format, encoding=raw.encoding)

        def check(item: tuple[int, pl.DataFrame]) -> _BatchOutcome | None:
            return self._check(file_no, raw, item[1], item[0])

        try:
            for outcome in ordered_map(
                check, zip(self.numbers, raw.batches(batch_rows), strict=False)
            ):
                self._take(outcome, result, file_no)
        except pl.exceptions.PolarsError as exc:
            message, hint = _read_error(exc)
            raise InputError(raw.path, f"cannot be read past its header: {message}", hint) from None
        return result

    def _take(self, outcome: _BatchOutcome | None, result: FileResult, file_no: int) -> None:
        """Count a checked batch into the file's result (in batch order); its findings
        parts are trimmed to the rows listed (`pipeline.validation.listing`)."""
        if outcome is not None:
            self.parts.append(outcome.part)
            result.rows += outcome.rows
            result.rejected += outcome.rejected
            result.valid += outcome.rows - outcome.rejected
            result.findings.update(outcome.findings)
            result.warnings.update(outcome.warnings)
            number = outcome.number
            self.cap.take(self.work / f"rejected-{number:06d}.parquet", file_no, outcome.rejected)
            self.cap.take(self.work / f"warnings-{number:06d}.parquet", file_no, outcome.warned)
            warned = self.warned.setdefault(file_no, [0, 0])
            warned[0] += outcome.warned
            warned[1] += sum(outcome.warnings.values())
            if outcome.no_seconds.count:
                found = self.no_seconds.setdefault(file_no, (result.path, NoSeconds()))[1]
                found.add(outcome.no_seconds)
                result.warnings[NO_SECONDS] += outcome.no_seconds.count
        faults.point("validate-batch")

    def _check(
        self, file_no: int, raw: RawExport, batch: pl.DataFrame, number: int
    ) -> _BatchOutcome | None:
        """One batch of raw rows: canonicalized, checked, its valid rows staged as part
        `number` and its findings written beside them (None for an empty batch). Runs in
        a worker thread: it touches nothing shared."""
        if batch.height == 0:
            return None
        # a DataFrame: a column whose cells were all read quickly skips the fallback steps
        typed = canonicalize(batch, self.spec.columns, keep_raw=True)
        parsed = self._parse_rows(typed)
        rows = pl.concat([parsed, self._model_rows(typed, parsed, raw.present)])
        found = self._long(file_no, raw, rows, typed)
        warnings = self._long(file_no, raw, self._status_rows(typed), typed)
        bad_rows = found.get_column("row").unique()
        keys = self.spec.key_columns
        # Only the batch's valid rows are staged; with a unique key, its hash (for the
        # check across all files) and the key's (first) cell as the file shows it (for a
        # duplicate's finding). A key of several columns with an empty part has no hash.
        staged = typed.filter(~pl.col("__row").is_in(bad_rows.implode())).select(
            *self.kept,
            pl.lit(raw.path, pl.String).alias("source_file"),
            pl.col("__row").alias("source_row"),
            pl.lit(file_no, pl.Int32).alias("__file_no"),
            *(
                [
                    _key_hash(keys).alias("__key_hash"),
                    pl.col(raw_column(keys[0])).alias("__key_raw"),
                ]
                if keys
                else []
            ),
        )
        part = self.work / f"staged-{number:06d}.parquet"
        with writing(self.work):
            staged.write_parquet(part, compression="lz4")
            found.write_parquet(self.work / f"rejected-{number:06d}.parquet", compression="lz4")
            warnings.write_parquet(self.work / f"warnings-{number:06d}.parquet", compression="lz4")
        return _BatchOutcome(
            part,
            number,
            typed.height,
            bad_rows.len(),
            _count(found),
            _count(warnings),
            warnings.get_column("row").n_unique(),
            self._no_seconds(raw, typed),
        )

    def _no_seconds(self, raw: RawExport, typed: pl.DataFrame) -> NoSeconds:
        """The batch's time cells read from `HH:MM` (no seconds): their count and the
        first of them."""
        names = [c.name for c in self.spec.columns if c.type == "timestamp"]
        if not names:
            return NoSeconds()
        flags = typed.select(
            without_seconds(pl.col(raw_column(n)), pl.col(n)).alias(n) for n in names
        )
        counts = flags.sum().row(0, named=True)
        found = NoSeconds(sum(counts.values()))
        for n in (n for n in names if counts[n]):
            i = flags.get_column(n).arg_true()[0]
            first = (typed["__row"][i], raw.headers[n], typed[raw_column(n)][i])
            if found.first is None or first[0] < found.first[0]:
                found.first = first
            found.columns.append(raw.headers[n])
        return found

    def _long(
        self, file_no: int, raw: RawExport, rows: pl.DataFrame, batch: pl.DataFrame
    ) -> pl.DataFrame:
        """(row, name, code) -> the report's columns (plus the sort keys `__file_no`,
        `__order`): the raw cell text as the value and the file's own header as the
        column."""
        cells = batch.filter(pl.col("__row").is_in(rows.get_column("row").implode()))
        cells = cells.select(
            "__row", *(pl.col(raw_column(n)).alias(n) for n in self.spec.names), EXTRA, SPANS
        ).unpivot(index="__row", variable_name="name", value_name="value")
        joined = rows.join(cells, left_on=["row", "name"], right_on=["__row", "name"], how="left")
        header = pl.col("name").replace_strict(raw.headers, return_dtype=pl.String)
        return joined.select(
            pl.lit(raw.path, pl.String).alias("file"),
            pl.col("row").cast(pl.Int64),
            header.alias("column"),
            pl.col("value"),
            pl.col("code"),
            message_expr(pl.col("code"), header).alias("message"),
            pl.lit(file_no, pl.Int32).alias("__file_no"),
            pl.col("name").replace_strict(self.order, return_dtype=pl.Int32).alias("__order"),
        )

    def duplicates(self, raws: list[RawExport], results: list[FileResult]) -> pl.DataFrame:
        """Later copies of the unique key across all files (the first copy, in file
        then row order, is kept), as findings; the files' counts are updated."""
        keys = self.spec.key_columns
        if not keys or not self.parts:
            return _empty_staged_findings()
        # Among rows that passed every other check (only those are staged): a corrected
        # copy given after a broken one is kept; the broken one is rejected for its own
        # reason. The 64-bit hashes find the few keys that may repeat; their text decides.
        staged = pl.scan_parquet(self.parts)
        rows = sum(r.valid for r in results)
        buckets = max(1, -(-rows // KEY_BUCKET_ROWS))
        hashes = staged.select("__key_hash")
        repeated = pl.concat(
            [
                hashes.filter(pl.col("__key_hash") % buckets == b)
                .filter(pl.col("__key_hash").is_duplicated())
                .unique()
                .collect()
                for b in range(buckets)  # a few passes over a column of integers
            ]
        ).get_column("__key_hash")
        candidates = staged.filter(pl.col("__key_hash").is_in(repeated.implode()))
        candidates = candidates.select(*keys, "__key_raw", "__file_no", "source_row")
        dups = candidates.filter(~pl.struct(keys).is_first_distinct()).collect()
        headers = {i: raw.headers[keys[0]] for i, raw in enumerate(raws)}
        files = {i: raw.path for i, raw in enumerate(raws)}
        header = pl.col("__file_no").replace_strict(headers, return_dtype=pl.String)
        findings = dups.select(
            pl.col("__file_no").replace_strict(files, return_dtype=pl.String).alias("file"),
            pl.col("source_row").alias("row"),
            header.alias("column"),
            pl.col("__key_raw").alias("value"),
            pl.lit(self.spec.unique_code).alias("code"),
            message_expr(pl.lit(self.spec.unique_code), header).alias("message"),
            pl.col("__file_no"),
            pl.lit(self.order[keys[0]], pl.Int32).alias("__order"),
        )
        per_file = dups.group_by("__file_no").len()
        copies_by_file = dict(
            zip(per_file["__file_no"].to_list(), per_file["len"].to_list(), strict=True)
        )
        for file_no, copies in copies_by_file.items():  # one entry per file, not per data row
            results[file_no].findings[self.spec.unique_code] += copies
            results[file_no].rejected += copies
            results[file_no].valid -= copies
        return findings

    def valid_rows(self, duplicates: pl.DataFrame, parts: list[Path]) -> pl.LazyFrame:
        """The rows staged in `parts` less the later copies of a key, in file and row
        order (an empty frame for no parts)."""
        spec = self.spec
        if not parts:
            schema = {n: spec.schema[n] for n in self.kept}
            schema = {**schema, "source_file": pl.String, "source_row": pl.Int64}
            return pl.DataFrame(schema=schema).lazy()
        staged = pl.scan_parquet(parts)
        if duplicates.height:  # few rows: an anti-join keeps the plan streaming
            staged = staged.join(
                duplicates.lazy().select("__file_no", pl.col("row").alias("source_row")),
                on=["__file_no", "source_row"],
                how="anti",
                maintain_order="left",
            )
        return staged.select(*self.kept, "source_file", "source_row")

    def write_findings(
        self,
        duplicates: pl.DataFrame,
        rejected_path: Path,
        warnings_path: Path,
        results: list[FileResult],
        file_warnings: pl.DataFrame,
    ) -> None:
        """The findings files, sorted by file and row, each file's rows listed up to the
        cap with a line counting the others (`pipeline.validation.listing`): the batches' findings and
        the later copies of a key (rejected), the batches' and the files' own warnings
        (warnings)."""
        sort_keys = ["__file_no", "row", "__order", "code"]
        rejected = {
            i: (r.path, r.rejected, sum(r.findings.values())) for i, r in enumerate(results)
        }
        warned = {i: (results[i].path, *self.warned[i]) for i in self.warned}
        seconds = no_seconds_lines(self.no_seconds)
        for prefix, target, extra, totals, what, once in (
            ("rejected", rejected_path, capped(duplicates), rejected, "rejected rows", None),
            (
                "warnings",
                warnings_path,
                capped(file_warnings),
                warned,
                "rows with warnings",
                seconds,
            ),
        ):
            files = sorted(self.work.glob(f"{prefix}-*.parquet"))
            frames = [pl.scan_parquet(files)] if files else []
            listed = capped(pl.concat([*frames, extra.lazy()], how="vertical").collect())
            lines = [listed, not_listed_lines(listed, totals, what)]
            frame = pl.concat([*lines, *([once] if once is not None else [])], how="vertical")
            # For people: cells that look like formulas are neutralised (the valid
            # Parquet keeps every value as it was).
            write_csv(frame.sort(sort_keys, nulls_last=True).select(list(FINDING_SCHEMA)), target)

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
        extra = [
            typed.filter(pl.col(column).is_not_null()).select(
                pl.col("__row").alias("row"),
                pl.lit(column).alias("name"),
                pl.lit(code).alias("code"),
            )
            for column, code in ((EXTRA, "extra-cells"), (SPANS, "cell-spans-rows"))
        ]
        return pl.concat([_no_rows(), *frames, *extra])

    def _model_rows(
        self, typed: pl.DataFrame, parsed: pl.DataFrame, present: frozenset[str]
    ) -> pl.DataFrame:
        """Run the pandera model on the collected batch (a DataFrame, so its value
        checks run, not only the schema) and turn its failure cases into rows. The
        columns the file lacks are all null: their non-null rule does not apply."""
        absent = frozenset(self.spec.names) - present
        if absent not in self.schemas:
            self.schemas[absent] = self.kind.schema(absent)
        try:
            self.schemas[absent].validate(typed.select(self.spec.names), lazy=True)
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

    def _status_rows(self, typed: pl.DataFrame) -> pl.DataFrame:
        frames = [
            typed.filter(pl.col(name).is_not_null() & ~known.known(pl.col(name))).select(
                pl.col("__row").alias("row"),
                pl.lit(name).alias("name"),
                pl.lit("unknown-status").alias("code"),
            )
            for name, known in self.spec.statuses.items()
        ]
        return pl.concat([_no_rows(), *frames])


def _key_hash(keys: tuple[str, ...]) -> pl.Expr:
    """The 64-bit hash of a row's unique key; of a key of several columns only when
    every part is given (null otherwise: such a row is not checked)."""
    if len(keys) == 1:
        return pl.col(keys[0]).hash(seed=0)
    given = pl.all_horizontal(pl.col(k).is_not_null() for k in keys)
    return pl.when(given).then(pl.struct(keys).hash(seed=0))


def _count(findings: pl.DataFrame) -> dict[str, int]:
    counts = findings.group_by("code").len()
    return dict(
        zip(counts.get_column("code").to_list(), counts.get_column("len").to_list(), strict=True)
    )


def _no_rows() -> pl.DataFrame:
    return pl.DataFrame(schema={"row": pl.Int64, "name": pl.String, "code": pl.String})


def _empty_staged_findings() -> pl.DataFrame:
    return pl.DataFrame(schema={**FINDING_SCHEMA, "__file_no": pl.Int32, "__order": pl.Int32})
