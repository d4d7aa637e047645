"""Validated inputs for a stage command: the stage's files of each kind are validated
exactly as `doudian validate` does, the rejected findings land in the stage's own output
folder (`<stage dir>/rejected/KIND.csv`, `<stage dir>/warnings/KIND.csv`), and the valid
rows are staged as Parquet in a temporary folder that lives as long as the `with` block.
Every cell is checked, so a stage rejects exactly the rows `doudian validate` rejects.
A stage names itself (`stage`, e.g. "settle"): a file must then have the columns that
stage needs (`schemas.KindSpec.needs`), else it is refused naming the column and the
stage. A stage with a policy passes its status words (`words`). A stage may name the
columns it reads per kind (`keep`): all cells are checked, only those are staged.

    with staged_inputs({"orders": files, "products": []}, stage_dir, stage="settle") as inputs:
        orders = inputs.frame("orders")        # LazyFrame of valid typed rows
        inputs.results["orders"].rejected      # counts, per file too
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline.errors import InputError
from pipeline.policy import StatusWords
from pipeline.validation.checker import ValidationResult, require_columns, validate_files
from pipeline.write.files import atomic_path, scratch_folder
from schemas import KINDS


@dataclass
class StagedInputs:
    results: dict[str, ValidationResult]
    staging: Path

    def frame(self, kind: str) -> pl.LazyFrame:
        """Valid rows of `kind` (an empty frame with the canonical schema when no file
        of that kind was given)."""
        if kind in self.results:
            return self.results[kind].valid_frame
        spec = KINDS[kind].spec
        return pl.DataFrame(
            schema={**spec.schema, "source_file": pl.String, "source_row": pl.Int64}
        ).lazy()

    def parts(self, kind: str) -> list[pl.LazyFrame]:
        """The valid rows of `kind` as a few frames of a batch each, in order."""
        if kind in self.results:
            return self.results[kind].valid_parts
        return [self.frame(kind)]

    def given(self, kind: str) -> bool:
        return kind in self.results

    @property
    def rejected_rows(self) -> int:
        return sum(r.rejected for r in self.results.values())

    def files(self) -> dict[str, list[str]]:
        """The files of each kind, as given."""
        return {kind: [f.path for f in r.files] for kind, r in self.results.items()}

    def publish(self, stage_dir: Path) -> None:
        """Put each kind's findings files in `stage_dir/rejected/` and
        `stage_dir/warnings/` (copies, when they were staged elsewhere)."""
        for kind, result in self.results.items():
            for attr, folder in (("rejected_path", "rejected"), ("warnings_path", "warnings")):
                source, final = getattr(result, attr), stage_dir / folder / f"{kind}.csv"
                if source != final:
                    with atomic_path(final) as tmp:
                        shutil.copyfile(source, tmp)


@dataclass
class ShopInputs:
    """Each kind of one shop's exports, validated once (`stage_shop`): the valid rows of
    the kinds that could be read, and the error of each kind that could not."""

    results: dict[str, ValidationResult]
    errors: dict[str, InputError]

    def input_rows(self) -> dict[str, int]:
        """Rows of each file that was read (resolved path -> rows)."""
        return {str(Path(f.path).resolve()): f.rows for r in self.results.values() for f in r.files}

    def view(self, kinds: Collection[str], stage: str | None = None) -> StagedInputs:
        """The inputs of `stage`, which reads `kinds`: raises the error of the first of
        them that could not be read, or that lacks a column the stage needs (as reading
        the files for that stage would)."""
        for kind in kinds:
            if kind in self.errors:
                raise self.errors[kind]
            if kind in self.results:
                for f in self.results[kind].files:
                    require_columns(KINDS[kind].for_stage(stage), f.path, f.present)
        return StagedInputs({k: self.results[k] for k in kinds if k in self.results}, Path())


def stage_shop(
    files: dict[str, list[str]],
    staging: Path,
    *,
    valid_dir: Path | None,
    encoding: str | None = None,
    shop_id: str | None = None,
    words: StatusWords | None = None,
) -> ShopInputs:
    """Validate each kind's files once into `staging` (a folder that outlives the call),
    every cell checked, as `doudian validate` does. With `valid_dir` (the validate
    stage's folder), the valid rows and the findings are also written there as
    `doudian validate` writes them."""
    results: dict[str, ValidationResult] = {}
    errors: dict[str, InputError] = {}
    for kind, paths in files.items():
        if not paths:
            continue
        findings = valid_dir if valid_dir is not None else staging / "findings"
        work = staging / kind
        work.mkdir(parents=True)
        try:
            results[kind] = validate_files(
                kind,
                list(paths),
                valid_path=None if valid_dir is None else valid_dir / "valid" / f"{kind}.parquet",
                workdir=work,
                rejected_path=findings / "rejected" / f"{kind}.csv",
                warnings_path=findings / "warnings" / f"{kind}.csv",
                encoding=encoding,
                shop_id=shop_id,
                words=words,
            )
        except InputError as exc:
            errors[kind] = exc
    return ShopInputs(results, errors)


@contextlib.contextmanager
def staged_inputs(
    files: dict[str, list[str]],
    stage_dir: Path,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    shop_id: str | None = None,
    stage: str | None = None,
    words: StatusWords | None = None,
    keep: dict[str, Collection[str]] | None = None,
) -> Iterator[StagedInputs]:
    """Validate each kind's files (kinds with no files are skipped). InputError from a
    file that cannot be used at all propagates before any stage output is written: the
    findings files are moved into place only once every kind has been read."""
    with scratch_folder(stage_dir, ".staging-") as staging:
        results = {}
        for kind, paths in files.items():
            if not paths:
                continue
            work = staging / kind
            work.mkdir()
            results[kind] = validate_files(
                kind,
                list(paths),
                valid_path=None,
                workdir=work,
                rejected_path=staging / "rejected" / f"{kind}.csv",
                warnings_path=staging / "warnings" / f"{kind}.csv",
                encoding=encoding,
                sheet=sheet,
                shop_id=shop_id,
                stage=stage,
                words=words,
                keep=(keep or {}).get(kind),
            )
        for kind, result in results.items():
            for attr, folder in (("rejected_path", "rejected"), ("warnings_path", "warnings")):
                final = stage_dir / folder / f"{kind}.csv"
                final.parent.mkdir(exist_ok=True)
                os.replace(getattr(result, attr), final)
                setattr(result, attr, final)
        yield StagedInputs(results, staging)
