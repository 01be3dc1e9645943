"""A short human summary of a run's inputs and decisions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from metapipeline.actions.mode_lifecycle import LifecycleOutcome
from metapipeline.dbt.manifest import count_resources
from metapipeline.dbt.projects import DbtProject
from metapipeline.mode.snapshot import WorkspaceSnapshot


def platform_summary(
    snapshot: WorkspaceSnapshot, projects: Sequence[DbtProject], lifecycle: LifecycleOutcome
) -> dict[str, Any]:
    mode_counts = snapshot.counts()
    dbt_counts: Counter[str] = Counter()
    for project in projects:
        dbt_counts.update(count_resources(project.manifest))
    summary: dict[str, Any] = {
        "mode workspace": snapshot.workspace,
        "mode snapshot complete": snapshot.complete,
        "spaces": mode_counts["spaces"],
        "reports": mode_counts["reports"],
        # Two different counts: what the snapshot found archived, and what this run archived.
        "reports archived before this run": mode_counts["archived_reports"],
        "queries": mode_counts["queries"],
        "definitions": mode_counts["definitions"],
        "mode requests": snapshot.requests_sent,
        "reports reused from the last run": snapshot.reports_reused,
        "reports archived by this run": lifecycle.count("archive"),
        "reports deleted by this run": lifecycle.count("delete"),
        "dbt projects": ", ".join(project.name for project in projects),
        "dbt models": dbt_counts.get("model", 0),
        "dbt sources": dbt_counts.get("source", 0),
        "dbt seeds": dbt_counts.get("seed", 0),
        "dbt snapshots": dbt_counts.get("snapshot", 0),
        "dbt exposures": dbt_counts.get("exposure", 0),
    }
    if lifecycle.dry_run:
        summary["mode dry run"] = (
            "Mode untouched: the reports counted as archived or deleted by this run would be"
        )
    return summary
