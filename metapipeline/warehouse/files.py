"""A plain file of reads, for any warehouse: CSV or JSON lines of time, user, and what was read.

Columns (CSV header or JSON keys): `time` (ISO 8601), `user`, optionally `role` and `query_tag`,
and either `relations` (JSON: a list; CSV: names separated by `;`) or `query_text`, whose tables
the project's own SQL reference extractor reads.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from metapipeline.lineage.references import extract_references, qualify_name
from metapipeline.warehouse.usage import Read, Relation, UsageSettings, WarehouseUsage, fold_reads

MAX_PROBLEMS_NAMED = 5
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*(?:\.[A-Za-z_][A-Za-z0-9_$]*){0,2}")


class ReadsFile:
    """The reads of one file, with the rows it could not read (each named by line)."""

    def __init__(self, path: Path, dialect: str, default_database: str | None, default_schema: str | None):
        self.path = path
        self.dialect = dialect
        self.defaults = (default_database, default_schema)
        self.problems: list[str] = []
        # A history names the same relations again and again: each name is parsed once.
        self._relations_named: dict[str, Relation] = {}
        self._cells: dict[str, tuple[Relation, ...]] = {}

    def reads(self) -> Iterator[Read]:
        if self.path.suffix.lower() == ".csv":
            yield from self._csv_reads()
            return
        with self.path.open() as file:
            for number, text in enumerate(file, 1):
                if not text.strip():
                    continue
                try:
                    yield self._read(json.loads(text))
                except json.JSONDecodeError as error:
                    self.problems.append(f"line {number}: not JSON ({error.msg})")
                except (KeyError, TypeError, ValueError) as error:
                    self.problems.append(f"line {number}: {error}")

    def _csv_reads(self) -> Iterator[Read]:
        # csv.reader, not DictReader: a history has millions of rows, and a dict per row costs.
        with self.path.open(newline="") as file:
            rows = csv.reader(file)
            header = next(rows, [])
            columns = {name.strip(): position for position, name in enumerate(header)}
            for number, row in enumerate(rows, 2):
                try:
                    yield self._read({name: row[position] for name, position in columns.items()})
                except IndexError:
                    self.problems.append(f"line {number}: {len(row)} fields, the header has {len(header)}")
                except (KeyError, TypeError, ValueError) as error:
                    self.problems.append(f"line {number}: {error}")

    def _read(self, row: dict[str, Any]) -> Read:
        if not isinstance(row, dict):
            raise TypeError("expected an object")
        text = str(row["time"])
        at = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        user = str(row.get("user") or "")
        if not user and not row.get("role"):
            raise ValueError("no user or role")
        return Read(
            at if at.tzinfo else at.replace(tzinfo=UTC),
            user,
            self._relations(row),
            row.get("role") or None,
            row.get("query_tag") or None,
        )

    def _relations(self, row: dict[str, Any]) -> tuple[Relation, ...]:
        listed = row.get("relations")
        if isinstance(listed, str) and listed:
            found = self._cells.get(listed)
            if found is None:
                names = [name for name in listed.split(";") if name.strip()]
                found = self._cells[listed] = tuple(self._relation(name) for name in names)
            return found
        if listed:
            return tuple(self._relation(str(name)) for name in listed)
        sql = row.get("query_text")
        if not sql:
            raise ValueError("neither relations nor query_text")
        return tuple(ref.parts for ref in extract_references(str(sql), self.dialect, *self.defaults).tables)

    def _relation(self, name: str) -> Relation:
        found = self._relations_named.get(name)
        if found is None:
            found = self._relations_named[name] = self._parse_relation(name)
        return found

    def _parse_relation(self, name: str) -> Relation:
        name = name.strip()
        if _PLAIN_NAME.fullmatch(name):  # no quotes: no parser needed
            named = tuple((part, False) for part in name.split("."))
            return qualify_name(named, self.dialect, *self.defaults).parts
        try:
            table = exp.to_table(name, dialect=self.dialect or None)
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
