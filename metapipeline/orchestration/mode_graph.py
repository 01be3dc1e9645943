"""The `mode` graph: snapshot the workspace, judge its reports, archive and delete stale ones."""

from contextlib import closing
from datetime import timedelta
from typing import Any

from dagster import (
    AssetObservation,
    Config,
    GraphOut,
    MetadataValue,
    OpExecutionContext,
    Out,
    Output,
    graph,
    op,
)
from pydantic import Field

from metapipeline.actions.mode_lifecycle import (
    LifecycleOutcome,
    LifecycleSettings,
    apply_plan,
    plan_lifecycle,
    read_archived_by_us,
)
from metapipeline.dbt.manifest import mode_reports_behind_exposures
from metapipeline.dbt.projects import DbtProject
from metapipeline.markdown import table as markdown_table
from metapipeline.mode.snapshot import WorkspaceSnapshot, take_snapshot
from metapipeline.mode.snapshot_file import write_snapshot
from metapipeline.orchestration.artifacts import run_file
from metapipeline.orchestration.mode_assets import mode_asset_key
from metapipeline.orchestration.policies import SERVICE_RETRY, kind
from metapipeline.orchestration.resources import ClockResource, LedgerResource, ModeResource
from metapipeline.platform.stale import ReportVerdict, StalePolicy, judge_reports
from metapipeline.run_files import SNAPSHOT

CREATOR_REFRESH = timedelta(days=7)  # how long a report owner's name and email are trusted


class SnapshotConfig(Config):
    skip_spaces: list[str] = Field(
        default_factory=list,
        description="Space tokens or names not to read (e.g. ones the token gets 403 on). Accepting "
        "the gap lets destructive steps run: models only reports there read may be proposed.",
    )


@op(tags=kind("mode"), out=Out(WorkspaceSnapshot), retry_policy=SERVICE_RETRY)
def mode_snapshot(
    context: OpExecutionContext,
    config: SnapshotConfig,
    mode: ModeResource,
    ledger: LedgerResource,
    clock: ClockResource,
) -> Output:
    """Read the Mode workspace; queries only for reports and Datasets new or changed since the last
    run, and report owners only when not read in the last week."""
    client = mode.client()
    now = clock.now()
    with closing(ledger.open()) as store:
        cached = store.cached_reports(client.workspace)
        known = store.cached_creators(client.workspace, read_since=now - CREATOR_REFRESH)
        snapshot = take_snapshot(
            client,
            cached=cached,
            known_creators=known,
            skip_spaces=config.skip_spaces,
            progress=context.log.info,
        )
        store.store_reports(client.workspace, snapshot.cache_entries(stored=cached))
        store.store_creators(client.workspace, (snapshot.creators[u] for u in snapshot.creators_read), now)
        if snapshot.complete:
            kept = {r.token for r in (*snapshot.reports, *snapshot.datasets)}
            store.forget_reports(client.workspace, set(cached) - kept)
    for problem in snapshot.failures:
        context.log.warning(f"could not read {problem.what}: {problem.error}")
    if snapshot.skipped_spaces:
        context.log.warning(f"skipped (skip_spaces): {', '.join(snapshot.skipped_spaces)}")
    saved = write_snapshot(snapshot, run_file(context, SNAPSHOT))
    metadata: dict[str, Any] = {name: MetadataValue.int(value) for name, value in snapshot.counts().items()}
    metadata["complete"] = MetadataValue.bool(snapshot.complete)
    metadata["snapshot file"] = MetadataValue.path(str(saved))  # `metapipeline plan --snapshot` reads it
    metadata["requests"] = MetadataValue.int(snapshot.requests_sent)
    if snapshot.skipped_spaces:
        metadata["skipped spaces"] = MetadataValue.text(", ".join(snapshot.skipped_spaces))
    if snapshot.failures:
        rows = [(p.what, p.error) for p in snapshot.failures]
        metadata["failures"] = MetadataValue.md(markdown_table(["what", "error"], rows))
    return Output(snapshot, metadata=metadata)


class StalePolicyConfig(Config):
    no_run_days: int = Field(100, description="Stale after more than this many days without a run")
    low_usage_runs: int = Field(5, description="Low usage: fewer runs than this...")
    low_usage_views: int = Field(5, description="...and fewer views than this...")
    low_usage_min_age_days: int = Field(60, description="...and created more than this many days ago")
    keep_scheduled: bool = Field(True, description="Never call a scheduled report stale")
    protected_spaces: list[str] = Field(
        default_factory=list, description="Space tokens or names never touched"
    )
    allow_list: list[str] = Field(default_factory=list, description="Report tokens never touched")

    def policy(self) -> StalePolicy:
        values = self.model_dump()
        return StalePolicy(
            **values
            | {"protected_spaces": tuple(self.protected_spaces), "allow_list": tuple(self.allow_list)}
        )


@op(tags=kind("mode"))
def stale_reports(
    context: OpExecutionContext,
    config: StalePolicyConfig,
    clock: ClockResource,
    snapshot: WorkspaceSnapshot,
    projects: list[DbtProject],
) -> Output[list[ReportVerdict]]:
    """Judge every active report against the stale policy; explain each stale or kept one."""
    verdicts = judge_reports(
        snapshot.reports,
        config.policy(),
        clock.now(),
        datasets=snapshot.datasets,
        space_names={s.token: s.name for s in snapshot.spaces},
        exposure_backed=mode_reports_behind_exposures(*(project.manifest for project in projects)),
    )
    stale = [v for v in verdicts if v.stale]
    kept = [v for v in verdicts if not v.stale and v.reason]
    context.log.info(f"{len(stale)} stale reports, {len(kept)} kept despite their numbers")
    rows = [(v.token, v.name, "stale" if v.stale else "kept", v.reason) for v in [*stale, *kept]]
    return Output(
        verdicts,
        metadata={
            "stale": MetadataValue.int(len(stale)),
            "kept": MetadataValue.int(len(kept)),
            "judged": MetadataValue.int(len(verdicts)),
            "candidates": MetadataValue.md(markdown_table(["report", "name", "verdict", "why"], rows)),
        },
    )


class LifecycleConfig(Config):
    dry_run: bool = Field(False, description="Plan and record, but change nothing in Mode")
    grace_days: int = Field(30, description="Delete a report archived by metapipeline after this many days")
    max_share: float = Field(
        0.2, description="Refuse to archive more than this share of active reports at once"
    )
    max_actions: int = Field(500, description="Refuse more archives plus deletes than this in one run")


@op(tags=kind("mode"), retry_policy=SERVICE_RETRY)
def mode_lifecycle(
    context: OpExecutionContext,
    config: LifecycleConfig,
    mode: ModeResource,
    ledger: LedgerResource,
    clock: ClockResource,
    snapshot: WorkspaceSnapshot,
    verdicts: list[ReportVerdict],
) -> Output[LifecycleOutcome]:
    """Archive stale reports; delete the ones metapipeline archived once the grace period is over."""
    settings = LifecycleSettings(**config.model_dump())
    client = mode.client()
    now = clock.now()
    with closing(ledger.open()) as store:
        history = store.lifecycle_history(client.workspace)
        # Read back each report we archived: listings may leave archived reports out.
        reads = read_archived_by_us(client, history)
        plan = plan_lifecycle(snapshot, verdicts, history, settings, now, reads)
        if plan.refusal:
            context.log.warning(f"Refusing to archive or delete: {plan.refusal}")
        outcome = apply_plan(
            plan,
            client,
            store,
            run_id=context.run_id,
            now=now,
            dry_run=settings.dry_run,
            progress=context.log.info,
        )
    for step, error in outcome.failed:
        context.log.warning(f"{step.action} of {step.report_token} failed: {error}")
    for action in outcome.done:
        if not action.dry_run:  # what happened to the report, on its asset in the catalog
            context.log_event(
                AssetObservation(
                    asset_key=mode_asset_key(action.workspace, action.report_token),
                    metadata={"mode/action": action.action, "reason": action.reason},
                )
            )
    rows = [(a.action, a.report_token, a.report_name, a.reason) for a in outcome.done]
    rows += [(f"{s.action} (waiting)", s.report_token, s.report_name, s.reason) for s in plan.waiting]
    rows += [("spared", s.report_token, s.report_name, s.reason) for s in plan.spared]
    metadata: dict[str, Any] = {
        kind: MetadataValue.int(outcome.count(kind)) for kind in ("archive", "delete", "restored", "gone")
    }
    metadata |= {
        "waiting for grace period": MetadataValue.int(len(plan.waiting)),
        "spared (restored by people)": MetadataValue.int(len(plan.spared)),
        "failed": MetadataValue.int(len(outcome.failed)),
        "dry run": MetadataValue.bool(settings.dry_run),
        "refusal": MetadataValue.text(plan.refusal or "none"),
        "actions": MetadataValue.md(markdown_table(["action", "report", "name", "why"], rows)),
    }
    return Output(outcome, metadata=metadata)


@graph(
    description="Pull the Mode workspace, judge its reports, archive stale ones and delete them after a grace period.",
    out={"snapshot": GraphOut(), "verdicts": GraphOut(), "lifecycle": GraphOut()},
)
def mode(projects: list[DbtProject]) -> Any:  # a namedtuple of the outputs
    snapshot = mode_snapshot()
    verdicts = stale_reports(snapshot, projects)
    return {"snapshot": snapshot, "verdicts": verdicts, "lifecycle": mode_lifecycle(snapshot, verdicts)}
