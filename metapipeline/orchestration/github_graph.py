"""The `github` graph: pull requests that remove unused models and keep Mode exposures in sync.

Each dbt project gets its own, in the repository that holds it. Both read the project from the
repository's default branch (one tarball, or the one file), plan their change as pure data, and
publish it idempotently: one branch and at most one open pull request per change. When nothing is
left to propose (no unused model left, or the default branch already holds the change), the open
pull request is closed with a comment saying why.
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
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
    documented_reports,
    exposure_changes,
    exposures_pr_text,
    plan_exposures,
)
from metapipeline.actions.mode_lifecycle import LifecycleOutcome
from metapipeline.actions.pull_requests import (
    PublishResult,
    close_obsolete,
    default_head,
    fetch_file,
    fetch_project,
    inputs_fingerprint,
    publish,
    unchanged_pull_request,
)
from metapipeline.cost import CREDITS_PER_HOUR_ENV, credit_rate
from metapipeline.dbt.projects import DbtProject
from metapipeline.lineage.workspace import WorkspaceLineage
from metapipeline.markdown import table as markdown_table
from metapipeline.mode.snapshot import WorkspaceSnapshot
from metapipeline.orchestration.artifacts import run_artifacts
from metapipeline.orchestration.policies import SERVICE_RETRY, kind
from metapipeline.orchestration.resources import ClockResource, GitHubResource, LedgerResource
from metapipeline.platform.analysis import exposure_reports
from metapipeline.platform.unused import UnusedModel, UnusedModels
from metapipeline.store import PublishedChange


@dataclass(frozen=True)
class PullRequestOutcome:
    kind: str  # "removal" or "exposures"
    action: str  # a PublishResult action, or "not_proposed"
    url: str | None
    files: int
    reason: str = ""
    project: str = ""  # the dbt project changed ("" when none was planned)
    repository: str = ""
    branch: str = ""  # the pull request's branch ("" when none was planned)

    def label(self) -> str:
        return f"{self.kind} pull request" + (f" ({self.project})" if self.project else "")


@dataclass(frozen=True)
class _Target:
    """Where one project's pull request goes: its repository, folder and branch."""

    project: DbtProject
    repository: str
    folder: str
    branch: str


def _targets(projects: list[DbtProject], github: GitHubResource, branch: str) -> list[_Target]:
    """Each project's repository and folder (the GitHub resource's unless the projects file says),
    on the configured branch; projects sharing a repository get a branch each."""
    placed = [
        (
            project,
            project.repository or github.repository,
            github.project_dir if project.subdirectory is None else project.subdirectory,
        )
        for project in projects
    ]
    per_repository = Counter(repository for _, repository, _ in placed)
    return [
        _Target(
            project,
            repository,
            folder,
            branch if per_repository[repository] == 1 else f"{branch}/{project.name}",
        )
        for project, repository, folder in placed
    ]


class PullRequestConfig(Config):
    dry_run: bool = Field(False, description="Write the would-be diff and body to the run's artifacts only")
    branch: str
    labels: list[str] = Field(default_factory=lambda: ["metapipeline"])
    respect_closed_days: int = Field(30, description="After a PR is closed unmerged, wait this long")


class RemovalPullRequestConfig(PullRequestConfig):
    branch: str = "metapipeline/remove-unused-models"
    labels: list[str] = Field(default_factory=lambda: ["metapipeline", "dbt-cleanup"])
    credits_per_hour: float | None = Field(
        None,
        description="What an hour of model run time costs in warehouse credits, for the body's savings "
        f"line (default: {CREDITS_PER_HOUR_ENV}; unset: time only)",
    )

    def credit_rate(self) -> float | None:
        return credit_rate(self.credits_per_hour)


def configured_credit_rate(run_config: Mapping[str, Any]) -> float | None:
    """The removal pull request's rate as a run configured it, for the report's costs: the same
    setting, read where the `github` graph nests the op's config."""
    nested = run_config.get("ops", {}).get("github", {}).get("ops", {}).get("removal_pull_request", {})
    return RemovalPullRequestConfig(**(nested.get("config") or {})).credit_rate()


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
    projects: list[DbtProject],
    unused: UnusedModels,
) -> Output[list[PullRequestOutcome]]:
    """Open (or update), in each project's repository, the pull request that deletes its unused
    models' files and YAML entries; close the open one of a project with none left.

    Planning reads the whole project; when the default branch's head, the manifest and the
    candidates are those the open pull request was planned from, it is left alone unread."""
    if unused.refusal:  # the evidence is incomplete: an open pull request stays as it is
        context.log.info(f"no removal pull request: {unused.refusal}")
        return _outputs("removal", [PullRequestOutcome("removal", "not_proposed", None, 0, unused.refusal)])
    by_project = unused.by_project()
    published = []
    for target in _targets(projects, github, config.branch):
        if target.project.name in by_project:
            candidates = by_project[target.project.name]
            published.append(_removal(context, config, github, ledger, clock, target, candidates))
            continue
        why = f"no model of `{target.project.name}` is unused any more (each is read, protected or gone)"
        closed = _close_obsolete(context, config, github, target, "removal", why)
        if closed[0].action != "no_change":
            published.append(closed)
    if not unused.candidates:
        context.log.info("no removal pull request: no unused models")
        published.insert(0, (PullRequestOutcome("removal", "not_proposed", None, 0, "no unused models"), {}))
    return _outputs("removal", [outcome for outcome, _ in published], [m for _, m in published])


def _removal(
    context: OpExecutionContext,
    config: RemovalPullRequestConfig,
    github: GitHubResource,
    ledger: LedgerResource,
    clock: ClockResource,
    target: _Target,
    candidates: list[UnusedModel],
) -> tuple[PullRequestOutcome, dict[str, Any]]:
    project, manifest = target.project, target.project.manifest
    repo = github.repo(target.repository)
    head = default_head(repo)
    # The plan reads only each candidate's id and path: their explanations change from day to day
    # (a report archived "in this run" is just archived the next day) without changing the plan.
    # Nor does it read the manifest's metadata beyond the project name (each parse stamps its time).
    removed = sorted((m.unique_id, m.path) for m in candidates)
    parsed = {key: value for key, value in manifest.items() if key != "metadata"}
    inputs = inputs_fingerprint(head, target.folder, project.name, parsed, removed, code=dbt_changes.MODULES)
    with closing(ledger.open()) as store:
        known = store.published_change(repo.full_name, target.branch)
    if not config.dry_run and known is not None and known.inputs == inputs:
        url = unchanged_pull_request(repo, target.branch, known.content_hash)
        if url is not None:
            context.log.info(f"removal pull request for {project.name}: unchanged {url} (same inputs)")
            reason = f"planned from the same project, manifest and candidates on {known.at:%Y-%m-%d}"
            return _outcome(target, "removal", "unchanged", url, known.files, reason), {}
    files = fetch_project(repo, target.folder, ref=head)
    # Parses are pickles: they stay on this instance's disk, never in the shared ledger.
    parses = ParseCache(Path(context.instance.root_directory) / "cache" / "yaml_parses")
    try:
        change = plan_removal(
            files.files, manifest, candidates, target.folder, symlinks=files.symlinks, parse_cache=parses
        )
    except RemovalError as error:  # e.g. a properties file that does not load: nothing safe to propose
        context.log.error(f"removal not proposed for {project.name}: {error}")
        return _outcome(target, "removal", "not_proposed", None, 0, str(error)), {}
    finally:
        parses.prune()
    for unique_id, why in change.dropped.items():
        context.log.info(f"not removed, something that stays references it: {unique_id} ({why})")
    context.log.info(
        f"YAML files of {project.name}: {parses.hits} parses reused, {parses.misses} parsed"
        + (f", {parses.unreadable} cached parses unreadable (parsed again)" if parses.unreadable else "")
        + (f", {parses.unsaved} not cached (disk)" if parses.unsaved else "")
    )
    with closing(ledger.open()) as store:
        last_runs = store.last_runs(m.unique_id for m in candidates)
        month = store.run_seconds_since(clock.now() - timedelta(days=30))  # the body's savings
    run_info = {}
    for model in candidates:
        last_run_at, run_time_s = last_runs.get(model.unique_id, (None, None))
        run_info[model.unique_id] = ModelRunInfo(last_run_at, run_time_s, month.get(model.unique_id))
    if not change:  # every candidate is still referenced by something that stays
        dropped = ", ".join(f"`{uid}`" for uid in sorted(change.dropped))
        why = f"each model it proposed is still referenced by something that stays ({dropped})"
        return _close_obsolete(context, config, github, target, "removal", why)
    title, body = removal_pr_text(
        candidates, run_info, manifest, change=change, credits_per_hour=config.credit_rate()
    )
    for follow_up in change.follow_ups:
        context.log.info(f"left for people to decide: {follow_up}")
    result = publish(
        repo, change, branch=target.branch, title=title, body=body, labels=config.labels,
        dry_run=config.dry_run, respect_closed_days=config.respect_closed_days, now=clock.now(), base=head,
    )  # fmt: skip
    if result.action in ("opened", "updated", "unchanged"):
        published = PublishedChange(
            repo.full_name, target.branch, inputs, change.content_hash(), len(change.files), clock.now()
        )
        with closing(ledger.open()) as store:
            store.record_published_change(published)
    return _published(context, target, "removal", change, result)


@op(tags=kind("github"), retry_policy=SERVICE_RETRY)
def exposures_pull_request(
    context: OpExecutionContext,
    config: ExposuresPullRequestConfig,
    github: GitHubResource,
    clock: ClockResource,
    projects: list[DbtProject],
    snapshot: WorkspaceSnapshot,
    lineage: WorkspaceLineage,
    lifecycle: LifecycleOutcome,
) -> Output[list[PullRequestOutcome]]:
    """Open (or update), in each project's repository, the pull request that keeps its generated
    Mode exposures in sync (a project no report reads gets none, or loses its old ones)."""
    if not snapshot.complete:  # a report we could not read would lose its exposure
        reason = "the Mode snapshot is incomplete"
        context.log.warning(f"no exposures pull request: {reason}")
        return _outputs("exposures", [PullRequestOutcome("exposures", "not_proposed", None, 0, reason)])
    reports = exposure_reports(snapshot, lineage, lifecycle.archived_now())
    published = []
    for target in _targets(projects, github, config.branch):
        manifest = target.project.manifest
        repo = github.repo(target.repository)
        head = default_head(repo)
        path = safe_path(target.folder.strip("/"), GENERATED_FILE)
        current = fetch_file(repo, path, ref=head)  # the one file the change touches, not the project
        files = {} if current is None else {path: current}
        change = plan_exposures(files, manifest, reports, target.folder, now=clock.now())
        if not change:
            why = f"`{path}` on the default branch already lists these exposures"
            published.append(_close_obsolete(context, config, github, target, "exposures", why))
            continue
        changes, documented = exposure_changes(manifest, reports), documented_reports(manifest, reports)
        title, body = exposures_pr_text(changes, documented=documented)
        result = publish(
            repo, change, branch=target.branch, title=title, body=body, labels=config.labels,
            dry_run=config.dry_run, respect_closed_days=config.respect_closed_days, now=clock.now(), base=head,
        )  # fmt: skip
        published.append(_published(context, target, "exposures", change, result))
    return _outputs("exposures", [outcome for outcome, _ in published], [m for _, m in published])


def _close_obsolete(
    context: OpExecutionContext,
    config: PullRequestConfig,
    github: GitHubResource,
    target: _Target,
    kind: str,
    why: str,
) -> tuple[PullRequestOutcome, dict[str, Any]]:
    """Close the project's open `kind` pull request, which proposes what no longer applies."""
    comment = (
        f"metapipeline closes this pull request: nothing is left to propose, since {why}. The branch "
        "stays for the record; a new pull request opens if there is something to propose again."
    )
    repo = github.repo(target.repository)
    result = close_obsolete(repo, branch=target.branch, comment=comment, dry_run=config.dry_run)
    return _published(context, target, kind, ChangeSet(), result)


def _outcome(
    target: _Target, kind: str, action: str, url: str | None, files: int, reason: str = ""
) -> PullRequestOutcome:
    return PullRequestOutcome(
        kind, action, url, files, reason, target.project.name, target.repository, target.branch
    )


def _published(
    context: OpExecutionContext, target: _Target, kind: str, change: ChangeSet, result: PublishResult
) -> tuple[PullRequestOutcome, dict[str, Any]]:
    """The outcome of one project's pull request, and its files for the UI."""
    name = target.project.name
    metadata: dict[str, Any] = {
        f"{name}: changes": MetadataValue.md("\n".join(f"- {s}" for s in change.summary))
    }
    if result.action == "dry_run":
        metadata[f"{name}: would"] = MetadataValue.text(result.would or "")
    if result.body:  # proposed, or would be in a dry run: the text is the run's to keep either way
        directory = run_artifacts(context, f"pull_requests/{kind}/{name}")
        (directory / "change.diff").write_text(result.diff_text)
        (directory / "body.md").write_text(result.body)
        metadata |= {
            f"{name}: diff": MetadataValue.path(str(directory / "change.diff")),
            f"{name}: body": MetadataValue.path(str(directory / "body.md")),
        }
    context.log.info(
        f"{kind} pull request for {name} in {target.repository}: {result.action} {result.url or ''}".rstrip()
    )
    return _outcome(target, kind, result.action, result.url, len(change.files)), metadata


def _outputs(
    kind: str, outcomes: list[PullRequestOutcome], metadata: Sequence[dict[str, Any]] = ()
) -> Output[list[PullRequestOutcome]]:
    """One table row per project's pull request, each one's files beside it."""
    rows = [
        (o.project or "-", o.repository or "-", o.action, o.url or o.reason, str(o.files)) for o in outcomes
    ]
    shown: dict[str, Any] = {
        "pull requests": MetadataValue.md(
            markdown_table(["project", "repository", "action", "url or reason", "files"], rows)
        )
    }
    shown |= {f"{o.project}: url": MetadataValue.url(o.url) for o in outcomes if o.url}
    for extra in metadata:
        shown |= extra
    return Output(outcomes, metadata=shown)


@graph(
    description="Propose the dbt changes as pull requests: remove unused models, sync Mode exposures.",
    out={"removal": GraphOut(), "exposures": GraphOut()},
)
def github(
    projects: list[DbtProject],
    snapshot: WorkspaceSnapshot,
    lineage: WorkspaceLineage,
    lifecycle: LifecycleOutcome,
    unused: UnusedModels,
) -> Any:
    return {
        "removal": removal_pull_request(projects, unused),
        "exposures": exposures_pull_request(projects, snapshot, lineage, lifecycle),
    }
