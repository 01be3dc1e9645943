"""Reads of warehouse relations, folded into per-relation, per-reader evidence.

Every source (Snowflake's ACCESS_HISTORY, PostgreSQL's pg_stat_statements, a plain file) yields
`Read`s or already folded `RelationUsage` rows; `WarehouseUsage` carries them with the window they
cover, so a history that failed or does not reach back far enough makes the evidence incomplete
instead of making models look unused.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

FORMAT = "metapipeline.warehouse-usage/1"
# Tools recognised in a query tag or a user or role name, for people reading the evidence.
KNOWN_TOOLS = (
    "hightouch", "census", "polytomic", "rudderstack", "segment", "fivetran", "airbyte", "stitch",
    "looker", "tableau", "metabase", "sigma", "hex", "mode", "powerbi", "superset", "thoughtspot",
    "airflow", "dagster", "prefect", "dbt", "jupyter", "databricks", "streamlit", "retool",
)  # fmt: skip
# History lands late (Snowflake: up to 3 h) and windows start at midnight: a day of slack.
COVERAGE_SLACK = timedelta(days=1)

Relation = tuple[str | None, str | None, str]  # database, schema, name as the warehouse stores them


@dataclass(frozen=True)
class UsageSettings:
    """Which reads count. Patterns are shell globs, matched without regard to case."""

    window_days: int = 90
    min_reads: int = 1  # fewer reads of a relation by a reader in the window: not a consumer
    # dbt's own reads (building models reads their parents) and metapipeline's are not usage.
    exclude_users: tuple[str, ...] = ()
    exclude_roles: tuple[str, ...] = ()
    exclude_query_tags: tuple[str, ...] = ("dbt", "dbt_*", "dbt-*", "metapipeline*")

    def excludes(self, user: str, role: str | None, query_tag: str | None) -> bool:
        return (
            _matches(user, self.exclude_users)
            or _matches(role, self.exclude_roles)
            or _matches(query_tag, self.exclude_query_tags)
        )


def _matches(value: str | None, patterns: tuple[str, ...]) -> bool:
    return value is not None and any(fnmatch.fnmatch(value.casefold(), p.casefold()) for p in patterns)


def tool_of(*names: str | None) -> str | None:
    """The tool a query tag or a user or role name says issued the read, if any."""
    for name in names:
        folded = (name or "").casefold()
        for tool in KNOWN_TOOLS:
            if tool in folded:
                return tool
    return None


class Read(NamedTuple):  # a tuple: histories hold millions of them
    """One query's reads: the relations it read (views resolved to their tables where the
    warehouse says so) and who ran it."""

    at: datetime
    user: str
    relations: tuple[Relation, ...]
    role: str | None = None
    query_tag: str | None = None


class RelationUsage(NamedTuple):  # a tuple: a large history folds into millions of them
    """How often one reader read one relation in the window."""

    relation: Relation
    reader: str  # the user (or role, where the history names no user)
    reads: int
    last_read: datetime
    tool: str | None = None


@dataclass
class WarehouseUsage:
    """A source's evidence over a window; `history_from` is how far back its history reaches."""

    source: str  # "snowflake", "postgresql", "file <path>"
    window_start: datetime
    window_end: datetime
    history_from: datetime | None
    usages: list[RelationUsage] = field(default_factory=list)
    failure: str | None = None  # the source was configured and could not be read
    excluded_reads: int = 0  # dbt's own, metapipeline's, those below min_reads

    def incomplete_because(self) -> str | None:
        """Why these reads cannot show a relation is unread, or None when they can."""
        if self.failure:
            return f"the warehouse usage source ({self.source}) failed: {self.failure}"
        if self.history_from is None:
            return f"the warehouse usage source ({self.source}) holds no history"
        if self.history_from > self.window_start + COVERAGE_SLACK:
            return (
                f"the warehouse usage source ({self.source}) reaches back to {self.history_from:%Y-%m-%d}, "
                f"not to the window's start {self.window_start:%Y-%m-%d}"
            )
        return None

    def readers(self) -> dict[str, tuple[int, datetime, str | None]]:
        """Reader -> (reads of all relations, last read, tool)."""
        found: dict[str, tuple[int, datetime, str | None]] = {}
        for usage in self.usages:
            reads, last, tool = found.get(usage.reader, (0, usage.last_read, usage.tool))
            found[usage.reader] = (reads + usage.reads, max(last, usage.last_read), tool or usage.tool)
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "source": self.source,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "history_from": self.history_from.isoformat() if self.history_from else None,
            "failure": self.failure,
            "excluded_reads": self.excluded_reads,
            "usages": [
                [*u.relation, u.reader, u.reads, u.last_read.isoformat(), u.tool] for u in self.usages
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], origin: str = "warehouse usage") -> WarehouseUsage:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{origin}: expected a {FORMAT} document")
        try:
            history_from = data["history_from"]
            return cls(
                source=data["source"],
                window_start=datetime.fromisoformat(data["window_start"]),
                window_end=datetime.fromisoformat(data["window_end"]),
                history_from=datetime.fromisoformat(history_from) if history_from else None,
                failure=data.get("failure"),
                excluded_reads=int(data.get("excluded_reads", 0)),
                usages=[
                    RelationUsage((db, schema, name), reader, int(reads), datetime.fromisoformat(last), tool)
                    for db, schema, name, reader, reads, last, tool in data["usages"]
                ],
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{origin}: not a readable {FORMAT} document ({error})") from None


def write_usage(usage: WarehouseUsage, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(usage.to_json()))
    return path


def read_usage(path: Path) -> WarehouseUsage:
    return WarehouseUsage.from_json(json.loads(path.read_text()), str(path))


def fold_reads(
    reads: Iterable[Read], settings: UsageSettings, window_start: datetime, window_end: datetime
) -> tuple[list[RelationUsage], int, datetime | None]:
    """Reads in the window, by (relation, reader): the usages, how many reads were left out
    (excluded readers, below `min_reads`), and the oldest read seen (any time)."""
    counts: dict[tuple[Relation, str], list[Any]] = {}
    excluded = 0
    oldest: datetime | None = None
    verdicts: dict[tuple[str, str | None, str | None], bool] = {}  # few readers, millions of reads
    tools: dict[tuple[str, str | None, str | None], str | None] = {}
    for read in reads:
        if oldest is None or read.at < oldest:
            oldest = read.at
        if not window_start <= read.at <= window_end:
            continue
        who = (read.user, read.role, read.query_tag)
        left_out = verdicts.get(who)
        if left_out is None:
            left_out = verdicts[who] = settings.excludes(*who)
        if left_out:
            excluded += len(read.relations)
            continue
        reader = read.user or read.role or "unknown"
        for relation in read.relations:
            found = counts.get((relation, reader))
            if found is None:
                counts[(relation, reader)] = [
                    1,
                    read.at,
                    tools.get(who) or tools.setdefault(who, tool_of(*who)),
                ]
            else:
                found[0] += 1
                if read.at > found[1]:
                    found[1] = read.at
    usages = []
    for (relation, reader), (count, last, tool) in counts.items():
        if count < settings.min_reads:
            excluded += count
            continue
        usages.append(RelationUsage(relation, reader, count, last, tool))
    usages.sort(key=lambda u: (u.relation[0] or "", u.relation[1] or "", u.relation[2], u.reader))
    return usages, excluded, oldest
