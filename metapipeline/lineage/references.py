"""The tables a SQL text reads, found with sqlglot, or by a text scan when it cannot parse.

Results depend only on (SQL, dialect, defaults), never on a dbt project, so they can be cached
and computed in worker processes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from metapipeline.dbt.relations import normalize_part
from metapipeline.lineage.templates import PLACEHOLDER

PARSED, FALLBACK, FAILED = "parsed", "fallback", "failed"

# Longer SQL goes to the text scan: sqlglot takes seconds per megabyte, and a query that size is
# generated, not written, so bounded time is worth more than its parse tree.
MAX_PARSE_CHARS = 1_000_000


@dataclass(frozen=True)
class TableRef:
    """A table name qualified by the defaults where it was not. `parts` are normalised under the
    dialect's case rules (database and schema are None when neither the query nor the defaults
    give them); `display` is lower-case except for quoted parts."""

    parts: tuple[str | None, str | None, str]
    display: str
    templated: bool = False  # a part holds an undefined Liquid variable's placeholder

    def to_json(self) -> list[Any]:
        """`[database, schema, name, display, templated]`: an array, not an object, as a cache
        holds hundreds of thousands of them."""
        return [*self.parts, self.display, self.templated]

    @staticmethod
    def from_json(data: list[Any]) -> TableRef:
        return _table_ref(*data)


@dataclass(frozen=True)
class Extraction:
    """What a SQL text reads. `to_json`/`from_json` are its persisted form (the ledger's reference
    cache): plain JSON, never pickle, since a shared ledger must not run what it reads."""

    status: str  # parsed, or fallback: `tables` are every identifier chain, to match known names only
    tables: tuple[TableRef, ...]
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "tables": [t.to_json() for t in self.tables], "error": self.error}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Extraction:
        return cls(data["status"], tuple(_table_ref(*ref) for ref in data["tables"]), data["error"])


@lru_cache(maxsize=1 << 16)  # interned: a loaded cache names the same tables again and again
def _table_ref(
    database: str | None, schema: str | None, name: str, display: str, templated: bool
) -> TableRef:
    return TableRef((database, schema, name), display, templated)


Named = tuple[tuple[str, bool], ...]  # a table name's parts with their quoting, outermost first
Qualify = Callable[[Named], TableRef]


def extract_references(
    sql: str, dialect: str = "", default_database: str | None = None, default_schema: str | None = None
) -> Extraction:
    """The tables the SQL reads, or (status fallback) every identifier chain when it does not parse."""

    def qualify(named: Named) -> TableRef:
        return qualify_name(named, dialect, default_database, default_schema)

    if len(sql) > MAX_PARSE_CHARS:
        error = f"too large to parse ({len(sql):,} characters, the limit is {MAX_PARSE_CHARS:,})"
        return Extraction(FALLBACK, _scan(sql, qualify), error)
    refs: dict[str, TableRef] = {}
    created: set[tuple[str | None, str | None, str]] = set()
    try:
        for statement in sqlglot.parse(sql, read=dialect or None):
            for table in _tables_read(statement, created, qualify) if statement is not None else ():
                refs.setdefault(table.display, table)
    except SqlglotError as exc:
        error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Extraction(FALLBACK, _scan(sql, qualify), error)
    except RecursionError:  # sqlglot parses recursively: thousands of nested parentheses exhaust it
        return Extraction(FALLBACK, _scan(sql, qualify), "nested too deeply to parse")
    return Extraction(PARSED, tuple(refs.values()))


@lru_cache(maxsize=1 << 16)  # the same names recur across queries; normalising them is not free
def qualify_name(
    named: Named, dialect: str, default_database: str | None, default_schema: str | None
) -> TableRef:
    padded: list[tuple[str | None, bool]] = list(named[-3:])
    if len(padded) == 1 and default_schema is not None:
        padded.insert(0, (default_schema, False))
    if len(padded) == 2 and default_database is not None:
        padded.insert(0, (default_database, False))
    padded[:0] = [(None, False)] * (3 - len(padded))  # unknown parts stay unknown
    database, schema = (
        None if n is None else normalize_part(n, q, dialect, i) for i, (n, q) in enumerate(padded[:2])
    )
    parts = (database, schema, normalize_part(*named[-1], dialect, 2))
    display = ".".join(name if quoted else name.lower() for name, quoted in padded if name is not None)
    return TableRef(parts, display, templated=PLACEHOLDER in display.casefold())


def _tables_read(
    statement: exp.Expr, created: set[tuple[str | None, str | None, str]], qualify: Qualify
) -> Iterator[TableRef]:
    target = None
    if isinstance(statement, exp.Create) and (statement.args.get("kind") or "").upper() in ("TABLE", "VIEW"):
        target = statement.this.this if isinstance(statement.this, exp.Schema) else statement.this
    tables: list[exp.Table] = []
    cte_names: set[str] = set()
    for node in statement.walk():  # one walk for both: it costs as much as the parse's tail
        if isinstance(node, exp.Table):
            tables.append(node)
        elif isinstance(node, exp.CTE):
            cte_names.add(node.alias_or_name.casefold())
    for table in tables:
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function: TABLE(FLATTEN(...)), generate_series(...), ...
        if table is target:
            created.add(qualify(_named(table)).parts)
            continue
        if table.name.casefold() in cte_names and not table.args.get("db") and _is_cte_reference(table):
            continue
        ref = qualify(_named(table))
        if ref.parts not in created:  # a table this query created earlier is not an input
            yield ref


def _named(table: exp.Table) -> Named:
    named: list[tuple[str, bool]] = []
    for part in table.parts:
        quoted = bool(part.args.get("quoted"))
        # BigQuery: `project.dataset.table` in one pair of backticks is one identifier.
        names = part.name.split(".") if quoted and "." in part.name else [part.name]
        named.extend((name, quoted) for name in names)
    return tuple(named)


def _is_cte_reference(table: exp.Table) -> bool:
    """Whether a one-part name means a CTE visible where it stands (nested WITHs, RECURSIVE, and
    `WITH orders AS (SELECT * FROM orders)`, where the inner `orders` is the real table)."""
    name = table.name.casefold()
    child: exp.Expr = table
    node = table.parent
    came_through: exp.Expr | None = None
    while node is not None:
        if isinstance(child, exp.CTE):
            came_through = child
        if isinstance(node, exp.With):
            ctes = node.expressions
            # Without RECURSIVE a CTE sees only the ones before it.
            seen = ctes if node.args.get("recursive") else ctes[: _position(ctes, came_through)]
            if any(cte.alias_or_name.casefold() == name for cte in seen):
                return True
        else:
            with_ = node.args.get("with_")
            if (
                isinstance(with_, exp.With)
                and child is not with_
                and any(cte.alias_or_name.casefold() == name for cte in with_.expressions)
            ):
                return True
        child, node = node, node.parent
    return False


def _position(items: list[exp.Expr], item: exp.Expr | None) -> int:
    return next((i for i, candidate in enumerate(items) if candidate is item), len(items))


# Text scan for SQL that does not parse: strings and comments out, then identifier chains.
# An unterminated string or comment runs to the end and stays as text (its words may name tables).
# Matching it to the end, and no `[` inside `[...]`, keep the scan linear on any input.
_NOISE = re.compile(r"'(?:[^']|'')*(?P<quote>')?|--[^\n]*|/\*(?:.*?(?P<close>\*/)|.*)", re.DOTALL)
_IDENT = r'"[^"\n]+"|`[^`\n]+`|\[[^\[\]\n]+\]|[A-Za-z_][\w$]*'
_CHAIN = re.compile(rf"(?<![\w$.\"`\]])(?:{_IDENT})(?:\s*\.\s*(?:{_IDENT}))*")
_PART = re.compile(_IDENT)


def scan_identifiers(
    sql: str, dialect: str = "", default_database: str | None = None, default_schema: str | None = None
) -> tuple[TableRef, ...]:
    """Every identifier chain of up to three parts, qualified: the caller keeps the known relations."""
    return _scan(sql, lambda named: qualify_name(named, dialect, default_database, default_schema))


def _scan(sql: str, qualify: Qualify) -> tuple[TableRef, ...]:
    refs: dict[str, TableRef] = {}
    for chain in _CHAIN.findall(_NOISE.sub(_blank, sql)):
        named: list[tuple[str, bool]] = []
        for part in _PART.findall(chain):
            if part[0] in '"`[':
                named.extend((name, True) for name in part[1:-1].split("."))
            else:
                named.append((part, False))
        if len(named) <= 3:
            ref = qualify(tuple(named))
            refs.setdefault(ref.display, ref)
    return tuple(refs.values())


def _blank(noise: re.Match[str]) -> str:
    text = noise.group()
    closed = text.startswith("--") or noise.group("quote") or noise.group("close")
    return " " if closed else text
