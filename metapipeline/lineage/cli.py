"""`metapipeline refs`: JSON lines in, one JSON line out per input line, in the same order."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from metapipeline.lineage.cache import ReferenceCache
from metapipeline.lineage.resolve import QueryInput, resolve_query

if TYPE_CHECKING:
    from metapipeline.dbt.relations import RelationIndex


def run_refs(stdin: TextIO, stdout: TextIO, manifests: Sequence[Path] = ()) -> int:
    try:
        index = _index(manifests) if manifests else None
    except (OSError, ValueError) as exc:
        print(f"metapipeline refs: {exc}", file=sys.stderr)
        return 2
    cache = ReferenceCache()
    if isinstance(stdin, io.TextIOWrapper):  # bytes that are not UTF-8 must not end the whole run
        stdin.reconfigure(errors="replace")
    for line in stdin:
        if line.strip():
            stdout.write(json.dumps(_answer(line, index, cache)) + "\n")
            stdout.flush()  # a caller may wait for each answer before sending the next line
    return 0


def _index(manifests: Sequence[Path]) -> RelationIndex:
    from metapipeline.dbt.manifest import read_manifests  # only with manifests: it is slow to import
    from metapipeline.dbt.relations import load_dbt_graph

    return load_dbt_graph(read_manifests(manifests)).relation_index()


def _answer(line: str, index: RelationIndex | None, cache: ReferenceCache) -> dict[str, Any]:
    try:
        item = _parse_line(line)
    except ValueError as exc:
        return {"error": str(exc)}
    lineage = resolve_query(
        item.raw_sql,
        adapter=item.adapter,
        default_database=item.default_database,
        default_schema=item.default_schema,
        index=index,
        cache=cache,
    )
    answer: dict[str, Any] = {
        "tables": list(lineage.tables),
        "writes": list(lineage.writes),
        "status": lineage.status,
    }
    if index is not None:
        answer["nodes"] = list(lineage.nodes)
        answer["unresolved"] = list(lineage.unresolved)
        answer["written_nodes"] = list(lineage.written_nodes)
    if lineage.error:
        answer["error"] = lineage.error
    return answer


def _parse_line(line: str) -> QueryInput:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    except RecursionError:
        raise ValueError("not JSON this reader accepts: nested too deeply") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("sql"), str):
        raise ValueError('expected an object with a string "sql"')
    optional = ("dialect", "default_database", "default_schema")
    bad = [key for key in optional if obj.get(key) is not None and not isinstance(obj[key], str)]
    if bad:
        raise ValueError(f"{', '.join(bad)} must be strings")
    return QueryInput(
        obj["sql"], {}, obj.get("dialect"), obj.get("default_database"), obj.get("default_schema")
    )
