"""A plain file of reads, for any warehouse: CSV or JSON lines of time, user, and what was read.

Columns (CSV header or JSON keys): `time` (ISO 8601), `user`, optionally `role` and `query_tag`,
and either `relations` (JSON: a list; CSV: names separated by `;`) or `query_text`, whose tables
the project's own SQL reference extractor reads.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from metapipeline.lineage.references import extract_references, qualify_name
from metapipeline.warehouse.usage import Read, Relation, UsageSettings, WarehouseUsage, fold_reads

MAX_PROBLEMS_NAMED = 5


class ReadsFile:
    """The reads of one file, with the rows it could not read (each named by line)."""

    def __init__(self, path: Path, dialect: str, default_database: str | None, default_schema: str | None):
        self.path = path
        self.dialect = dialect
        self.defaults = (default_database, default_schema)
        self.problems: list[str] = []

    def reads(self) -> Iterator[Read]:
        for line, row in self._rows():
            try:
                yield self._read(row)
            except (KeyError, TypeError, ValueError) as error:
                self.problems.append(f"line {line}: {error}")

    def _rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        with self.path.open(newline="") as file:
            if self.path.suffix.lower() == ".csv":
                for number, row in enumerate(csv.DictReader(file), 2):
                    yield number, row
                return
            for number, text in enumerate(file, 1):
                if text.strip():
                    try:
                        yield number, json.loads(text)
                    except json.JSONDecodeError as error:
                        self.problems.append(f"line {number}: not JSON ({error.msg})")

    def _read(self, row: dict[str, Any]) -> Read:
        if not isinstance(row, dict):
            raise TypeError("expected an object")
        at = datetime.fromisoformat(str(row["time"]).replace("Z", "+00:00"))
        user = str(row.get("user") or "")
        if not user and not row.get("role"):
            raise ValueError("no user or role")
        return Read(
            at=at if at.tzinfo else at.replace(tzinfo=UTC),
            user=user,
            relations=self._relations(row),
            role=row.get("role") or None,
            query_tag=row.get("query_tag") or None,
        )

    def _relations(self, row: dict[str, Any]) -> tuple[Relation, ...]:
        listed = row.get("relations")
        if isinstance(listed, str):
            listed = [name for name in listed.split(";") if name.strip()]
        if listed:
            return tuple(self._relation(str(name)) for name in listed)
        sql = row.get("query_text")
        if not sql:
            raise ValueError("neither relations nor query_text")
        return tuple(ref.parts for ref in extract_references(str(sql), self.dialect, *self.defaults).tables)

    def _relation(self, name: str) -> Relation:
        try:
            table = exp.to_table(name.strip(), dialect=self.dialect or None)
        except sqlglot.errors.SqlglotError:
            raise ValueError(f"not a relation name: {name!r}") from None
        named = tuple((part.name, bool(part.args.get("quoted"))) for part in table.parts)
        return qualify_name(named, self.dialect, *self.defaults).parts


def file_usage(
    path: Path,
    settings: UsageSettings,
    now: datetime,
    *,
    dialect: str = "",
    default_database: str | None = None,
    default_schema: str | None = None,
) -> WarehouseUsage:
    """The file's reads over the window ending `now`; unreadable rows make it incomplete."""
    start = now - timedelta(days=settings.window_days)
    source = f"file {path}"
    try:
        reads = ReadsFile(path, dialect, default_database, default_schema)
        usages, excluded, oldest = fold_reads(reads.reads(), settings, start, now)
    except OSError as error:
        return WarehouseUsage(source, start, now, None, failure=error.strerror or str(error))
    failure = None
    if reads.problems:
        named = "; ".join(reads.problems[:MAX_PROBLEMS_NAMED])
        more = len(reads.problems) - MAX_PROBLEMS_NAMED
        failure = f"{len(reads.problems)} rows unreadable ({named}{f'; and {more} more' if more > 0 else ''})"
    return WarehouseUsage(source, start, now, oldest, usages, failure=failure, excluded_reads=excluded)


def write_reads_file(reads: Iterable[Read], path: Path) -> Path:
    """Reads as JSON lines in the format `ReadsFile` reads (the sandbox's history, exports)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as file:
        for read in reads:
            row = {
                "time": read.at.isoformat(),
                "user": read.user,
                "role": read.role,
                "query_tag": read.query_tag,
                "relations": [".".join(part for part in relation if part) for relation in read.relations],
            }
            file.write(json.dumps(row) + "\n")
    return path
