"""Table references per second: metapipeline's lineage beside plain sqlglot and sqllineage.

Queries: TPC-H (22) and TPC-DS (99) as sqlglot's fixtures hold them, plus the sample Mode
workspace's queries (Liquid, definitions, Snowflake/BigQuery/PostgreSQL). Cold = an empty cache
(render, parse, resolve); warm = the same queries again, every parse a cache hit. Plain sqlglot =
`parse_one` + `find_all(exp.Table)` on the already-rendered SQL. Targets: cold >= 1.0x plain
sqlglot; warm >= 20x cold; `metapipeline refs` answers its first line within 1 s of starting;
`resolve_many` fanned out over every core faster than in one process (on 20 distinct copies of
each query).

One-process figures are CPU time of this process (the machine may be shared; they use one core),
the passes taken in turns and summed (the best single pass in brackets); each pass starts with no
garbage left over and ends by collecting its own, so no side pays for another's.
The fan-out is wall time, the best of a few runs in turns, with the cores it got: the kernel
shares CPU time between sessions, not processes, so on a busy machine a second process may get
no more than the first had alone: the last line says how much more work one spinning process
per core gets done than one alone, measured just after.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import sqlglot
from sqlglot import exp

from metapipeline.dbt.manifest import read_manifests
from metapipeline.dbt.relations import RelationIndex, load_dbt_graph
from metapipeline.lineage.cache import ReferenceCache
from metapipeline.lineage.dialects import data_source_defaults
from metapipeline.lineage.references import qualify_name
from metapipeline.lineage.resolve import QueryInput, resolve_many, resolve_query
from metapipeline.lineage.templates import TemplateError, form_block_fields, render
from metapipeline.mode.models import DataSource
from metapipeline.sandbox.sample import materialize_workspace

# The test corpora, kept in the repository with their provenance and license.
CORPORA = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "corpora"
TARGET_COLD_VS_SQLGLOT = 1.0
TARGET_PROCESSES_VS_ONE = 1.0  # above it: the fan-out must be faster than one process
TARGET_WARM_VS_COLD = 20.0
TARGET_FIRST_ANSWER_SECONDS = 1.0
_TPC_HEADER = re.compile(r"^-{10,}\n-- TPC-(?:H|DS) \d+\n-{10,}\n", re.MULTILINE)


def tpc_queries(path: Path) -> list[QueryInput]:
    """The input query of each fixture block, without the fixture's `# option` lines (the optimized
    output that follows the query is skipped)."""
    text = re.sub(r"^# .*\n", "", path.read_text(), flags=re.MULTILINE)
    return [QueryInput(block.split(";\n", 1)[0]) for block in _TPC_HEADER.split(text) if block.strip()]


def sample_queries() -> list[QueryInput]:
    workspace = materialize_workspace()
    sources = {obj["id"]: DataSource.from_api(obj) for obj in workspace["data_sources"]}
    definitions = {d["name"]: d["source"] for d in workspace["definitions"]}
    return [
        QueryInput(q["raw_query"], definitions, *data_source_defaults(sources[q["data_source_id"]]))
        for report in workspace["reports"]
        for q in report["queries"]
    ]


def _cpu_rates(
    runs: dict[str, tuple[Callable[[], object], int]], rounds: int
) -> dict[str, tuple[float, float]]:
    """Queries per CPU-second of each run (its callable and query count), over `rounds` rounds in
    turns: (over all the passes, over the best one)."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, (run, _count) in runs.items():
            # No garbage left over from the pass before, and what lives now is frozen: the collection
            # that ends the pass walks only what the pass itself created, so each pays for its own.
            gc.collect()
            gc.freeze()
            started = time.process_time()
            run()
            gc.collect()
            seconds[name].append(time.process_time() - started)
            gc.unfreeze()
    return {
        name: (count * rounds / sum(seconds[name]), count / min(seconds[name]))
        for name, (_run, count) in runs.items()
    }


def _spin(seconds: float) -> int:
    """Loop iterations in `seconds` of wall time: pure CPU, nothing shared."""
    deadline, count = time.perf_counter() + seconds, 0
    while time.perf_counter() < deadline:
        count += 1
    return count


def _parallel_capacity(processes: int, seconds: float = 1.0) -> float:
    """How much more `processes` spinning processes get done than this one alone, now: the most
    a fan-out could gain (below `processes` when other sessions keep the cores busy)."""
    from concurrent.futures import ProcessPoolExecutor

    alone = _spin(seconds)
    with ProcessPoolExecutor(processes) as pool:
        return sum(pool.map(_spin, [seconds] * processes)) / alone


def _cpu_with_children() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _plain_sqlglot(rendered: Sequence[tuple[str, str]]) -> None:
    for sql, dialect in rendered:
        # The unparseable sample query and the multi-statement one cost their attempt.
        with contextlib.suppress(sqlglot.errors.SqlglotError):
            list(sqlglot.parse_one(sql, read=dialect or None).find_all(exp.Table))


def _ours(queries: Sequence[QueryInput], index: RelationIndex | None, cache: ReferenceCache) -> None:
    for q in queries:
        resolve_query(
            q.raw_sql,
            definitions=q.definitions,
            adapter=q.adapter,
            default_database=q.default_database,
            default_schema=q.default_schema,
            index=index,
            cache=cache,
        )


def _sqllineage(rendered: Sequence[tuple[str, str]]) -> int:
    from sqllineage.runner import LineageRunner

    failures = 0
    for sql, dialect in rendered:
        try:
            LineageRunner(sql, dialect=dialect or "ansi").source_tables  # noqa: B018 (evaluates lazily)
        except Exception:
            failures += 1
    return failures


def _first_answer_seconds(*options: str) -> float:
    """Wall time from starting `metapipeline refs` (no run kept: no manifest unless given) to its
    first answer."""
    command = [sys.executable, "-m", "metapipeline.cli", "refs", *options]
    with tempfile.TemporaryDirectory() as home:
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "DAGSTER_HOME": home},
        )
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps({"sql": "SELECT * FROM marts.orders"}) + "\n")
        process.stdin.flush()
        answer = process.stdout.readline()
        seconds = time.perf_counter() - started
        process.stdin.close()
        process.wait()
    if not answer:
        raise RuntimeError(f"{' '.join(command)} gave no answer")
    return seconds


def _verdict(ratio: float, target: float) -> str:
    return f"{ratio:.2f}x, {'meets' if ratio >= target else 'MISSES'} {target:g}x"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=10, help="one-process passes of each kind, in turns")
    parser.add_argument(
        "--fan-out-runs", type=int, default=3, help="resolve_many runs of each kind, in turns"
    )
    parser.add_argument(
        "--manifest",
        action="append",
        type=Path,
        help="dbt manifest(s) to resolve against (default: the Tuva manifest, 821 relations)",
    )
    parser.add_argument("--sqllineage-queries", type=int, default=30, help="sqllineage is slow: a sample")
    args = parser.parse_args(argv)

    queries = [
        *tpc_queries(CORPORA / "sqlglot" / "tpc-h.sql"),
        *tpc_queries(CORPORA / "sqlglot" / "tpc-ds.sql"),
        *sample_queries(),
    ]
    manifests = args.manifest or [CORPORA / "dbt_manifests" / "tuva_manifest.json.gz"]
    graph = load_dbt_graph(read_manifests(manifests))
    index = graph.relation_index()
    rendered = []
    for q in queries:
        try:
            rendered.append((render(q.raw_sql, q.definitions), q.adapter or ""))
        except TemplateError:
            continue
    statuses = [r.status for r in resolve_many(queries, index=index, processes=1)]
    print(
        f"queries: {len(queries)} (TPC-H, TPC-DS, sample Mode workspace); "
        f"{statuses.count('parsed')} parsed, {statuses.count('fallback')} fallback, "
        f"{statuses.count('failed')} failed; index: {len(index)} relations"
    )

    n = len(queries)
    # Cold means nothing remembered: no cache, a new index (its lookup memo empty), no name or form memo.
    fresh_indexes = iter([graph.relation_index() for _ in range(args.repeat)])

    def cold_pass() -> None:
        qualify_name.cache_clear()
        form_block_fields.cache_clear()
        _ours(queries, next(fresh_indexes), ReferenceCache())

    warm_cache = ReferenceCache()
    _ours(queries, index, warm_cache)
    rates = _cpu_rates(
        {
            "plain": (lambda: _plain_sqlglot(rendered), len(rendered)),
            "cold": (cold_pass, n),
            "warm": (lambda: _ours(queries, index, warm_cache), n),
        },
        args.repeat,
    )
    (plain, plain_best), (cold, cold_best), (warm, warm_best) = rates["plain"], rates["cold"], rates["warm"]
    print(f"plain sqlglot parse_one + find_all(Table): {plain:9.0f} queries/s ({plain_best:.0f} best pass)")
    print(
        f"metapipeline cold (render, parse, resolve): {cold:9.0f} queries/s -> "
        f"{_verdict(cold / plain, TARGET_COLD_VS_SQLGLOT)} plain sqlglot ({cold_best / plain_best:.2f}x best pass)"
    )
    print(
        f"metapipeline warm (cache hits):             {warm:9.0f} queries/s -> "
        f"{_verdict(warm / cold, TARGET_WARM_VS_COLD)} cold ({warm_best / cold_best:.2f}x best pass)"
    )

    step = max(1, len(rendered) // max(1, args.sqllineage_queries))
    subset = rendered[::step][: args.sqllineage_queries]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        failures = _sqllineage(subset)
        lineage_rate = len(subset) / (time.perf_counter() - started)
    print(
        f"sqllineage LineageRunner.source_tables:     {lineage_rate:9.1f} queries/s "
        f"({len(subset)} queries, {failures} failed) -> metapipeline cold is {cold / lineage_rate:.0f}x faster"
    )

    plain_start = max(_first_answer_seconds() for _ in range(3))
    manifest_options = [option for m in manifests for option in ("--manifest", str(m))]
    manifest_start = max(_first_answer_seconds(*manifest_options) for _ in range(3))
    verdict = "meets" if plain_start <= TARGET_FIRST_ANSWER_SECONDS else "MISSES"
    print(
        f"metapipeline refs, first answer:    {plain_start:9.2f} s (worst of 3) -> {verdict} "
        f"{TARGET_FIRST_ANSWER_SECONDS:g} s; with --manifest: {manifest_start:.2f} s"
    )

    cores = os.cpu_count() or 1
    # Distinct texts (a trailing comment each), so the cache cannot answer for the copies.
    batch = [replace(q, raw_sql=f"{q.raw_sql}\n-- copy {i}") for i in range(20) for q in queries]
    wall: dict[int, float] = {}
    used: dict[int, float] = {}  # cores the best run got: CPU time (with the workers') over wall time
    for _ in range(args.fan_out_runs):
        for processes in (1, cores):
            started, cpu = time.perf_counter(), _cpu_with_children()
            resolve_many(batch, index=index, processes=processes)
            seconds = time.perf_counter() - started
            if seconds < wall.get(processes, float("inf")):
                wall[processes], used[processes] = seconds, (_cpu_with_children() - cpu) / seconds
    one, fanned = len(batch) / wall[1], len(batch) / wall[cores]
    capacity = _parallel_capacity(cores)
    print(
        f"resolve_many in 1 process:          {one:9.0f} queries/s ({len(batch)} distinct queries; "
        f"best of {args.fan_out_runs}, wall time; {used[1]:.2f} cores used)\n"
        f"resolve_many over {cores} processes:      {fanned:9.0f} queries/s -> "
        f"{_verdict(fanned / one, TARGET_PROCESSES_VS_ONE)} one process ({used[cores]:.2f} cores used)\n"
        f"{cores} spinning processes beside 1, just after: {capacity:.2f}x the work (what this machine allows now)"
    )


if __name__ == "__main__":
    main()
