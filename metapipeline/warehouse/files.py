"""A plain file of reads, for any warehouse: CSV or JSON lines of time, user, and what was read.

Columns (CSV header or JSON keys): `time` (ISO 8601), `user`, optionally `role` and `query_tag`,
and either `relations` (JSON: a list; CSV: names separated by `;`) or `query_text`, whose tables
the project's own SQL reference extractor reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from metapipeline.lineage.references import extract_references, qualify_name
from metapipeline.warehouse.usage import (
    Read,
    Relation,
    RelationUsage,
    UsageSettings,
    WarehouseUsage,
    fold_reads,
    tool_of,
)

MAX_PROBLEMS_NAMED = 5
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*(?:\.[A-Za-z_][A-Za-z0-9_$]*){0,2}")


class ReadsFile:
    """The reads of one file, with the rows it could not read (each named by line)."""

    def __init__(self, path: Path, dialect: str, default_database: str | None, default_schema: str | None):
        self.path = path
        self.dialect = dialect
        self.defaults = (default_database, default_schema)
        self.problems: list[str] = []  # the first few, each named by line
        self.unreadable_rows = 0
        # A history names the same relations again and again: each name is parsed once.
        self._relations_named: dict[str, Relation] = {}
        self._cells: dict[str, tuple[Relation, ...]] = {}
        self._queries: dict[str, tuple[Relation, ...]] = {}

    def reads(self) -> Iterator[Read]:
        """The reads of a JSON-lines file (CSV files are folded by `_csv_usages`, in chunks)."""
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
            return self.cell_relations(listed)
        if listed:
            return tuple(self._relation(str(name)) for name in listed)
        sql = row.get("query_text")
        if not sql:
            raise ValueError("neither relations nor query_text")
        return self.query_relations(str(sql))

    def cell_relations(self, cell: str) -> tuple[Relation, ...]:
        """A CSV cell's relations: names separated by `;`."""
        found = self._cells.get(cell)
        if found is None:
            names = [name for name in cell.split(";") if name.strip()]
            found = self._cells[cell] = tuple(self._relation(name) for name in names)
        return found

    def query_relations(self, sql: str) -> tuple[Relation, ...]:
        """The tables a query text reads, as the project's own extractor finds them."""
        found = self._queries.get(sql)
        if found is None:
            found = self._queries[sql] = tuple(
                ref.parts for ref in extract_references(sql, self.dialect, *self.defaults).tables
            )
        return found

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
    reads = ReadsFile(path, dialect, default_database, default_schema)
    try:
        if path.suffix.lower() == ".csv":
            usages, excluded, oldest = _csv_usages(reads, settings, start, now)
        else:
            usages, excluded, oldest = fold_reads(reads.reads(), settings, start, now)
    except OSError as error:
        return WarehouseUsage(source, start, now, None, failure=error.strerror or str(error))
    except ValueError as error:  # a CSV without the columns it needs, or not CSV at all
        return WarehouseUsage(source, start, now, None, failure=str(error))
    failure = None
    unreadable = max(reads.unreadable_rows, len(reads.problems))
    if unreadable:
        named = "; ".join(reads.problems[:MAX_PROBLEMS_NAMED])
        more = unreadable - min(len(reads.problems), MAX_PROBLEMS_NAMED)
        failure = f"{unreadable} rows unreadable ({named}{f'; and {more} more' if more > 0 else ''})"
    return WarehouseUsage(source, start, now, oldest, usages, failure=failure, excluded_reads=excluded)


def _csv_usages(
    reads: ReadsFile, settings: UsageSettings, start: datetime, end: datetime
) -> tuple[list[RelationUsage], int, datetime | None]:
    """`fold_reads` over a CSV, vectorised a chunk at a time: histories run to millions of rows,
    and a Python object per row would take minutes. Same results, same problems named."""
    import pandas as pd

    relation_ids: dict[Relation, int] = {}
    verdicts: dict[tuple[str, str, str], tuple[bool, str | None]] = {}  # (left out, tool) per reader
    total: pd.DataFrame | None = None  # (relation id, reader) -> reads, last, tool, over the chunks so far
    excluded, oldest, line = 0, None, 2
    for chunk in pd.read_csv(reads.path, dtype=str, keep_default_na=False, chunksize=CSV_CHUNK_ROWS):
        lines = pd.RangeIndex(line, line + len(chunk))
        line += len(chunk)
        chunk.index = lines
        if "time" not in chunk:
            raise ValueError("no `time` column")  # named as the file's problem by the caller
        column = {name: chunk[name] if name in chunk else pd.Series("", index=lines) for name in _CSV_COLUMNS}
        times = pd.to_datetime(column["time"], utc=True, errors="coerce", format="ISO8601")
        unreadable = times.isna() | ((column["user"] == "") & (column["role"] == ""))
        unreadable |= (column["relations"] == "") & (column["query_text"] == "")
        for number in unreadable[unreadable].index[: MAX_PROBLEMS_NAMED - len(reads.problems)]:
            reads.problems.append(f"line {number}: {_csv_problem(column, times, number)}")
        reads.unreadable_rows += int(unreadable.sum())
        readable = ~unreadable
        if readable.any():
            first = times[readable].min().to_pydatetime()
            oldest = first if oldest is None or first < oldest else oldest
        in_window = readable & (times >= start) & (times <= end)
        cells = column["relations"].where(column["relations"] != "", column["query_text"])[in_window]
        who = (
            column["user"][in_window]
            + "\x00"
            + column["role"][in_window]
            + "\x00"
            + column["query_tag"][in_window]
        )
        for key in who.unique():
            if key not in verdicts:
                user, role, tag = (part or None for part in key.split("\x00"))
                verdicts[key] = (settings.excludes(user or "", role, tag), tool_of(tag, user, role))
        # Dict lookups, not a Python call per row: a few readers and relations, millions of rows.
        readers = who.unique()
        left_out = who.map({key: verdicts[key][0] for key in readers}).astype(bool)
        query_texts = set(column["query_text"].unique()) - {""}
        ids = cells.map(
            {
                cell: _ids(
                    reads.query_relations(cell) if cell in query_texts else reads.cell_relations(cell),
                    relation_ids,
                )
                for cell in cells.unique()
            }
        )
        excluded += sum(map(len, ids[left_out]))
        kept = ~left_out
        frame = pd.DataFrame(
            {
                "relation": ids[kept],
                "reader": column["user"][in_window][kept].where(
                    column["user"][in_window][kept] != "", column["role"][in_window][kept]
                ),
                "time": times[in_window][kept],
                "tool": who[kept].map({key: verdicts[key][1] for key in readers}),
            }
        ).explode("relation")
        grouped = frame.groupby(["relation", "reader"], sort=False).agg(
            reads=("time", "size"), last=("time", "max"), tool=("tool", "first")
        )
        # Folded into the running total at once: memory stays at one chunk plus the pairs seen.
        total = grouped if total is None else _combine(total, grouped)
    if total is None:
        return [], excluded, oldest
    below = total["reads"] < settings.min_reads
    excluded += int(total.loc[below, "reads"].sum())
    total = total[~below]
    relations = {number: relation for relation, number in relation_ids.items()}
    order = {number: (r[0] or "", r[1] or "", r[2]) for number, r in relations.items()}
    numbers = total.index.get_level_values(0).tolist()
    readers_of = total.index.get_level_values(1).tolist()
    rows = sorted(
        zip(
            numbers,
            readers_of,
            total["reads"].tolist(),
            total["last"].dt.to_pydatetime(),
            total["tool"].tolist(),
            strict=True,
        ),
        key=lambda row: (order[row[0]], row[1]),
    )
    usages = [
        RelationUsage(relations[number], reader, count, last, tool or None)
        for number, reader, count, last, tool in rows
    ]
    return usages, excluded, oldest


CSV_CHUNK_ROWS = 500_000
_CSV_COLUMNS = ("time", "user", "role", "query_tag", "relations", "query_text")


def _combine(total: Any, grouped: Any) -> Any:
    import pandas as pd

    return (
        pd.concat([total, grouped])
        .groupby(level=[0, 1], sort=False)
        .agg(reads=("reads", "sum"), last=("last", "max"), tool=("tool", "first"))
    )


def _ids(relations: tuple[Relation, ...], relation_ids: dict[Relation, int]) -> list[int]:
    return [relation_ids.setdefault(relation, len(relation_ids)) for relation in relations]


def _csv_problem(column: dict[str, Any], times: Any, number: int) -> str:
    import pandas as pd

    if pd.isna(times[number]):
        return f"time {column['time'][number]!r} is not an ISO 8601 time"
    if column["user"][number] == "" and column["role"][number] == "":
        return "no user or role"
    return "neither relations nor query_text"


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
