"""The `warehouse` graph: who read which relation straight from the warehouse (its access history)."""

from contextlib import closing
from typing import Any

from dagster import Config, MetadataValue, OpExecutionContext, Output, graph, op
from pydantic import Field

from metapipeline.dbt.projects import DbtProject
from metapipeline.dbt.relations import dialect_for_dbt_adapter
from metapipeline.markdown import table as markdown_table
from metapipeline.orchestration.artifacts import run_file
from metapipeline.orchestration.policies import kind
from metapipeline.orchestration.resources import ClockResource, LedgerResource, WarehouseResource
from metapipeline.run_files import WAREHOUSE_USAGE
from metapipeline.warehouse.sources import describe, read_usage_source
from metapipeline.warehouse.usage import UsageSettings, WarehouseUsage, write_usage

TOP_READERS = 20


class UsageConfig(Config):
    window_days: int = Field(90, description="How far back reads count")
    min_reads: int = Field(
        1, description="Fewer reads of a relation by a reader in the window: not a consumer"
    )
    exclude_users: list[str] = Field(
        default_factory=list, description="Users whose reads are not usage (dbt's own, metapipeline's); globs"
    )
    exclude_roles: list[str] = Field(
        default_factory=list, description="Roles whose reads are not usage; globs"
    )
    exclude_query_tags: list[str] = Field(
        default_factory=lambda: list(UsageSettings().exclude_query_tags),
        description="Query tags whose reads are not usage (dbt sets its own); globs",
    )

    def settings(self) -> UsageSettings:
        return UsageSettings(
            window_days=self.window_days,
            min_reads=self.min_reads,
            exclude_users=tuple(self.exclude_users),
            exclude_roles=tuple(self.exclude_roles),
            exclude_query_tags=tuple(self.exclude_query_tags),
        )


@op(tags=kind("warehouse"))
def warehouse_usage(
    context: OpExecutionContext,
    config: UsageConfig,
    warehouse: WarehouseResource,
    ledger: LedgerResource,
    clock: ClockResource,
    projects: list[DbtProject],
) -> Output[WarehouseUsage | None]:
    """Read the warehouse's access history over the window, when a usage source is configured.

    A source that fails, or whose history does not reach back over the window, makes the evidence
    incomplete: the run then proposes no model for removal, and says why."""
    spec = warehouse.source_spec()
    if spec is None:
        context.log.info("no warehouse usage source configured: direct readers are not seen")
        return Output(None, metadata={"source": MetadataValue.text("not configured")})
    # Names in a reads file or a query text are read as the (first) project's warehouse spells them.
    dialect = dialect_for_dbt_adapter(projects[0].adapter_type) if projects else ""
    # The ledger keeps what a source needs between runs (pg_stat_statements' counts, to difference).
    with closing(ledger.open()) as store:
        usage = read_usage_source(spec, config.settings(), clock.now(), dialect=dialect, history=store)
    write_usage(usage, run_file(context, WAREHOUSE_USAGE))
    readers = sorted(usage.readers().items(), key=lambda item: -item[1][0])
    incomplete = usage.incomplete_because()
    if incomplete:
        context.log.warning(f"warehouse usage incomplete: {incomplete}")
    context.log.info(
        f"warehouse usage from {describe(spec)}: {len(usage.usages)} relation reads by {len(readers)} readers, "
        f"{usage.excluded_reads} reads left out"
    )
    rows = [(reader, tool or "", str(reads), f"{last:%Y-%m-%d}") for reader, (reads, last, tool) in readers]
    metadata: dict[str, Any] = {
        "source": MetadataValue.text(describe(spec)),
        "window": MetadataValue.text(f"{usage.window_start:%Y-%m-%d} to {usage.window_end:%Y-%m-%d}"),
        "history from": MetadataValue.text(
            f"{usage.history_from:%Y-%m-%d}" if usage.history_from else "none"
        ),
        "complete": MetadataValue.bool(incomplete is None),
        "incomplete because": MetadataValue.text(incomplete or "-"),
        "readers": MetadataValue.int(len(readers)),
        "reads left out": MetadataValue.int(usage.excluded_reads),
        "top readers": MetadataValue.md(
            markdown_table(["reader", "tool", "reads", "last read"], rows[:TOP_READERS])
        ),
    }
    return Output(usage, metadata=metadata)


@graph(description="Read who read which relation straight from the warehouse (when a usage source is set).")
def warehouse(projects: list[DbtProject]) -> WarehouseUsage | None:
    return warehouse_usage(projects)
