"""Canonicalize + validate: raw export files in, valid typed rows and findings out.

Each file, in the order given, is checked by one lazy polars plan that the streaming
engine runs end to end on every core (`_FilePlan`): its cells are read once
(`pipeline.read.exports`), canonicalized (`pipeline.canonical.cells`), and every rule of
the kind checked as an expression (`pipeline.validation.rules`: the parse rules and the
pandera model's own checks, with their names as finding codes). The plan has one
consumer, a staged Parquet file holding every row with its flags (and, for a flagged
row only, the raw cells its findings show), so nothing waits in memory for a slower
reader; the counts and the first listed rows with findings are then read from that
file's narrow columns. A check across all files then rejects later copies of a unique
key (a pass over the staged key hashes). A row with any finding is rejected; the others
are the valid rows, with `source_file` and `source_row` (one Parquet file for `doudian
validate`; slices of the staged files for a stage's inputs). Every input row is counted
exactly once: valid + rejected = rows, per file.

A file must have its kind's keys; read for a stage (`stage`), also the columns that
stage needs (`schemas.KindSpec.needs`), else it is refused naming the column and the
stage. Every cell of the file is checked whatever the stage, so a row is valid or not
the same way for every stage. A column the kind knows but the file lacks is all null
(its non-null rule does not apply); the file's own columns that are not read are listed
in the result (`FileResult.unread`). For the bill, those columns are looked at in the
same pass: one whose cells look like money is warned about (`unknown-money-column`).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipeline import faults
from pipeline.canonical.cells import MONEY, canonicalize, raw_column
from pipeline.errors import InputError, first_line
from pipeline.policy import StatusWords, default_words
from pipeline.read.exports import EXTRA, SPANS, RawExport, open_exports
from pipeline.validation.findings import FINDING_SCHEMA, message_expr
from pipeline.validation.listing import (
    LISTED_ROWS,
    NO_SECONDS,
    NoSeconds,
    capped,
    no_seconds_lines,
    not_listed_lines,
    without_seconds,
)
from pipeline.validation.rules import model_rules, parse_rules, status_rules
from pipeline.write.files import atomic_path, scratch_folder, write_csv, writing
from schemas import KINDS, Kind
from schemas.base import KindSpec, normalize_header

#: Rows of a slice of valid rows handed to a stage (settlement decides a slice at a time).
BATCH_ROWS = 250_000
#: Keys hashed per pass of the duplicate check: finding repeats among N hashes at once
#: takes memory in proportion to N (2.9 GB for 50 million), so they are split by hash
#: into groups of about this many.
KEY_BUCKET_ROWS = 4_000_000
#: Rows per row group of a staged file: a stage's slice of rows reads little past it.
STAGED_ROW_GROUP = 65_536
#: Rows per row group of a valid-rows file: given, so that the file's bytes do not
#: depend on the pieces polars' streaming engine happened to cut.
VALID_ROW_GROUP = 262_144


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
    #: the same rows as one frame per file (a query over all of them reads each file
    #: once, not slice by slice)
    valid_files: list[pl.LazyFrame]

    @property
    def valid_frame(self) -> pl.LazyFrame:
        """All the valid rows, in order."""
        return pl.concat(self.valid_files)

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
        checker = _FileChecker(k, work, keep)
        results = [checker.run_file(file_no, raw) for file_no, raw in enumerate(raws)]
        duplicates = checker.duplicates(raws, results)
        parts = checker.valid_parts(duplicates, batch_rows)
        whole = checker.valid_parts(duplicates, None)
        if valid_path is not None:
            with atomic_path(valid_path) as tmp:
                pl.concat(whole).sink_parquet(
                    tmp, compression="zstd", row_group_size=VALID_ROW_GROUP
                )
            if workdir is None:  # the staged parts go with the scratch folder
                parts = whole = [pl.scan_parquet(valid_path)]
        checker.write_findings(
            duplicates,
            rejected_path,
            warnings_path,
            results,
            pl.concat([_empty_staged_findings(), *checker.money]),
        )
    return ValidationResult(name, results, valid_path, rejected_path, warnings_path, parts, whole)


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


_COUNTS = (":filled", ":money", ":decimals")


def _money_flags(name: str) -> list[pl.Expr]:
    """Per row: is the cell of column `name` filled, like money, with decimals."""
    text = pl.col(name).str.strip_chars()
    filled = text.is_not_null() & (text.str.len_bytes() > 0) & (text != "-")
    money = filled & text.str.contains(_LOOKS_LIKE_MONEY)
    decimals = money & text.str.contains(_HAS_DECIMALS)
    return [
        e.fill_null(False).alias(f"{name}{k}")
        for e, k in zip((filled, money, decimals), _COUNTS, strict=True)
    ]


def _is_money(filled: int, money: int, decimals: int) -> bool:
    return filled > 0 and money == filled and decimals > 0


@dataclass(frozen=True)
class _FileOutcome:
    """What checking one file gave: its counts and its first listed findings."""

    rows: int
    rejected: int
    findings: dict[str, int]
    warnings: dict[str, int]
    warned: int  # rows with a warning
    no_seconds: NoSeconds
    rejected_listed: pl.DataFrame  # findings of the first LISTED_ROWS rejected rows
    warnings_listed: pl.DataFrame  # warnings of the first LISTED_ROWS rows with one
    money_columns: list[str]  # unread columns that look like money


class _FilePlan:
    """One file's checks as one polars plan, run by the streaming engine: the cells are
    parsed once, into the staged rows with their flags (the raw cells of a flagged row
    from the same pass); the listed rows and every count are read back from them."""

    def __init__(
        self, checker: _FileChecker, file_no: int, raw: RawExport, probe: dict[str, str]
    ) -> None:
        spec = checker.spec
        self.checker = checker
        self.file_no = file_no
        self.raw = raw
        self.probe = probe  # probe column -> the file's header
        absent = frozenset(spec.names) - raw.present
        model = checker.kind.schema(absent)
        self.rejects = [*parse_rules(spec), *model_rules(model, raw.present)]
        self.warns = status_rules(spec)
        self.times = [c.name for c in spec.columns if c.type == "timestamp"]

    def run(self, cells: pl.LazyFrame, part: Path) -> _FileOutcome:
        """Check the file's rows into `part`, every row with its flags, in one pass with
        a single consumer (so that nothing is buffered for a slower one); the counts
        and the listed rows are then read from `part`'s narrow columns."""
        self._stage(cells).sink_parquet(part, compression="lz4", row_group_size=STAGED_ROW_GROUP)
        staged = pl.scan_parquet(part)
        counts = staged.select(self._counts()).collect(engine="streaming")
        return self._outcome(
            counts.row(0, named=True),
            self._listed(staged, "__bad", "__r", self.rejects).collect(engine="streaming"),
            self._listed(staged, "__warn", "__w", self.warns).collect(engine="streaming"),
        )

    def _stage(self, cells: pl.LazyFrame) -> pl.LazyFrame:
        """Every row once: its kept values, `source_row`, whether it is rejected
        (`__bad`) or warned (`__warn`), each rule's flag, and only where a row is
        flagged the raw cells its findings show; for the duplicate check a valid row's
        key hash and key cell; each time column's flag for times without seconds (and
        the cell where set); the probe's counts per row."""
        spec, checker = self.checker.spec, self.checker
        typed = canonicalize(cells, spec.columns, keep_raw=True)
        flags = [r.fails.alias(f"__r{i}") for i, r in enumerate(self.rejects)]
        flags += [w.fails.alias(f"__w{i}") for i, w in enumerate(self.warns)]
        flags += [
            without_seconds(pl.col(raw_column(n)), pl.col(n)).alias(f"__s{i}")
            for i, n in enumerate(self.times)
        ]
        plan = typed.with_columns(flags).with_columns(
            _any([f"__r{i}" for i in range(len(self.rejects))]).alias("__bad"),
            _any([f"__w{i}" for i in range(len(self.warns))]).alias("__warn"),
        )
        keys = spec.key_columns
        valid = ~pl.col("__bad")
        # A key of several columns with an empty part has no hash (such a row is not
        # checked); a rejected row has none (a corrected copy after it is kept).
        key = (
            [
                pl.when(valid).then(_key_hash(keys)).alias("__key_hash"),
                pl.when(valid).then(pl.col(raw_column(keys[0]))).alias("__key_raw"),
            ]
            if keys
            else []
        )
        flagged = pl.col("__bad") | pl.col("__warn")
        shown = dict.fromkeys(r.name for r in [*self.rejects, *self.warns])
        return plan.select(
            *checker.kept,
            pl.col("__row").alias("source_row"),
            "__bad",
            "__warn",
            *key,
            *(f"__r{i}" for i in range(len(self.rejects))),
            *(f"__w{i}" for i in range(len(self.warns))),
            *(pl.when(flagged).then(_raw_cell(n)).alias(_shown(n)) for n in shown),
            *(f"__s{i}" for i in range(len(self.times))),
            *(
                pl.when(pl.col(f"__s{i}")).then(pl.col(raw_column(n))).alias(f"__s{i}:cell")
                for i, n in enumerate(self.times)
            ),
            *(e for n in self.probe for e in _money_flags(n)),
        )

    def _listed(self, staged: pl.LazyFrame, flag: str, prefix: str, rules: list) -> pl.LazyFrame:
        """The first LISTED_ROWS rows flagged `flag`: their row, the raw cells the
        `rules` name and the rules' flags."""
        names = list(dict.fromkeys(r.name for r in rules))
        return (
            staged.filter(pl.col(flag))
            .select(
                pl.col("source_row").alias("__row"),
                *(pl.col(_shown(n)).alias(_raw_name(n)) for n in names),
                *(f"{prefix}{i}" for i in range(len(rules))),
            )
            .head(LISTED_ROWS)
        )

    def _counts(self) -> list[pl.Expr]:
        """One row: rows, rejected rows, rows with warnings, each rule's count, each time
        column's times without seconds (count, first row and cell), the probe's."""
        exprs = [
            pl.len().cast(pl.Int64).alias("rows"),
            pl.col("__bad").sum().cast(pl.Int64).alias("rejected"),
            pl.col("__warn").sum().cast(pl.Int64).alias("warned"),
        ]
        exprs += [pl.col(f"__r{i}").sum().cast(pl.Int64) for i in range(len(self.rejects))]
        exprs += [pl.col(f"__w{i}").sum().cast(pl.Int64) for i in range(len(self.warns))]
        for i in range(len(self.times)):
            seconds = pl.col(f"__s{i}")
            exprs += [
                seconds.sum().cast(pl.Int64).alias(f"__s{i}"),
                pl.col("source_row").filter(seconds).first().alias(f"__s{i}:row"),
                pl.col(f"__s{i}:cell").filter(seconds).first().alias(f"__s{i}:cell"),
            ]
        exprs += [pl.col(f"{n}{k}").sum().cast(pl.Int64) for n in self.probe for k in _COUNTS]
        return exprs

    def _outcome(self, counts: dict, rejected: pl.DataFrame, warned: pl.DataFrame) -> _FileOutcome:
        def by_code(prefix: str, rules: list) -> dict[str, int]:
            found: Counter[str] = Counter()
            for i, rule in enumerate(rules):
                found[rule.code] += counts[f"{prefix}{i}"] or 0
            return {code: n for code, n in found.items() if n}

        no_seconds = NoSeconds()
        for i, n in enumerate(self.times):
            count = counts[f"__s{i}"] or 0
            if not count:
                continue
            no_seconds.count += count
            first = (counts[f"__s{i}:row"], self.raw.headers[n], counts[f"__s{i}:cell"])
            if no_seconds.first is None or first[0] < no_seconds.first[0]:
                no_seconds.first = first
            no_seconds.columns.append(self.raw.headers[n])
        money = [
            header
            for n, header in self.probe.items()
            if _is_money(*(counts[f"{n}{k}"] or 0 for k in _COUNTS))
        ]
        return _FileOutcome(
            counts["rows"],
            counts["rejected"] or 0,
            by_code("__r", self.rejects),
            by_code("__w", self.warns),
            counts["warned"] or 0,
            no_seconds,
            self._long(rejected, "__r", self.rejects),
            self._long(warned, "__w", self.warns),
            money,
        )

    def _long(self, listed: pl.DataFrame, prefix: str, rules: list) -> pl.DataFrame:
        """The listed rows' findings, one per (row, rule failed), in the report's
        columns (plus the sort keys `__file_no`, `__order`): the raw cell text as the
        value and the file's own header as the column."""
        raw, order = self.raw, self.checker.order
        frames = [
            listed.filter(pl.col(f"{prefix}{i}")).select(
                pl.lit(raw.path, pl.String).alias("file"),
                pl.col("__row").cast(pl.Int64).alias("row"),
                pl.lit(raw.headers[r.name], pl.String).alias("column"),
                pl.col(_raw_name(r.name)).alias("value"),
                pl.lit(r.code, pl.String).alias("code"),
                message_expr(pl.lit(r.code), pl.lit(raw.headers[r.name])).alias("message"),
                pl.lit(self.file_no, pl.Int32).alias("__file_no"),
                pl.lit(order[r.name], pl.Int32).alias("__order"),
            )
            for i, r in enumerate(rules)
        ]
        return pl.concat([_empty_staged_findings(), *frames])


def _any(names: list[str]) -> pl.Expr:
    return pl.any_horizontal(names) if names else pl.lit(False)


def _raw_name(name: str) -> str:
    """The column holding the cell as the file shows it."""
    return name if name in (EXTRA, SPANS) else raw_column(name)


def _shown(name: str) -> str:
    """The staged column of a flagged row's raw cell of `name`."""
    return f"__shown:{name}"


def _raw_cell(name: str) -> pl.Expr:
    return pl.col(_raw_name(name))


def _money_probe(spec: KindSpec, raw: RawExport, unread: list[str]) -> dict[str, int]:
    """For a kind that asks for it (the bill): the file's unread columns, each header
    once (probe column -> position), to see whether their cells look like money."""
    if not spec.unknown_money:
        return {}
    once = [h for h in dict.fromkeys(unread) if unread.count(h) == 1]
    return {f"__u{i}": raw.header.index(h) for i, h in enumerate(once)}


def _money_findings(raw_path: str, file_no: int, columns: list[str]) -> pl.DataFrame:
    """`unknown-money-column` once per such column, on row 1 (the header)."""
    frame = pl.DataFrame(
        {"column": columns, "value": columns}, schema={"column": pl.String, "value": pl.String}
    )
    return frame.select(
        pl.lit(raw_path, pl.String).alias("file"),
        pl.lit(1, pl.Int64).alias("row"),
        "column",
        "value",
        pl.lit("unknown-money-column").alias("code"),
        message_expr(pl.lit("unknown-money-column"), pl.col("column")).alias("message"),
        pl.lit(file_no, pl.Int32).alias("__file_no"),
        pl.lit(-1, pl.Int32).alias("__order"),
    )


class _FileChecker:
    """Phase 1, per file, one streaming plan (`_FilePlan`): the file's cells are
    canonicalized and every rule checked (`pipeline.validation.rules`); its rows are
    staged with their flags and, for a valid row, its key's hash. Phase 2, over the
    staged hashes of all files: later copies of the unique key. Phase 3: the valid
    rows, less those copies, in slices of `batch_rows` rows or a frame per file."""

    def __init__(self, kind: Kind, work: Path, keep: Collection[str] | None = None) -> None:
        self.kind = kind
        self.spec = kind.spec
        wanted = set(self.spec.names if keep is None else keep) | {self.spec.unique}
        self.kept = [n for n in self.spec.names if n in wanted]
        self.work = work
        self.parts: list[Path] = []
        self.paths: list[str] = []  # the files, as findings name them
        self.sizes: list[int] = []  # rows staged in each part (valid and rejected)
        self.order = {name: i for i, name in enumerate([*self.spec.names, EXTRA, SPANS])}
        self.listed: dict[str, list[pl.DataFrame]] = {"rejected": [], "warnings": []}
        self.warned: dict[int, list[int]] = {}  # file -> [rows with warnings, warnings]
        self.no_seconds: dict[int, tuple[str, NoSeconds]] = {}
        self.money: list[pl.DataFrame] = []  # the files' unknown-money-column warnings

    def run_file(self, file_no: int, raw: RawExport) -> FileResult:
        """Check one file in one pass; its counts, listed findings and staged rows."""
        result = FileResult(raw.path, format=raw.format, encoding=raw.encoding)
        result.unread = _unread(self.spec, raw)
        result.present = list(raw.present)
        probe = _money_probe(self.spec, raw, result.unread)
        part = self.work / f"staged-{file_no:06d}.parquet"
        plan = _FilePlan(self, file_no, raw, {n: raw.header[i] for n, i in probe.items()})
        try:
            with raw.scan(self.work, probe) as cells, writing(self.work):
                outcome = plan.run(cells, part)
        except pl.exceptions.PolarsError as exc:
            message, hint = _read_error(exc)
            raise InputError(raw.path, f"cannot be read past its header: {message}", hint) from None
        self.parts.append(part)
        self.paths.append(raw.path)
        self.sizes.append(outcome.rows)
        self._take(outcome, result, file_no)
        faults.point("validate-batch")
        return result

    def _take(self, outcome: _FileOutcome, result: FileResult, file_no: int) -> None:
        result.rows += outcome.rows
        result.rejected += outcome.rejected
        result.valid += outcome.rows - outcome.rejected
        result.findings.update(outcome.findings)
        result.warnings.update(outcome.warnings)
        self.listed["rejected"].append(outcome.rejected_listed)
        self.listed["warnings"].append(outcome.warnings_listed)
        self.warned[file_no] = [outcome.warned, sum(outcome.warnings.values())]
        if outcome.no_seconds.count:
            self.no_seconds[file_no] = (result.path, outcome.no_seconds)
            result.warnings[NO_SECONDS] += outcome.no_seconds.count
        if outcome.money_columns:
            result.warnings["unknown-money-column"] += len(outcome.money_columns)
            self.money.append(
                _money_findings(
                    raw_path=result.path, file_no=file_no, columns=outcome.money_columns
                )
            )

    def duplicates(self, raws: list[RawExport], results: list[FileResult]) -> pl.DataFrame:
        """Later copies of the unique key across all files (the first copy, in file
        then row order, is kept), as findings; the files' counts are updated."""
        keys = self.spec.key_columns
        if not keys or not self.parts:
            return _empty_staged_findings()
        # Among rows that passed every other check (only those have a hash): a corrected
        # copy given after a broken one is kept; the broken one is rejected for its own
        # reason. The 64-bit hashes find the few keys that may repeat; their text decides.
        staged = pl.concat(self._staged(i).filter(~pl.col("__bad")) for i in range(len(self.parts)))
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

    def _staged(self, file_no: int) -> pl.LazyFrame:
        """The staged rows of file `file_no`, with `source_file` and `__file_no`."""
        return pl.scan_parquet(self.parts[file_no]).with_columns(
            pl.lit(self.paths[file_no], pl.String).alias("source_file"),
            pl.lit(file_no, pl.Int32).alias("__file_no"),
        )

    def valid_parts(self, duplicates: pl.DataFrame, rows: int | None) -> list[pl.LazyFrame]:
        """The staged valid rows less the later copies of a key, in file and row order,
        as frames of at most `rows` rows each (None: a frame per file; one empty frame
        when there are none)."""
        if rows is None:
            files = [self._staged(i).filter(~pl.col("__bad")) for i in range(len(self.parts))]
            return [self.valid_rows(duplicates, f) for f in files] or [
                self.valid_rows(duplicates, None)
            ]
        # One scan per file, sliced: a frame holds its scan's Parquet metadata once it
        # has run, and a frame of its own per slice would keep a copy of the staged
        # file's metadata per slice (6 GiB over the 200 slices of 50M rows).
        parts = []
        for i, size in enumerate(self.sizes):
            staged = self._staged(i)
            for offset in range(0, size, rows):
                part = staged.slice(offset, rows).filter(~pl.col("__bad"))
                parts.append(self.valid_rows(duplicates, part))
        return parts or [self.valid_rows(duplicates, None)]

    def valid_rows(self, duplicates: pl.DataFrame, staged: pl.LazyFrame | None) -> pl.LazyFrame:
        """The rows of `staged` less the later copies of a key (an empty frame for
        None)."""
        spec = self.spec
        if staged is None:
            schema = {n: spec.schema[n] for n in self.kept}
            schema = {**schema, "source_file": pl.String, "source_row": pl.Int64}
            return pl.DataFrame(schema=schema).lazy()
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
        cap with a line counting the others (`pipeline.validation.listing`): the files' listed findings
        and the later copies of a key (rejected), the rows' and the files' own warnings
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
            frames = self.listed[prefix]
            listed = capped(pl.concat([*frames, extra], how="vertical"))
            lines = [listed, not_listed_lines(listed, totals, what)]
            frame = pl.concat([*lines, *([once] if once is not None else [])], how="vertical")
            # For people: cells that look like formulas are neutralised (the valid
            # Parquet keeps every value as it was).
            write_csv(frame.sort(sort_keys, nulls_last=True).select(list(FINDING_SCHEMA)), target)


def _key_hash(keys: tuple[str, ...]) -> pl.Expr:
    """The 64-bit hash of a row's unique key; of a key of several columns only when
    every part is given (null otherwise: such a row is not checked)."""
    if len(keys) == 1:
        return pl.col(keys[0]).hash(seed=0)
    given = pl.all_horizontal(pl.col(k).is_not_null() for k in keys)
    return pl.when(given).then(pl.struct(keys).hash(seed=0))


def _empty_staged_findings() -> pl.DataFrame:
    return pl.DataFrame(schema={**FINDING_SCHEMA, "__file_no": pl.Int32, "__order": pl.Int32})
