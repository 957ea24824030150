"""The results table of `skinlesion batch`: one row per file, written as each file finishes.

CSV rows are appended and flushed one by one, so an interrupted run loses at most the
files still in flight. A second run reads the file back and skips every path that has a
final row (a result, a refusal, or an error that retrying cannot fix); rows of transient
errors (throttled, unreachable, 5xx) are dropped and those files are scored again, so no
path ever has two rows. Parquet cannot be appended to: rows go to a CSV journal beside
it (`OUT.partial.csv`) and become the Parquet file when the run ends.
"""

from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, TextIO

import lesion_contract as contract

# Errors that scoring the same bytes again cannot fix; any other error row is retried by a rerun.
FINAL_ERRORS = frozenset({"file_error", *(contract.ERROR_CODES[status] for status in (400, 413, 415, 422))})
REFUSAL_CODE = contract.NOT_A_LESION_CODE
FORMATS = ("csv", "parquet")


@dataclass
class Row:
    """One file's result. A refusal has `refused` and no label; a failure has `error_code`."""

    path: str
    label: str = ""
    p_benign: float | None = None
    p_malignant: float | None = None
    threshold: float | None = None
    model_version: str = ""
    lesion_score: float | None = None
    refused: bool = False
    error_code: str = ""
    error_message: str = ""

    @property
    def scored(self) -> bool:
        return bool(self.label)

    @property
    def final(self) -> bool:
        """Whether a rerun keeps this row (True) or scores the file again (False)."""
        return self.scored or self.refused or self.error_code in FINAL_ERRORS


COLUMNS = tuple(f.name for f in fields(Row))
_FLOATS = ("p_benign", "p_malignant", "threshold", "lesion_score")


def row_from_answer(path: str, body: dict[str, Any]) -> Row:
    """A 200 answer of POST /predict (DESIGN.md) as a row."""
    probs = body["probabilities"]
    return Row(
        path=path,
        label=str(body["label"]),
        p_benign=float(probs["benign"]),
        p_malignant=float(probs["malignant"]),
        threshold=_float(body.get("threshold")),
        model_version=str((body.get("model") or {}).get("version") or ""),
        lesion_score=_float(body.get("lesionScore")),
    )


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    return float(value)


def _to_csv(row: Row) -> dict[str, str]:
    out = {}
    for key, value in asdict(row).items():
        if value is None:
            out[key] = ""
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, float):
            out[key] = repr(value)  # round-trips exactly
        else:
            out[key] = str(value)
    return out


def _from_record(record: dict[str, Any]) -> Row:
    values: dict[str, Any] = {name: record.get(name) for name in COLUMNS}
    for name in _FLOATS:
        values[name] = _float(values[name])
    refused = values["refused"]
    values["refused"] = refused is True or str(refused).lower() == "true"
    for name in ("path", "label", "model_version", "error_code", "error_message"):
        values[name] = "" if values[name] is None else str(values[name])
    return Row(**values)


class ResultsFile:
    """Reads what an earlier run left in `path` and appends this run's rows."""

    def __init__(self, path: Path, fmt: str = "csv") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"--format takes one of {', '.join(FORMATS)}")
        self.path, self.format = path, fmt
        self.journal = path if fmt == "csv" else path.with_name(path.name + ".partial.csv")
        self.kept: list[Row] = []  # rows of earlier runs that stay
        self._handle: TextIO | None = None
        self._writer: csv.DictWriter | None = None

    def open(self) -> set[str]:
        """Load earlier rows, drop the retryable ones, and return the paths that are done."""
        earlier = _read_parquet(self.path) if self.format == "parquet" and self.path.exists() else []
        earlier += _read_csv(self.journal)
        latest = {row.path: row for row in earlier}  # a later row of a path wins
        self.kept = [row for row in latest.values() if row.final]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._rewrite_journal(self.kept)  # Parquet: the journal holds the whole table until close()
        return {row.path for row in self.kept}

    def _rewrite_journal(self, rows: list[Row]) -> None:
        tmp = self.journal.with_name(self.journal.name + ".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(_to_csv(row) for row in rows)
        os.replace(tmp, self.journal)  # atomic: an interruption here leaves the old file
        self._handle = open(self.journal, "a", newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._writer = csv.DictWriter(self._handle, fieldnames=COLUMNS)

    def write(self, row: Row) -> None:
        assert self._writer is not None and self._handle is not None, "open() first"
        self._writer.writerow(_to_csv(row))
        self._handle.flush()  # a row on disk is a file never scored again

    def close(self) -> None:
        """Close the journal; for Parquet, write the whole table and drop the journal."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self.format == "parquet":
            _write_parquet(self.path, _read_csv(self.journal))
            self.journal.unlink(missing_ok=True)


def read_rows(path: Path, fmt: str | None = None) -> list[Row]:
    """Every row of a results file (CSV or Parquet; by default from its suffix)."""
    fmt = fmt or ("parquet" if path.suffix == ".parquet" else "csv")
    return _read_parquet(path) if fmt == "parquet" else _read_csv(path)


def _read_csv(path: Path) -> list[Row]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    if raw and not raw.endswith(b"\n"):  # a row cut off by a hard kill: that file is scored again
        raw = raw[: raw.rfind(b"\n") + 1]
    lines = raw.decode("utf-8").splitlines(keepends=True)
    return [_from_record(record) for record in csv.DictReader(lines) if record.get("path")]


def _pyarrow() -> Any:
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet
    except ImportError:
        raise ValueError(
            "--format parquet needs pyarrow: pip install 'skinlesion[parquet]' (or pyarrow)"
        ) from None
    return pyarrow


def parquet_available() -> bool:
    try:
        _pyarrow()
    except ValueError:
        return False
    return True


def _read_parquet(path: Path) -> list[Row]:
    pa = _pyarrow()
    return [_from_record(record) for record in pa.parquet.read_table(path).to_pylist()]


def _write_parquet(path: Path, rows: list[Row]) -> None:
    pa = _pyarrow()
    types = {name: pa.float64() for name in _FLOATS} | {"refused": pa.bool_()}
    schema = pa.schema([(name, types.get(name, pa.string())) for name in COLUMNS])
    table = pa.Table.from_pylist([asdict(row) for row in rows], schema=schema)
    tmp = path.with_name(path.name + ".tmp")
    pa.parquet.write_table(table, tmp)
    os.replace(tmp, path)
