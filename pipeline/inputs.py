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
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline.io.write import scratch_folder
from pipeline.policy import StatusWords
from pipeline.validate import ValidationResult, validate_files
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
