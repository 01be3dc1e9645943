"""The `lineage` graph: every Mode query and definition resolved to the dbt nodes it reads.

Queries are split into batches that fan out as dynamic outputs, so the multiprocess executor (or
Kubernetes/Celery) resolves them in parallel; the results are gathered into one `WorkspaceLineage`.
"""

from contextlib import closing
from typing import Any

from dagster import (
    Config,
    DynamicOut,
    DynamicOutput,
    MetadataValue,
    OpExecutionContext,
    Output,
    graph,
    op,
)
from pydantic import Field

from metapipeline.dbt.projects import DbtProject
from metapipeline.dbt.relations import RelationIndex, load_dbt_graph
from metapipeline.lineage.cache import ReferenceCache
from metapipeline.lineage.dialects import generic_sql_adapters
from metapipeline.lineage.workspace import (
    LineageItem,
    ResolvedItem,
    WorkspaceLineage,
    batches,
    resolve_items,
    workspace_items,
)
from metapipeline.markdown import table as markdown_table
from metapipeline.mode.snapshot import WorkspaceSnapshot
from metapipeline.orchestration.policies import kind
from metapipeline.orchestration.resources import ClockResource, LedgerResource

TABLE_ROWS = 50  # UI tables show the first rows; the run's plan artifact has everything


class LineageBatchConfig(Config):
    # 20,000 splits a workspace of 60,000 queries over three steps, and each step parses over
    # every core; much smaller batches pay a step's start-up (and a ledger read) many more times.
    batch_size: int = Field(20_000, description="Queries per parallel lineage step")


@op(tags=kind("sqlglot"), out=DynamicOut(list))
def lineage_batches(context: OpExecutionContext, config: LineageBatchConfig, snapshot: WorkspaceSnapshot):
    """Split the workspace's queries and definitions into batches resolved in parallel."""
    items = workspace_items(snapshot)
    chunks = batches(items, config.batch_size)
    context.log.info(f"{len(items)} queries and definitions in {len(chunks)} batch(es)")
    for adapter, count in generic_sql_adapters(snapshot.data_sources, snapshot.queries).items():
        context.log.warning(
            f"{count} queries parse as generic SQL: no SQL dialect for Mode adapter {adapter!r}"
        )
    for number, chunk in enumerate(chunks):
        yield DynamicOutput(chunk, mapping_key=f"batch_{number}")


@op(tags=kind("dbt"))
def relation_index(context: OpExecutionContext, projects: list[DbtProject]) -> Output[RelationIndex]:
    """Warehouse relation -> dbt nodes of every project, built once for every batch (a batch then
    loads this small index instead of the whole manifests)."""
    index = load_dbt_graph(projects).relation_index()
    context.log.info(f"{len(index)} relations dbt builds")
    return Output(index, metadata={"relations": len(index)})


@op(tags=kind("sqlglot"))
def resolve_lineage_batch(
    context: OpExecutionContext,
    batch: list[LineageItem],
    index: RelationIndex,
    ledger: LedgerResource,
    clock: ClockResource,
) -> Output[list[ResolvedItem]]:
    """Render each query's templates, parse it with sqlglot and match its tables to dbt relations.

    Parses are cached in the ledger by query text (before rendering) and by rendered SQL, with
    dialect and defaults: a daily run renders only the queries edited since the day before, and
    parses only those whose SQL changed."""
    with closing(ledger.open()) as store:
        cache = ReferenceCache(loader=store.load_reference_cache)  # only the keys this batch asks for
        resolved = resolve_items(batch, index, cache=cache)
        store.save_reference_cache(cache.new_entries, cache.used_keys, clock.now())
    context.log.info(f"resolved {len(resolved)} queries: {cache.misses} parsed, {cache.hits} from the cache")
    return Output(
        resolved,
        metadata={"queries": len(resolved), "parsed": cache.misses, "from the cache": cache.hits},
    )


@op(tags=kind("sqlglot"))
def gather_lineage(
    context: OpExecutionContext, batches: list[list[ResolvedItem]]
) -> Output[WorkspaceLineage]:
    """One lineage for the workspace; counts by status, unresolved tables and failures in the UI."""
    lineage = WorkspaceLineage.gather(item for batch in batches for item in batch)
    counts = lineage.status_counts()
    failed = lineage.failed()
    unresolved = lineage.unresolved()
    context.log.info(f"lineage: {counts}; {len(unresolved)} tables dbt does not build")
    reviews = lineage.reviews()
    for review in reviews:
        if review["kind"] == "writes a dbt relation":  # Mode should only read what dbt builds
            context.log.warning(
                f"query {review['label']} ({review['query']}) writes {', '.join(review['nodes'])}"
            )
    metadata_reviews = markdown_table(
        ["query", "what", "tables"],
        [(f"{r['label']} ({r['query']})", r["kind"], ", ".join(r["tables"])) for r in reviews[:TABLE_ROWS]],
    )
    for token, label, error in failed[:TABLE_ROWS]:
        context.log.warning(f"could not render {label} ({token}): {error}; matched known names in its text")
    metadata: dict[str, Any] = {status: MetadataValue.int(n) for status, n in counts.items()}
    metadata["definitions"] = MetadataValue.int(len(lineage.definitions))
    metadata["queries to review"] = MetadataValue.md(metadata_reviews)
    metadata["unresolved tables"] = MetadataValue.int(len(unresolved))
    metadata["unresolved references"] = MetadataValue.md(
        markdown_table(
            ["table", "queries reading it"],
            [(table, ", ".join(tokens)) for table, tokens in list(unresolved.items())[:TABLE_ROWS]],
        )
    )
    metadata["failed queries"] = MetadataValue.md(
        markdown_table(["token", "query", "error"], failed[:TABLE_ROWS])
    )
    return Output(lineage, metadata=metadata)


@graph(
    description="Resolve every Mode query's SQL (templates, dialects, definitions) to the dbt nodes it reads."
)
def lineage(snapshot: WorkspaceSnapshot, projects: list[DbtProject]) -> WorkspaceLineage:
    index = relation_index(projects)
    resolved = lineage_batches(snapshot).map(lambda batch: resolve_lineage_batch(batch, index))
    return gather_lineage(resolved.collect())
