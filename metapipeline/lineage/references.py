"""The tables a SQL text reads and writes, found with sqlglot, or by a text scan when it cannot parse.

Reads and writes are apart: the targets of INSERT, MERGE, UPDATE (its alias too), DELETE, SELECT
INTO, CREATE ... AS and DROP/TRUNCATE/ALTER are writes, not reads; session and metadata statements
(USE, SHOW, DESCRIBE, CACHE TABLE t, GRANT, ...) read nothing.

Names follow the dialect: a quoted identifier is one part however many dots it holds (sqlglot
already splits BigQuery's backticked `project.dataset.table`), and names of more than three parts
(a T-SQL linked server, `server.db.schema.table`) keep every part.

Results depend only on (SQL, dialect, defaults), never on a dbt project, so they can be cached
and computed in worker processes.
"""

from __future__ import annotations

import contextlib
import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError

from metapipeline.dbt.relations import normalize_part
from metapipeline.lineage.templates import PLACEHOLDER
from metapipeline.unpickling import collector_paused

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
    # Parts before the database (a T-SQL linked server): kept in `display`, not used for matching.
    prefix: tuple[str, ...] = ()

    def to_json(self) -> list[Any]:
        """`[database, schema, name, display, templated]` (and `prefix` when there is one): an
        array, not an object, as a cache holds hundreds of thousands of them."""
        data = [*self.parts, self.display, self.templated]
        return [*data, list(self.prefix)] if self.prefix else data

    @staticmethod
    def from_json(data: list[Any]) -> TableRef:
        return _ref_from_json(data)


@dataclass(frozen=True)
class Extraction:
    """What a SQL text reads and writes. `to_json`/`from_json` are its persisted form (the ledger's
    reference cache): plain JSON, never pickle, since a shared ledger must not run what it reads.

    Parsed: `tables` are the tables read, `writes` the tables written. Fallback (or failed, when the
    template did not render): `tables` and `writes` are the names a text scan found in table
    positions (after FROM, JOIN, INTO, UPDATE, ...), and `mentions` every other identifier chain,
    to be matched against known relations only."""

    status: str
    tables: tuple[TableRef, ...]
    error: str | None = None
    writes: tuple[TableRef, ...] = ()
    mentions: tuple[TableRef, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "status": self.status,
            "tables": [t.to_json() for t in self.tables],
            "error": self.error,
            "writes": [t.to_json() for t in self.writes],
        }
        if self.mentions:
            data["mentions"] = [t.to_json() for t in self.mentions]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Extraction:
        tables = tuple(_ref_from_json(ref) for ref in data["tables"])
        if "writes" not in data and data["status"] != PARSED:
            # The form before writes: a fallback's `tables` were every identifier chain.
            return cls(data["status"], (), data["error"], (), tables)
        return cls(
            data["status"],
            tables,
            data["error"],
            tuple(_ref_from_json(ref) for ref in data.get("writes", ())),
            tuple(_ref_from_json(ref) for ref in data.get("mentions", ())),
        )


def _ref_from_json(data: list[Any]) -> TableRef:
    return _table_ref(*data[:5], tuple(data[5]) if len(data) > 5 else ())


@lru_cache(maxsize=1 << 16)  # interned: a loaded cache names the same tables again and again
def _table_ref(
    database: str | None,
    schema: str | None,
    name: str,
    display: str,
    templated: bool,
    prefix: tuple[str, ...] = (),
) -> TableRef:
    return TableRef((database, schema, name), display, templated, prefix)


Named = tuple[tuple[str, bool], ...]  # a table name's parts with their quoting, outermost first
Qualify = Callable[[Named], TableRef]
Key = tuple[str | None, str | None, str]


def extract_references(
    sql: str, dialect: str = "", default_database: str | None = None, default_schema: str | None = None
) -> Extraction:
    """The tables the SQL reads and writes, or (status fallback) what a text scan finds when it
    does not parse."""

    def qualify(named: Named) -> TableRef:
        return qualify_name(named, dialect, default_database, default_schema)

    if len(sql) > MAX_PARSE_CHARS:
        error = f"too large to parse ({len(sql):,} characters, the limit is {MAX_PARSE_CHARS:,})"
        return _fallback(FALLBACK, sql, qualify, error, dialect)
    try:
        return _parse(sql, dialect, qualify)
    except SqlglotError as exc:
        error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    except RecursionError:  # sqlglot parses recursively: thousands of nested parentheses exhaust it
        return _fallback(FALLBACK, sql, qualify, "nested too deeply to parse", dialect)
    rescued = _rescue(sql, dialect)
    if rescued != sql:  # dialect syntax sqlglot does not know, rewritten to what it does
        with contextlib.suppress(SqlglotError, RecursionError):
            return _parse(rescued, dialect, qualify)
    return _fallback(FALLBACK, sql, qualify, error, dialect)


def _parse(sql: str, dialect: str, qualify: Qualify) -> Extraction:
    reads: dict[str, TableRef] = {}
    writes: dict[str, TableRef] = {}
    # Every node a parse allocates lives until the walk ends, so a collection during it frees
    # nothing, and the nodes it promotes bring on full collections, which walk the whole heap (a
    # loaded manifest too): a quarter to a third of a plain parse's time. The tree, cyclic (each
    # node points to its parent) and unreachable once _walk returns, goes in the first young
    # collection after. The pause is process-wide: other threads' garbage waits for it too (a
    # parse takes milliseconds, seconds near MAX_PARSE_CHARS).
    with collector_paused():
        _walk(sql, dialect, qualify, reads, writes)
    return Extraction(PARSED, tuple(reads.values()), None, tuple(writes.values()))


def _walk(
    sql: str, dialect: str, qualify: Qualify, reads: dict[str, TableRef], writes: dict[str, TableRef]
) -> None:
    created: set[Key] = set()
    for statement in _parser(dialect)(sql):
        if statement is not None:
            _statement_refs(statement, created, qualify, reads, writes)


@cache
def _parser(dialect: str) -> Callable[[str], list[exp.Expr | None]]:
    """The dialect's parse, its tokenizer and parser made once: `sqlglot.parse` makes a dialect,
    a tokenizer and a parser for every call (both reset themselves on each use)."""
    instance = Dialect.get_or_raise(dialect or None)
    tokenizer, parser = instance.tokenizer(), instance.parser()
    return lambda sql: parser.parse(tokenizer.tokenize(sql), sql)


@lru_cache(maxsize=1 << 16)  # the same names recur across queries; normalising them is not free
def qualify_name(
    named: Named, dialect: str, default_database: str | None, default_schema: str | None
) -> TableRef:
    prefix, named = named[:-3], named[-3:]
    padded: list[tuple[str | None, bool]] = list(named)
    if len(padded) == 1 and default_schema is not None:
        padded.insert(0, (default_schema, False))
    if len(padded) == 2 and default_database is not None:
        padded.insert(0, (default_database, False))
    padded[:0] = [(None, False)] * (3 - len(padded))  # unknown parts stay unknown
    database, schema = (
        None if n is None else normalize_part(n, q, dialect, i) for i, (n, q) in enumerate(padded[:2])
    )
    parts = (database, schema, normalize_part(*named[-1], dialect, 2))
    display = ".".join(
        name if quoted else name.lower() for name, quoted in (*prefix, *padded) if name is not None
    )
    kept = tuple(name if quoted else name.lower() for name, quoted in prefix)
    return TableRef(parts, display, PLACEHOLDER in display.casefold(), kept)


# Statements that read nothing, whatever names they hold (session, metadata, grants, DDL on
# other objects). DROP, TRUNCATE and ALTER of a table or view write it.
_READ_NOTHING: tuple[type[exp.Expr], ...] = tuple(
    getattr(exp, name)
    for name in (
        "Use", "Describe", "Show", "Refresh", "Analyze", "Grant", "Revoke", "Command", "Set",
        "Pragma", "Transaction", "Commit", "Rollback", "Comment", "Uncache", "Kill", "Declare",
        "Summarize",
    )
    if hasattr(exp, name)
)  # fmt: skip
_RELATION_KINDS = frozenset({"TABLE", "VIEW", "MATERIALIZED VIEW", "DYNAMIC TABLE", "EXTERNAL TABLE"})


def _statement_refs(
    statement: exp.Expr,
    created: set[Key],
    qualify: Qualify,
    reads: dict[str, TableRef],
    writes: dict[str, TableRef],
) -> None:
    if isinstance(statement, _READ_NOTHING):
        return
    kind = str(statement.args.get("kind") or "").upper()
    if isinstance(statement, (exp.Drop, exp.Alter, exp.TruncateTable)):
        if (kind in _RELATION_KINDS or isinstance(statement, exp.TruncateTable)) and not statement.args.get(
            "is_database"
        ):
            for table in _table_nodes(statement):
                ref = qualify(_named(table))
                writes.setdefault(ref.display, ref)
        return
    targets: list[exp.Table] = []  # written
    skipped: list[exp.Table] = []  # neither read nor written (an alias standing for a target)
    scope: exp.Expr | None = statement  # where reads are looked for
    temporary = False
    if isinstance(statement, exp.Create):
        scope = statement.expression if isinstance(statement.expression, exp.Query) else None
        target = statement.this.this if isinstance(statement.this, exp.Schema) else statement.this
        if kind in _RELATION_KINDS and isinstance(target, exp.Table):
            targets.append(target)
            props = statement.args.get("properties")
            temporary = bool(props and props.find(exp.TemporaryProperty))
            scope = statement  # CREATE TABLE ... CLONE / LIKE reads its source
    elif isinstance(statement, exp.Cache):  # CACHE TABLE t [AS SELECT ...]: a temporary view
        if isinstance(statement.this, exp.Table):
            created.add(qualify(_named(statement.this)).parts)
        scope = statement.expression
    elif isinstance(statement, (exp.Insert, exp.Merge, exp.Copy)):
        target = statement.this.this if isinstance(statement.this, exp.Schema) else statement.this
        if isinstance(target, exp.Table) and not (
            isinstance(statement, exp.Copy) and not statement.args.get("kind")
        ):
            targets.append(target)  # COPY INTO t FROM ... loads t; COPY t TO ... reads it
    elif isinstance(statement, (exp.Update, exp.Delete)):
        named_targets = statement.args.get("tables") or [statement.this]  # T-SQL: DELETE a FROM t a
        for target in named_targets:
            if not isinstance(target, exp.Table):
                continue
            aliased = _aliased(statement, target)
            if aliased is not None:  # UPDATE a SET ... FROM dbo.t a: `a` is dbo.t
                skipped.append(target)
                targets.append(aliased)
            else:
                targets.append(target)
    if isinstance(statement, exp.Query):
        into = statement.args.get("into")
        if isinstance(into, exp.Into) and isinstance(into.this, exp.Table):  # SELECT ... INTO t
            targets.append(into.this)
            temporary = bool(into.args.get("temporary"))
            created.add(qualify(_named(into.this)).parts)
    for target in targets:
        ref = qualify(_named(target))
        if isinstance(statement, exp.Create) or temporary:
            created.add(ref.parts)
        if not temporary and not _is_temporary(target):
            writes.setdefault(ref.display, ref)
    if scope is None:
        return
    tables, ctes = _tables_and_ctes(scope)
    cte_names = {cte.alias_or_name.casefold() for cte in ctes}
    not_read = {id(t) for t in (*targets, *skipped)}
    for table in tables:
        if id(table) in not_read or not isinstance(table.this, (exp.Identifier, exp.Dot)):
            continue  # a target, or a table function: TABLE(FLATTEN(...)), generate_series(...), ...
        if table.name.casefold() in cte_names and not table.args.get("db") and _is_cte_reference(table):
            continue
        ref = qualify(_named(table))
        if ref.parts not in created:  # a table this query created earlier is not an input
            reads.setdefault(ref.display, ref)


# Nodes no table can be under, and most of a tree (TPC-DS: 15k of its 25k nodes).
_LEAVES = frozenset({exp.Column, exp.Identifier, exp.Literal})


def _tables_and_ctes(root: exp.Expr) -> tuple[list[exp.Table], list[exp.CTE]]:
    """The tables and CTEs under `root`, in `find_all`'s breadth-first order, in one walk that
    never queues a leaf: half the time of `find_all`, whose chain of generators costs 0.6 us a node."""
    tables: list[exp.Table] = []
    ctes: list[exp.CTE] = []
    queue = deque([root])
    while queue:
        node = queue.popleft()
        if isinstance(node, exp.Table):
            tables.append(node)
        elif isinstance(node, exp.CTE):
            ctes.append(node)
        for value in node.args.values():
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, exp.Expr) and type(item) not in _LEAVES:
                        queue.append(item)
            elif isinstance(value, exp.Expr) and type(value) not in _LEAVES:
                queue.append(value)
    return tables, ctes


def _table_nodes(statement: exp.Expr) -> Iterator[exp.Table]:
    for table in statement.find_all(exp.Table):
        if isinstance(table.this, (exp.Identifier, exp.Dot)):
            yield table


def _aliased(statement: exp.Expr, target: exp.Table) -> exp.Table | None:
    """The table a one-part UPDATE/DELETE target stands for when it is another table's alias."""
    if target.args.get("db") or target.args.get("alias"):
        return None
    name = target.name.casefold()
    for table in statement.find_all(exp.Table):
        if table is not target and table.alias and table.alias.casefold() == name:
            return table
    return None


def _is_temporary(table: exp.Table) -> bool:
    return isinstance(table.this, exp.Identifier) and bool(table.this.args.get("temporary"))


def _named(table: exp.Table) -> Named:
    """The parts of a table name as the dialect means them: a quoted part is one part, dots or not
    (sqlglot splits BigQuery's `project.dataset.table` itself)."""
    named: list[tuple[str, bool]] = []
    for part in table.parts:
        name = part.name
        if part.args.get("temporary") and not name.startswith("#"):
            name = "#" + name  # T-SQL #temp
        named.append((name, bool(part.args.get("quoted"))))
    return tuple(named)


# Rewrites of dialect syntax sqlglot does not parse, tried when the text as written fails.
_CASTS = re.compile(
    r"""::\s*(?:"[^"\n]+"|[A-Za-z_][\w$]*(?:\s*\.\s*[A-Za-z_][\w$]*)*)"""  # ::type, ::"char", ::s.type
    r"(?:\s+(?:varying|precision))?(?:\s*\(\s*\d+(?:\s*,\s*\d+)?\s*\))?"  # ::bit varying(5)
    r"(?:\s*\[\s*\d*\s*\])*(?:\s+with(?:out)?\s+time\s+zone)?",  # ::aclitem[], ::timestamp with time zone
    re.IGNORECASE,
)
_TOKENS = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/|\"(?:[^\"]|\"\")*\"|`(?P<tick>[^`]*)`", re.DOTALL)
_TSQL_INDEX_HINT = re.compile(r"\bINDEX\s*=\s*(?:\(\s*([\w\[\]]+)\s*\)|([\w\[\]]+))", re.IGNORECASE)


def _rescue(sql: str, dialect: str) -> str:
    """Athena's backticked names (Hive's quoting, accepted in its DML too) as double-quoted ones;
    PostgreSQL-style casts to types sqlglot does not know (`'1'::cid`, `'{}'::aclitem[]`) left
    out, since a cast never names a table; T-SQL's `WITH (INDEX = ix)` hint in its other form."""
    if "`" in sql and dialect in ("athena", "presto", "trino"):
        sql = _TOKENS.sub(_requote, sql)
    if "::" in sql:
        sql = _CASTS.sub("", sql)
    if dialect == "tsql":
        sql = _TSQL_INDEX_HINT.sub(lambda m: f"INDEX({m.group(1) or m.group(2)})", sql)
    return sql


def _requote(token: re.Match[str]) -> str:
    tick = token.group("tick")
    return token.group() if tick is None else '"' + tick.replace('"', '""') + '"'


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
    return _scan(
        _NOISE.sub(_blank, sql),
        dialect,
        lambda named: qualify_name(named, dialect, default_database, default_schema),
    )


def _scan(text: str, dialect: str, qualify: Qualify) -> tuple[TableRef, ...]:
    refs: dict[str, TableRef] = {}
    for chain in _CHAIN.findall(text):
        named = _chain_parts(chain, dialect)
        if len(named) <= 3:
            ref = qualify(named)
            refs.setdefault(ref.display, ref)
    return tuple(refs.values())


def _chain_parts(chain: str, dialect: str) -> Named:
    named: list[tuple[str, bool]] = []
    for part in _PART.findall(chain):
        if part[0] == "`" and dialect == "bigquery":  # `project.dataset.table`: BigQuery's one pair
            named.extend((name, True) for name in part[1:-1].split("."))
        elif part[0] in '"`[':
            named.append((part[1:-1], True))
        else:
            named.append((part, False))
    return tuple(named)


# Table positions for the text scan: the chain after these words names a table (read or written).
_POSITION = re.compile(
    rf"\b(?P<word>FROM|JOIN|USING|INTO|UPDATE|TABLE|VIEW)\s+"
    rf"(?:(?:ONLY|TABLE|IF\s+(?:NOT\s+)?EXISTS)\s+)*(?P<chain>(?:{_IDENT})(?:\s*\.\s*(?:{_IDENT}))*)",
    re.IGNORECASE,
)
# `FROM a x, b AS y (NOLOCK), c`: the tables after the first of a comma-separated FROM list.
_NEXT = re.compile(
    rf"\s*(?:(?:AS\s+)?(?P<alias>{_IDENT})\s*)?(?:(?:WITH\s*)?\([^()]*\)\s*)?,\s*"
    rf"(?P<chain>(?:{_IDENT})(?:\s*\.\s*(?:{_IDENT}))*)",
    re.IGNORECASE,
)
_NOT_A_TABLE_FROM = re.compile(
    r"(?:\(|\bDISTINCT|\bLEADING|\bTRAILING|\bBOTH|\bEXTRACT\s*\(\s*[\w\"]+)\s*$", re.IGNORECASE
)
_KEYWORDS = frozenset(
    [
        "select",
        "lateral",
        "unnest",
        "where",
        "group",
        "order",
        "having",
        "limit",
        "on",
        "set",
        "values",
        "with",
        "as",
        "join",
        "inner",
        "left",
        "right",
        "full",
        "cross",
        "outer",
        "natural",
        "union",
        "except",
        "intersect",
        "window",
        "qualify",
        "pivot",
        "unpivot",
    ]
)
_TSQL_HINT = re.compile(r"\s*(?:WITH\s*)?\(\s*(?:NOLOCK|READ|REPEATABLE|SERIALIZABLE|HOLDLOCK|UPD|TAB|ROW|PAG|NOWAIT|INDEX|FORCE|NOEXPAND|XLOCK|SNAPSHOT|READPAST)", re.IGNORECASE)  # fmt: skip


def _fallback(status: str, sql: str, qualify: Qualify, error: str, dialect: str = "") -> Extraction:
    text = _NOISE.sub(_blank, sql)
    reads: dict[str, TableRef] = {}
    writes: dict[str, TableRef] = {}
    for match in _POSITION.finditer(text):
        word = match.group("word").upper()
        before = text[max(0, match.start() - 40) : match.start()]
        if word == "FROM" and _NOT_A_TABLE_FROM.search(before):
            continue  # EXTRACT(YEAR FROM x), IS DISTINCT FROM x, TRIM(' ' FROM x)
        if word == "UPDATE" and re.search(r"\b(?:FOR|ON|DO|THEN|KEY)\s*$", before, re.IGNORECASE):
            continue
        written = word in ("INTO", "UPDATE", "TABLE", "VIEW") or (
            word == "FROM" and re.search(r"\bDELETE\s*$", before, re.IGNORECASE)
        )
        chains = [match]
        if word == "FROM":  # FROM a, b, c
            end = match.end()
            while (more := _NEXT.match(text, end)) and (more.group("alias") or "").lower() not in _KEYWORDS:
                chains.append(more)
                end = more.end()
        for chain in chains:
            rest = text[chain.end() : chain.end() + 40]
            if rest.startswith("(") and not _TSQL_HINT.match(rest):
                continue  # a table function: generate_series(1, 3), FLATTEN(...); not `t (NOLOCK)`
            named = _chain_parts(chain.group("chain"), dialect)
            if named[-1][0].lower() in _KEYWORDS and not named[-1][1]:
                continue
            ref = qualify(named)
            (writes if written else reads).setdefault(ref.display, ref)
    known = {*reads, *writes}
    mentions = tuple(ref for ref in _scan(text, dialect, qualify) if ref.display not in known)
    return Extraction(status, tuple(reads.values()), error, tuple(writes.values()), mentions)


def fallback_references(
    status: str,
    sql: str,
    error: str,
    dialect: str = "",
    default_database: str | None = None,
    default_schema: str | None = None,
) -> Extraction:
    """What a text scan finds in SQL that cannot be parsed (or a template that cannot be rendered):
    names in table positions as reads and writes, every other identifier chain as a mention."""
    return _fallback(
        status,
        sql,
        lambda named: qualify_name(named, dialect, default_database, default_schema),
        error,
        dialect,
    )


def _blank(noise: re.Match[str]) -> str:
    text = noise.group()
    closed = text.startswith("--") or noise.group("quote") or noise.group("close")
    return " " if closed else text
