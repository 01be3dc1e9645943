"""Mode query -> the dbt nodes it reads. `resolve_query` for one, `resolve_many` for a batch.

Rendering (definitions, forms, Liquid) runs in the calling process; parsing, the costly part,
is cached and, for large batches, fanned out to worker processes. Matching to dbt nodes runs
last, in the caller, so cached extractions stay valid when the dbt project changes.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from metapipeline.lineage.cache import ReferenceCache
from metapipeline.lineage.dialects import dialect_for_adapter
from metapipeline.lineage.references import (
    FAILED,
    PARSED,
    Extraction,
    TableRef,
    extract_references,
    fallback_references,
    scan_identifiers,
)
from metapipeline.lineage.templates import (
    PLACEHOLDER,
    TemplateError,
    expand_definitions,
    form_values,
    render,
    split_forms,
)

if TYPE_CHECKING:
    from metapipeline.dbt.relations import RelationIndex

# Below this many queries to parse, worker start-up costs more than it saves.
PARALLEL_MIN_BATCH = 256
# Queries per task (20-30 ms of parsing). Small, since the batch is done when its last task is,
# and tasks in the pool's queue can no longer be taken back: this process, done with its own,
# waited 0.5 s for the worker's last ones with 1/16 of 3,360 queries a task, 0.1 s with 32.
CHUNK_JOBS = 32


@dataclass(frozen=True)
class QueryLineage:
    """status: parsed, fallback (SQL did not parse: known relations matched in its text) or failed
    (not renderable: known relations matched in the raw text and its definitions); `error` says why."""

    status: str
    nodes: tuple[str, ...]  # dbt unique_ids read
    tables: tuple[str, ...]  # relation names as read, qualified by the defaults
    unresolved: tuple[str, ...]  # tables no dbt node builds (parsed queries, with an index only)
    error: str | None = None
    writes: tuple[str, ...] = ()  # relation names the query writes (INSERT, MERGE, UPDATE, DROP, ...)
    written_nodes: tuple[str, ...] = ()  # dbt unique_ids whose relation the query writes: a warning
    # Of `nodes`, those reached only through a Liquid parameter in a name whose values are unknown
    # (`{{ chain }}.transactions`, no form options): kept in `nodes` so the models are not called
    # unused, to be left out of exposures and centrality and listed for review.
    ambiguous: tuple[str, ...] = ()
    ambiguous_tables: tuple[str, ...] = ()  # those names, the unknown parameter shown as `*`


Job = tuple[str, str, str | None, str | None]  # rendered SQL, dialect, default database and schema


@dataclass(frozen=True)
class QueryInput:
    raw_sql: str
    definitions: Mapping[str, str] = field(default_factory=dict)  # definition name -> source
    adapter: str | None = None  # a Mode adapter (`jdbc:postgresql`) or a sqlglot dialect
    default_database: str | None = None
    default_schema: str | None = None


def resolve_query(
    raw_sql: str,
    *,
    definitions: Mapping[str, str] | None = None,
    adapter: str | None = None,
    default_database: str | None = None,
    default_schema: str | None = None,
    index: RelationIndex | None = None,
    cache: ReferenceCache | None = None,
) -> QueryLineage:
    # resolve_many's steps without its batch bookkeeping: this is the cost of a warm lookup.
    item = QueryInput(raw_sql, definitions or {}, adapter, default_database, default_schema)
    prepared = _prepare(item, cache)
    if isinstance(prepared, Extraction):
        return _match(prepared, index, _template_refs(item))
    key, job = prepared
    extraction = extract_references(*job)
    if cache is not None:
        cache.put(key, extraction)
    return _match(extraction, index, _template_refs(item))


def resolve_many(
    items: Sequence[QueryInput],
    *,
    index: RelationIndex | None = None,
    cache: ReferenceCache | None = None,
    processes: int | None = None,
) -> list[QueryLineage]:
    """Lineage of each item, in order. Batches of PARALLEL_MIN_BATCH queries to parse or more are
    fanned out over `processes` workers (default: one per CPU); smaller ones stay in this process."""
    cache = ReferenceCache() if cache is None else cache  # at least, equal queries parse once
    raw_keys = _raw_keys(items)
    cache.prefetch(raw_keys)
    found = {i: e for i, raw in enumerate(raw_keys) if (e := cache.get(raw, count=False)) is not None}
    cache.hits += len(found)  # unchanged queries: not even rendered
    rendered = {i: _render(item) for i, item in enumerate(items) if i not in found}
    cache.prefetch(r[0] for r in rendered.values() if not isinstance(r, Extraction))
    pending: dict[str, Job] = {}  # one parse per distinct rendered SQL
    to_parse: dict[int, str] = {}  # item -> its rendered key
    for i, prepared in rendered.items():
        if isinstance(prepared, Extraction):
            found[i] = prepared
        elif (cached := cache.get(prepared[0])) is not None:
            found[i] = cached
        else:
            pending[prepared[0]] = prepared[1]
            to_parse[i] = prepared[0]
    fresh = dict(zip(pending, _extract_all(list(pending.values()), processes), strict=True))
    for key, extraction in fresh.items():
        cache.put(key, extraction)
    for i, key in to_parse.items():
        found[i] = fresh[key]
    for i in rendered:
        cache.put(raw_keys[i], found[i])
    return [_match(found[i], index, _template_refs(item)) for i, item in enumerate(items)]


def _raw_keys(items: Sequence[QueryInput]) -> list[str]:
    digests: dict[int, str] = {}  # items of a workspace share one definitions mapping: digest it once

    def key(item: QueryInput) -> str:
        # Every definition is in the key (a failed render scans all of them): editing one re-renders
        # the workspace, whose parses the rendered keys still find.
        if (digest := digests.get(id(item.definitions))) is None:
            digest = digests[id(item.definitions)] = ReferenceCache.definitions_digest(item.definitions)
        dialect = dialect_for_adapter(item.adapter)
        return ReferenceCache.raw_key(
            item.raw_sql, digest, dialect, item.default_database, item.default_schema
        )

    return [key(item) for item in items]


def _prepare(item: QueryInput, cache: ReferenceCache | None) -> Extraction | tuple[str, Job]:
    """The item's extraction when rendering fails or the cache has it, else its cache key and job."""
    rendered = _render(item)
    if isinstance(rendered, Extraction) or cache is None:
        return rendered
    found = cache.get(rendered[0])
    return found if found is not None else rendered


def _render(item: QueryInput) -> Extraction | tuple[str, Job]:
    """The rendered SQL's cache key and parse job; the failed extraction when it cannot render."""
    dialect = dialect_for_adapter(item.adapter)
    defaults = (item.default_database, item.default_schema)
    try:
        sql = render(item.raw_sql, item.definitions)
    except TemplateError as exc:
        text = "\n".join((item.raw_sql, *item.definitions.values()))
        return fallback_references(FAILED, text, str(exc), dialect, *defaults)
    return ReferenceCache.key(sql, dialect, *defaults), (sql, dialect, *defaults)


@dataclass(frozen=True)
class _TemplateRefs:
    """What the template says beyond its rendering with the defaults."""

    branches: tuple[TableRef, ...] = ()  # names in Liquid branches the defaults did not take
    # Names holding form parameters, once per known value (or value combination): reads, writes.
    variants: tuple[TableRef, ...] = ()
    variant_writes: tuple[TableRef, ...] = ()
    unknown: tuple[TableRef, ...] = ()  # with a parameter whose values are unknown: ambiguous
    covered: frozenset[str] = frozenset()  # templated names as rendered that `variants` stand for


_NO_TEMPLATE = _TemplateRefs()


def _template_refs(item: QueryInput) -> _TemplateRefs:
    text = item.raw_sql
    if "{{" not in text and "{%" not in text:
        return _NO_TEMPLATE
    if "{{" in text:
        # If expansion fails, so does rendering, and the failed status scans everything anyway.
        with contextlib.suppress(TemplateError):
            text = expand_definitions(text, item.definitions)
    dialect = dialect_for_adapter(item.adapter)
    defaults = (item.default_database, item.default_schema)
    branches = scan_identifiers(text, dialect, *defaults) if _CONTROL_FLOW.search(text) else ()
    if "{{" not in text:
        return _TemplateRefs(branches)
    return _TemplateRefs(branches, *_parameters(text, dialect, *defaults))


_CONTROL_FLOW = re.compile(r"\{%-?\s*(?:if|unless|case|for|tablerow)\b", re.IGNORECASE)
_TAG = r"\{\{-?\s*[A-Za-z_]\w*\s*-?\}\}"
_TAG_NAME = re.compile(r"\{\{-?\s*([A-Za-z_]\w*)\s*-?\}\}")
_TPART = rf'(?:"[^"\n]*"|`[^`\n]*`|\[[^\[\]\n]*\]|(?:[\w$]|{_TAG})+)'
_TEMPLATED_NAME = re.compile(
    rf"\b(?P<word>FROM|JOIN|USING|INTO|UPDATE|TABLE)\s+(?P<chain>{_TPART}(?:\s*\.\s*{_TPART})*)",
    re.IGNORECASE,
)
_LIQUID_SET = re.compile(
    r"\{%-?\s*(?:assign|capture|for|increment|decrement)\s+([A-Za-z_]\w*)", re.IGNORECASE
)
MAX_VARIANTS = 256  # value combinations tried per templated name


def _parameters(
    text: str, dialect: str, default_database: str | None, default_schema: str | None
) -> tuple[tuple[TableRef, ...], tuple[TableRef, ...], tuple[TableRef, ...], frozenset[str]]:
    """Table names holding Liquid parameters (`{{ chain }}.transactions`, `orders_{{ region }}`),
    each with every value its form allows; a parameter without known values stays a placeholder,
    matched as a pattern by the caller and called ambiguous."""
    reads: dict[str, TableRef] = {}
    writes: dict[str, TableRef] = {}
    unknown: dict[str, TableRef] = {}
    covered: set[str] = set()
    known = form_values(text)
    set_by_liquid = {m.group(1) for m in _LIQUID_SET.finditer(text)}
    defaults: dict[str, object] | None = None
    for match in _TEMPLATED_NAME.finditer(text):
        chain = match.group("chain")
        if "{{" not in chain:
            continue
        names = list(dict.fromkeys(_TAG_NAME.findall(chain)))
        if set_by_liquid & set(names):
            continue  # Liquid itself gives it a value: the rendered SQL names the table
        choices = []
        for name in names:
            values, closed = known.get(name, ((), False))
            choices.append(values if closed else (*values, PLACEHOLDER))
        written = match.group("word").upper() in ("INTO", "UPDATE", "TABLE")
        for count, combination in enumerate(itertools.product(*choices)):
            if count >= MAX_VARIANTS:
                break
            value = dict(zip(names, combination, strict=True))
            ref = _qualified(_substitute(chain, value), dialect, default_database, default_schema)
            if ref is None:
                continue
            target = unknown if PLACEHOLDER in combination else writes if written else reads
            target.setdefault(ref.display, ref)
        if all(known.get(name, ((), False))[1] for name in names):
            # As the defaults render it: a parameter without a default is the placeholder there.
            defaults = defaults if defaults is not None else split_forms(text)[1]
            rendered = {n: (known[n][0][0] if n in defaults else PLACEHOLDER) for n in names}
            ref = _qualified(
                _substitute(chain, rendered),
                dialect,
                default_database,
                default_schema,
            )
            if ref is not None:
                covered.add(ref.display)
    return tuple(reads.values()), tuple(writes.values()), tuple(unknown.values()), frozenset(covered)


def _substitute(chain: str, values: dict[str, str]) -> str:
    return _TAG_NAME.sub(lambda m: values[m.group(1)], chain)


def _qualified(
    chain: str, dialect: str, default_database: str | None, default_schema: str | None
) -> TableRef | None:
    refs = scan_identifiers(chain, dialect, default_database, default_schema)
    return refs[0] if len(refs) == 1 else None


def _extract_all(jobs: list[Job], processes: int | None) -> list[Extraction]:
    workers = min(processes or os.cpu_count() or 1, max(1, len(jobs) // 64))
    if workers <= 1 or len(jobs) < PARALLEL_MIN_BATCH:
        return [extract_references(*job) for job in jobs]
    from concurrent.futures import ProcessPoolExecutor  # slow to import, seldom needed

    chunks = [jobs[start : start + CHUNK_JOBS] for start in range(0, len(jobs), CHUNK_JOBS)]
    results: list[list[Extraction] | None] = [None] * len(chunks)
    # This process is one of the workers: it parses, from the end, every chunk no other process
    # has started yet (a queued chunk it can cancel). Nothing waits on an idle core.
    with ProcessPoolExecutor(workers - 1) as pool:
        futures = [pool.submit(_extract_chunk, chunk) for chunk in chunks]
        for i in reversed(range(len(chunks))):
            if futures[i].cancel():
                results[i] = [extract_references(*job) for job in chunks[i]]
        for i, future in enumerate(futures):
            if results[i] is None:
                results[i] = [Extraction.from_json(data) for data in future.result()]
    return [extraction for chunk in results for extraction in chunk or ()]


def _extract_chunk(jobs: list[Job]) -> list[dict[str, Any]]:
    # JSON-shaped results: plain lists and strings pickle faster than dataclasses, and the
    # parent interns the table names it reads back.
    return [extract_references(*job).to_json() for job in jobs]


def _match(
    extraction: Extraction, index: RelationIndex | None, template: _TemplateRefs = _NO_TEMPLATE
) -> QueryLineage:
    nodes: set[str] = set()
    tables: set[str] = set()
    unresolved: set[str] = set()
    ambiguous: set[str] = set()
    ambiguous_tables: set[str] = set()
    written = {ref.parts for ref in extraction.writes}
    # Words that count only when a relation is known: other branches, a text scan's other names,
    # and the names a form parameter's other values give.
    for ref in (*template.branches, *extraction.mentions, *template.variants):
        if ref.parts in written:
            continue  # a name the query writes (INSERT INTO it in another branch) is not read
        found = _lookup(ref, index) if index is not None else ()
        nodes.update(found)
        tables.update([ref.display] if found else [])
    for ref in extraction.tables:
        if ref.templated and ref.display in template.covered:
            continue  # the parameter's values are known: `variants` hold them
        found = _lookup(ref, index) if index is not None else ()
        if ref.templated and (found or ref.display != PLACEHOLDER):
            ambiguous.update(found)
            ambiguous_tables.add(ref.display.replace(PLACEHOLDER, "*"))
            tables.add(ref.display)
            continue
        nodes.update(found)
        tables.add(ref.display)
        if not found and index is not None and extraction.status == PARSED:
            unresolved.add(ref.display)  # a text scan's names may be misread: not worth a report
    for ref in template.unknown:
        found = _lookup(ref, index) if index is not None else ()
        ambiguous.update(found)
        ambiguous_tables.add(ref.display.replace(PLACEHOLDER, "*"))
    ambiguous -= nodes
    written_nodes: set[str] = set()
    if index is not None:
        for ref in (*extraction.writes, *template.variant_writes):
            written_nodes.update(_lookup(ref, index))
    return QueryLineage(
        extraction.status,
        tuple(sorted(nodes | ambiguous)),
        tuple(sorted(tables)),
        tuple(sorted(unresolved)),
        extraction.error,
        tuple(sorted(ref.display for ref in extraction.writes)),
        tuple(sorted(written_nodes)),
        tuple(sorted(ambiguous)),
        tuple(sorted(ambiguous_tables)),
    )


def _lookup(ref: TableRef, index: RelationIndex) -> tuple[str, ...]:
    if not ref.templated:
        return index.lookup(*ref.parts)
    if ref.parts[2].casefold() == PLACEHOLDER:
        return ()  # a table named only by a parameter could be anything
    # A templated name (`{{ schema }}.orders`, `orders_{{ region }}`): every relation it may mean.
    pattern = r"\.".join(
        "[^.]*" if part is None else re.escape(part.casefold()).replace(PLACEHOLDER, "[^.]*")
        for part in ref.parts
    )
    return index.match(re.compile(pattern))
