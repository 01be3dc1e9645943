"""The plan: one document per run of what metapipeline decided and why, for dry and real runs alike.

`to_json` is stable (sorted keys, sorted lists) so two plans diff cleanly; `to_markdown` is what a
person reads in the Dagster UI or a pull request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from metapipeline.markdown import table
from metapipeline.platform.stale import ReportVerdict
from metapipeline.platform.unused import UnusedModels


@dataclass
class Plan:
    workspace: str
    as_of: str
    dry_run: bool
    stale_reports: list[dict[str, Any]] = field(default_factory=list)
    kept_reports: list[dict[str, Any]] = field(default_factory=list)
    lifecycle_refusal: str | None = None
    unused_models: list[dict[str, Any]] = field(default_factory=list)
    protected_models: dict[str, str] = field(default_factory=dict)
    package_models: dict[str, str] = field(default_factory=dict)  # unused, from installed packages
    unused_refusal: str | None = None
    exposure_changes: list[dict[str, Any]] = field(default_factory=list)
    lineage_reviews: list[dict[str, Any]] = field(default_factory=list)  # WorkspaceLineage.reviews()
    evidence: dict[str, Any] = field(default_factory=dict)  # what the decisions rest on

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def to_markdown(self) -> str:
        lines = [f"# metapipeline plan for {self.workspace} as of {self.as_of}", ""]
        if self.dry_run:
            lines += ["_Dry run: nothing was changed._", ""]
        lines += [f"## Stale Mode reports ({len(self.stale_reports)})", ""]
        if self.lifecycle_refusal:
            lines += [f"**Refused:** {self.lifecycle_refusal}", ""]
        lines += _lines(
            ["report", "name", "why"], [(r["token"], r["name"], r["reason"]) for r in self.stale_reports]
        )
        if self.kept_reports:
            lines += ["", "Kept although their numbers say stale:", ""]
            lines += _lines(
                ["report", "name", "why"], [(r["token"], r["name"], r["reason"]) for r in self.kept_reports]
            )
        lines += ["", f"## Unused dbt models ({len(self.unused_models)})", ""]
        if self.unused_refusal:
            lines += [f"**Refused:** {self.unused_refusal}", ""]
        lines += _lines(
            ["model", "owner", "last run", "run time", "why nothing consumes it"],
            [
                (
                    m["unique_id"],
                    m["owner"] or "",
                    (m.get("last_run_at") or "never")[:10],
                    f"{m['last_run_seconds']:.1f} s" if m.get("last_run_seconds") is not None else "",
                    m["why"],
                )
                for m in self.unused_models
            ],
        )
        if self.protected_models:
            lines += ["", "Unused but protected:", ""]
            lines += _lines(["model", "protection"], sorted(self.protected_models.items()))
        if self.package_models:
            lines += [
                "",
                "Unused models of installed packages (not proposed: their files are not the project's):",
                "",
            ]
            lines += _lines(["model", "what to do"], sorted(self.package_models.items()))
        lines += ["", f"## Exposure changes ({len(self.exposure_changes)})", ""]
        lines += _lines(
            ["exposure", "change", "report", "depends on"],
            [
                (c["exposure"], c["change"], c["label"] or "", ", ".join(c["depends_on"]))
                for c in self.exposure_changes
            ],
        )
        if self.lineage_reviews:
            lines += ["", f"## Queries to review ({len(self.lineage_reviews)})", ""]
            lines += _lines(
                ["query", "name", "what", "tables", "dbt nodes"],
                [
                    (r["query"], r["label"], r["kind"], ", ".join(r["tables"]), ", ".join(r["nodes"]))
                    for r in self.lineage_reviews
                ],
            )
        if self.evidence:
            lines += ["", "## Evidence", ""]
            lines += _lines(["", ""], sorted(self.evidence.items()))
        return "\n".join(lines) + "\n"


def build_plan(
    *,
    workspace: str,
    as_of: str,
    dry_run: bool,
    verdicts: Iterable[ReportVerdict],
    lifecycle_refusal: str | None,
    unused: UnusedModels,
    exposure_changes: list[dict[str, Any]] | None = None,
    lineage_reviews: list[dict[str, Any]] | None = None,
    evidence: dict[str, Any] | None = None,
    last_runs: Mapping[str, tuple[datetime, float]] | None = None,
) -> Plan:
    """`last_runs`: model -> (start, seconds) of its last successful dbt run, from the run history."""
    last_runs = last_runs or {}
    verdicts = sorted(verdicts, key=lambda v: v.token)
    return Plan(
        workspace=workspace,
        as_of=as_of,
        dry_run=dry_run,
        stale_reports=[_verdict(v) for v in verdicts if v.stale],
        kept_reports=[_verdict(v) for v in verdicts if not v.stale and v.reason],
        lifecycle_refusal=lifecycle_refusal,
        unused_models=[
            {
                "unique_id": m.unique_id,
                "name": m.name,
                "path": m.path,
                "owner": m.owner,
                "project": m.project,
                "why": m.why,
                "downstream": [asdict(d) for d in m.downstream],
                "last_run_at": last_runs[m.unique_id][0].isoformat() if m.unique_id in last_runs else None,
                "last_run_seconds": last_runs[m.unique_id][1] if m.unique_id in last_runs else None,
            }
            for m in sorted(unused.candidates, key=lambda m: m.unique_id)
        ],
        protected_models=dict(sorted(unused.protected.items())),
        package_models=dict(sorted(unused.package_models.items())),
        unused_refusal=unused.refusal,
        exposure_changes=sorted(exposure_changes or [], key=lambda c: c["exposure"]),
        lineage_reviews=list(lineage_reviews or []),
        evidence=dict(sorted((evidence or {}).items())),
    )


def _verdict(verdict: ReportVerdict) -> dict[str, Any]:
    return {"token": verdict.token, "name": verdict.name, "reason": verdict.reason}


def _lines(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    return table(headers, rows).splitlines()
