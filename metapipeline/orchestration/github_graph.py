"""The `github` graph: pull requests that remove unused models and keep Mode exposures in sync.

Both read the dbt project from the repository's default branch (one tarball), plan their change as
pure data, and publish it idempotently: one branch and at most one open pull request per change.
"""

from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dagster import Config, GraphOut, MetadataValue, OpExecutionContext, Output, graph, op
from pydantic import Field

from metapipeline.actions import dbt_changes
from metapipeline.actions.dbt_changes import (
    ChangeSet,
    ModelRunInfo,
    ParseCache,
    RemovalError,
    plan_removal,
    removal_pr_text,
    safe_path,
)
from metapipeline.actions.exposures import (
    GENERATED_FILE,
    exposure_changes,
    exposures_pr_text,
    plan_exposures,
)
from metapipeline.actions.mode_lifecycle import LifecycleOutcome
from metapipeline.actions.pull_requests import (
    PublishResult,
    default_head,
    fetch_file,
    fetch_project,
    inputs_fingerprint,
    publish,
    unchanged_pull_request,
)
from metapipeline.lineage.workspace import WorkspaceLineage
from metapipeline.mode.snapshot import WorkspaceSnapshot
from metapipeline.orchestration.artifacts import run_artifacts
from metapipeline.orchestration.policies import SERVICE_RETRY, kind
from metapipeline.orchestration.resources import ClockResource, GitHubResource, LedgerResource
from metapipeline.platform.analysis import exposure_reports
from metapipeline.platform.unused import UnusedModels
from metapipeline.store import PublishedChange


@dataclass(frozen=True)
class PullRequestOutcome:
    kind: str  # "removal" or "exposures"
    action: str  # a PublishResult action, or "not_proposed"
    url: str | None
    files: int
    reason: str = ""


class PullRequestConfig(Config):
    dry_run: bool = Field(False, description="Write the would-be diff and body to the run's artifacts only")
    branch: str
    labels: list[str] = Field(default_factory=lambda: ["metapipeline"])
    respect_closed_days: int = Field(30, description="After a PR is closed unmerged, wait this long")


class RemovalPullRequestConfig(PullRequestConfig):
    branch: str = "metapipeline/remove-unused-models"
    labels: list[str] = Field(default_factory=lambda: ["metapipeline", "dbt-cleanup"])


class ExposuresPullRequestConfig(PullRequestConfig):
    branch: str = "metapipeline/mode-exposures"
    labels: list[str] = Field(default_factory=lambda: ["metapipeline", "exposures"])


@op(tags=kind("github"), retry_policy=SERVICE_RETRY)
def removal_pull_request(
    context: OpExecutionContext,
    config: RemovalPullRequestConfig,
    github: GitHubResource,
    ledger: LedgerResource,
    clock: ClockResource,
    manifest: dict,
    unused: UnusedModels,
) -> Output[PullRequestOutcome]:
    """Open (or update) the pull request that deletes the unused models' files and YAML entries.

    Planning reads the whole project; when the default branch's head, the manifest and the
    candidates are those the open pull request was planned from, it is left alone unread."""
    if unused.refusal or not unused.candidates:
        reason = unused.refusal or "no unused models"
        context.log.info(f"no removal pull request: {reason}")
        return _output(PullRequestOutcome("removal", "not_proposed", None, 0, reason))
    repo = github.repo()
    head = default_head(repo)
    # The plan reads only each candidate's id and path: their explanations change from day to day
    # (a report archived "in this run" is just archived the next day) without changing the plan.
    # Nor does it read the manifest's metadata beyond the project name (each parse stamps its time).
    removed = sorted((m.unique_id, m.path) for m in unused.candidates)
    project_name = (manifest.get("metadata") or {}).get("project_name")
    parsed = {key: value for key, value in manifest.items() if key != "metadata"}
    inputs = inputs_fingerprint(
        head, github.project_dir, project_name, parsed, removed, code=dbt_changes.MODULES
    )
    with closing(ledger.open()) as store:
        known = store.published_change(repo.full_name, config.branch)
    if not config.dry_run and known is not None and known.inputs == inputs:
        url = unchanged_pull_request(repo, config.branch, known.content_hash)
        if url is not None:
            context.log.info(f"removal pull request: unchanged {url} (planned from the same inputs)")
            reason = f"planned from the same project, manifest and candidates on {known.at:%Y-%m-%d}"
            return _output(PullRequestOutcome("removal", "unchanged", url, known.files, reason))
    project = fetch_project(repo, github.project_dir, ref=head)
    # Parses are pickles: they stay on this instance's disk, never in the shared ledger.
    parses = ParseCache(Path(context.instance.root_directory) / "cache" / "yaml_parses")
    try:
        change = plan_removal(
            project.files, manifest, unused.candidates, github.project_dir,
            symlinks=project.symlinks, parse_cache=parses,
        )  # fmt: skip
    except RemovalError as error:  # e.g. a properties file that does not load: nothing safe to propose
        context.log.error(f"removal not proposed: {error}")
        return _output(PullRequestOutcome("removal", "not_proposed", None, 0, str(error)))
    finally:
        parses.prune()
    for unique_id, why in change.dropped.items():
        context.log.info(f"not removed, something that stays references it: {unique_id} ({why})")
    context.log.info(
        f"YAML files: {parses.hits} parses reused, {parses.misses} parsed"
        + (f", {parses.unreadable} cached parses unreadable (parsed again)" if parses.unreadable else "")
        + (f", {parses.unsaved} not cached (disk)" if parses.unsaved else "")
    )
    with closing(ledger.open()) as store:
        last_runs = store.last_runs(m.unique_id for m in unused.candidates)
    run_info = {uid: ModelRunInfo(at, seconds) for uid, (at, seconds) in last_runs.items()}
    title, body = removal_pr_text(unused.candidates, run_info, manifest, change=change)
    result = publish(
        repo, change, branch=config.branch, title=title, body=body, labels=config.labels,
        dry_run=config.dry_run, respect_closed_days=config.respect_closed_days, now=clock.now(), base=head,
    )  # fmt: skip
    if result.action in ("opened", "updated", "unchanged"):
        published = PublishedChange(
            repo.full_name, config.branch, inputs, change.content_hash(), len(change.files), clock.now()
        )
        with closing(ledger.open()) as store:
            store.record_published_change(published)
    return _published(context, "removal", change, result)


@op(tags=kind("github"), retry_policy=SERVICE_RETRY)
def exposures_pull_request(
    context: OpExecutionContext,
    config: ExposuresPullRequestConfig,
    github: GitHubResource,
    clock: ClockResource,
    manifest: dict,
    snapshot: WorkspaceSnapshot,
    lineage: WorkspaceLineage,
    lifecycle: LifecycleOutcome,
) -> Output[PullRequestOutcome]:
    """Open (or update) the pull request that keeps the generated Mode exposures in sync."""
    if not snapshot.complete:  # a report we could not read would lose its exposure
        reason = "the Mode snapshot is incomplete"
        context.log.warning(f"no exposures pull request: {reason}")
        return _output(PullRequestOutcome("exposures", "not_proposed", None, 0, reason))
    reports = exposure_reports(snapshot, lineage, lifecycle.archived_now())
    repo = github.repo()
    head = default_head(repo)
    path = safe_path(github.project_dir.strip("/"), GENERATED_FILE)
    current = fetch_file(repo, path, ref=head)  # the one file the change touches, not the project
    files = {} if current is None else {path: current}
    change = plan_exposures(files, manifest, reports, github.project_dir, now=clock.now())
    title, body = exposures_pr_text(exposure_changes(manifest, reports))
    result = publish(
        repo, change, branch=config.branch, title=title, body=body, labels=config.labels,
        dry_run=config.dry_run, respect_closed_days=config.respect_closed_days, now=clock.now(), base=head,
    )  # fmt: skip
    return _published(context, "exposures", change, result)


def _published(
    context: OpExecutionContext, name: str, change: ChangeSet, result: PublishResult
) -> Output[PullRequestOutcome]:
    metadata: dict[str, Any] = {"changes": MetadataValue.md("\n".join(f"- {s}" for s in change.summary))}
    if result.action == "dry_run":
        metadata["would"] = MetadataValue.text(result.would or "")
    if result.body:  # proposed, or would be in a dry run: the text is the run's to keep either way
        directory = run_artifacts(context, f"pull_requests/{name}")
        (directory / "change.diff").write_text(result.diff_text)
        (directory / "body.md").write_text(result.body)
        metadata |= {
            "diff": MetadataValue.path(str(directory / "change.diff")),
            "body": MetadataValue.path(str(directory / "body.md")),
        }
    context.log.info(f"{name} pull request: {result.action} {result.url or ''}".rstrip())
    return _output(PullRequestOutcome(name, result.action, result.url, len(change.files)), metadata)


def _output(
    outcome: PullRequestOutcome, metadata: dict[str, Any] | None = None
) -> Output[PullRequestOutcome]:
    shown: dict[str, Any] = {k: v for k, v in asdict(outcome).items() if v not in (None, "")}
    if outcome.url:
        shown["url"] = MetadataValue.url(outcome.url)
    return Output(outcome, metadata=shown | (metadata or {}))


@graph(
    description="Propose the dbt changes as pull requests: remove unused models, sync Mode exposures.",
    out={"removal": GraphOut(), "exposures": GraphOut()},
)
def github(
    manifest: dict,
    snapshot: WorkspaceSnapshot,
    lineage: WorkspaceLineage,
    lifecycle: LifecycleOutcome,
    unused: UnusedModels,
) -> Any:
    return {
        "removal": removal_pull_request(manifest, unused),
        "exposures": exposures_pull_request(manifest, snapshot, lineage, lifecycle),
    }
