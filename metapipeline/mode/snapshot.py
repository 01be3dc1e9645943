"""The workspace snapshot: everything later steps need from Mode, and whether it is complete."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

from metapipeline.mode.client import ModeAPIError, ModeClient, ModeNotFound
from metapipeline.mode.models import (
    Creator,
    DataSource,
    Definition,
    ModePayloadError,
    Query,
    Report,
    Space,
    imported_dataset_tokens,
)
from metapipeline.store.ledger import CachedReport

log = logging.getLogger(__name__)

# What a 403 on a space means, and the ways out: a refusal names it with the space.
FORBIDDEN_SPACE_HELP = (
    "the API token may not read this space: give the token's user view access to it (or use a "
    "Workspace API token, which reads every space), or list it in skip_spaces to accept the gap"
)


@dataclass(frozen=True)
class IngestionProblem:
    """Something that could not be read; `what` names it for a person (e.g. "space 75737b70402e")."""

    what: str
    error: str


@dataclass
class WorkspaceSnapshot:
    workspace: str
    taken_at: str
    spaces: list[Space] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    datasets: list[Report] = field(default_factory=list)  # Mode Datasets (report objects, is_dataset)
    data_sources: list[DataSource] = field(default_factory=list)
    definitions: list[Definition] = field(default_factory=list)
    creators: dict[str, Creator] = field(default_factory=dict)
    failures: list[IngestionProblem] = field(default_factory=list)
    deleted_during_run: list[str] = field(default_factory=list)
    unreadable_reports: list[str] = field(default_factory=list)  # reports whose queries could not be read
    reports_reused: int = 0  # reports unchanged since the last run, queries taken from the cache
    creators_read: list[str] = field(default_factory=list)  # usernames read now (others were known)
    requests_sent: int = 0
    # "token (name)" of the spaces left unread because the user listed them in skip_spaces.
    skipped_spaces: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True only when every space, report, Dataset and query list was read (skipped spaces aside)."""
        return not self.failures

    @property
    def queries(self) -> list[Query]:
        """Every query of every report and Dataset."""
        return [q for r in (*self.reports, *self.datasets) for q in r.queries]

    def incomplete_because(self) -> str:
        """What could not be read, for refusals ("" when complete): spaces Mode refused (403) by
        name with the permission they need, then the first other failures."""
        forbidden = list(dict.fromkeys(p.what for p in self.failures if FORBIDDEN_SPACE_HELP in p.error))
        others = [p for p in self.failures if FORBIDDEN_SPACE_HELP not in p.error]
        parts = [f"Mode refused (403) {', '.join(forbidden)}: {FORBIDDEN_SPACE_HELP}"] if forbidden else []
        if others:
            more = f" and {len(others) - 3} more" if len(others) > 3 else ""
            parts.append("could not read " + "; ".join(f"{p.what}: {p.error}" for p in others[:3]) + more)
        return "; ".join(parts)

    def counts(self) -> dict[str, int]:
        return {
            "spaces": len(self.spaces),
            "skipped_spaces": len(self.skipped_spaces),
            "reports": len(self.reports),
            "archived_reports": sum(r.archived for r in self.reports),
            "datasets": len(self.datasets),
            "queries": len(self.queries),
            "data_sources": len(self.data_sources),
            "definitions": len(self.definitions),
            "creators": len(self.creators),
            "failures": len(self.failures),
            "deleted_during_run": len(self.deleted_during_run),
            "reports_reused": self.reports_reused,
            "creators_read": len(self.creators_read),
        }

    def cache_entries(self, stored: Mapping[str, CachedReport] | None = None) -> list[CachedReport]:
        """What the next run may reuse: every report whose queries were read in full, except those
        `stored` already holds with the same timestamps (their queries came from there): a daily
        run then writes a few hundred entries rather than every report again."""
        unreadable = set(self.unreadable_reports)
        return [
            CachedReport(
                r.token, r.updated_at, r.edited_at, tuple(asdict(q) for q in r.queries), r.imported_datasets
            )
            for r in (*self.reports, *self.datasets)
            if r.token not in unreadable and not _unchanged(r, stored or {})
        ]


def take_snapshot(
    client: ModeClient,
    *,
    max_workers: int = 4,
    cached: Mapping[str, CachedReport] | None = None,
    known_creators: Mapping[str, Creator] | None = None,
    skip_spaces: Collection[str] = (),
    progress: Callable[[str], None] = log.info,
) -> WorkspaceSnapshot:
    """Read the whole workspace. Failures are collected, never raised, so the caller sees all of them.

    Reports and Datasets whose `updated_at` and `edited_at` match `cached` keep their cached
    queries (and imported Datasets) instead of costing requests: a daily run reads only new and
    changed ones. Report owners in `known_creators` are not read again either. Spaces named (by
    token or name) in `skip_spaces` are not read at all and are listed in `skipped_spaces`.
    """
    cached = cached or {}
    snapshot = WorkspaceSnapshot(workspace=client.workspace, taken_at=datetime.now(UTC).isoformat())
    sent_before = client.requests_sent

    def attempt(what: str, read: Callable[[], list]) -> list:
        try:
            return read()
        except ModeAPIError as exc:
            error = (
                f"{exc}; {FORBIDDEN_SPACE_HELP}"
                if exc.status == 403 and what.startswith("space ")
                else str(exc)
            )
            snapshot.failures.append(IngestionProblem(what, error))
            return []

    def each(what: str, payloads: Iterable[dict], parse: Callable[[dict], object]) -> list:
        """Every payload that parses; one that does not is a failure of its own (and the others stay)."""
        parsed = []
        for payload in payloads:
            try:
                parsed.append(parse(payload))
            except ModePayloadError as exc:
                snapshot.failures.append(IngestionProblem(what, str(exc)))
        return parsed

    spaces = attempt(
        "spaces",
        lambda: each(
            "spaces",
            client.paginate(client.workspace_path("spaces"), "spaces", {"filter": "all"}),
            Space.from_api,
        ),
    )
    skip = set(skip_spaces)
    snapshot.spaces = [s for s in spaces if not {s.token, s.name} & skip]
    snapshot.skipped_spaces = [f"{s.token} ({s.name})" for s in spaces if {s.token, s.name} & skip]
    snapshot.data_sources = attempt(
        "data sources",
        lambda: each(
            "data sources",
            client.list_embedded(client.workspace_path("data_sources"), "data_sources"),
            DataSource.from_api,
        ),
    )
    snapshot.definitions = attempt(
        "definitions",
        lambda: each(
            "definitions",
            client.list_embedded(client.workspace_path("definitions"), "definitions"),
            Definition.from_api,
        ),
    )
    progress(
        f"{len(snapshot.spaces)} spaces, {len(snapshot.data_sources)} data sources, {len(snapshot.definitions)} definitions"
        + (f"; skipping {', '.join(snapshot.skipped_spaces)}" if snapshot.skipped_spaces else "")
    )

    def listed(space: Space, collection: str) -> list[Report]:
        # Reports and Datasets: both come back under `reports`, Datasets typed DatasetReport.
        path = client.workspace_path("spaces", space.token, collection)
        what = f"space {space.token} ({space.name})"
        return attempt(
            what,
            lambda: each(what, client.paginate(path, "reports"), lambda r: Report.from_api(r, space.token)),
        )

    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        reports = [r for batch in pool.map(lambda s: listed(s, "reports"), snapshot.spaces) for r in batch]
        datasets = [r for batch in pool.map(lambda s: listed(s, "datasets"), snapshot.spaces) for r in batch]
        everything = [*reports, *datasets]
        unchanged = [_from_cache(r, cached[r.token]) for r in everything if _unchanged(r, cached)]
        changed = [r for r in everything if not _unchanged(r, cached)]
        snapshot.reports_reused = len(unchanged)
        progress(
            f"{len(reports)} reports listed, and {len(datasets)} Datasets; "
            f"reading the queries of {len(changed)} new or changed ones"
        )
        with_queries = list(pool.map(lambda r: _read_changed(client, r, snapshot), changed))
        read = {r.token: r for r in [*unchanged, *with_queries] if r is not None}
        snapshot.reports = [read[r.token] for r in reports if r.token in read]  # Mode's listing order
        snapshot.datasets = [read[r.token] for r in datasets if r.token in read]
        # A live report may import a Dataset no listing showed (another space, a skipped one):
        # read it directly, or the models only it reads would look unused.
        listed_tokens = {d.token for d in snapshot.datasets}
        missing = sorted(
            {t for r in snapshot.reports if not r.archived for t in r.imported_datasets} - listed_tokens
        )
        snapshot.datasets += [d for d in pool.map(lambda t: _dataset(client, t, snapshot), missing) if d]

    usernames = sorted(
        {r.creator_username for r in (*snapshot.reports, *snapshot.datasets) if r.creator_username}
    )
    known_creators = known_creators or {}
    unknown = [u for u in usernames if u not in known_creators]
    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        read_now = {c.username: c for c in pool.map(lambda u: _creator(client, u), unknown) if c is not None}
    snapshot.creators = {u: c for u in usernames if (c := known_creators.get(u) or read_now.get(u))}
    snapshot.creators_read = sorted(read_now)
    snapshot.requests_sent = client.requests_sent - sent_before
    progress(f"snapshot {'complete' if snapshot.complete else 'INCOMPLETE'}: {snapshot.counts()}")
    return snapshot


def _read_changed(client: ModeClient, report: Report, snapshot: WorkspaceSnapshot) -> Report | None:
    """A new or changed report or Dataset with its queries and, when it may have some, the Datasets
    it imports (listings omit them: only `GET /reports/{token}` says)."""
    try:
        path = client.workspace_path("reports", report.token, "queries")
        queries = tuple(Query.from_api(q, report.token) for q in client.list_embedded(path, "queries"))
        imported: tuple[str, ...] = ()
        if not report.is_dataset and report.lists_imports is not False:
            imported = imported_dataset_tokens(client.get(client.workspace_path("reports", report.token)))
    except ModeNotFound:
        snapshot.deleted_during_run.append(report.token)
        return None
    except (ModeAPIError, ModePayloadError) as exc:
        snapshot.failures.append(
            IngestionProblem(f"queries of report {report.token} ({report.name})", str(exc))
        )
        snapshot.unreadable_reports.append(report.token)
        return report
    return replace(report, queries=queries, imported_datasets=imported)


def _dataset(client: ModeClient, token: str, snapshot: WorkspaceSnapshot) -> Report | None:
    """A Dataset read by its token (`GET /reports/{token}`), with its queries."""
    try:
        payload = client.get(client.workspace_path("reports", token))
        dataset = Report.from_api(payload, str(payload.get("space_token") or ""))
    except ModeNotFound:
        return None  # imported, but deleted since: nothing left that could read a model
    except (ModeAPIError, ModePayloadError) as exc:
        snapshot.failures.append(IngestionProblem(f"imported Dataset {token}", str(exc)))
        return None
    return _read_changed(client, replace(dataset, is_dataset=True), snapshot)


def _unchanged(report: Report, cached: Mapping[str, CachedReport]) -> bool:
    known = cached.get(report.token)
    if known is None or (known.updated_at, known.edited_at) != (report.updated_at, report.edited_at):
        return False
    # An entry from before imports were read says nothing about them.
    return known.imported_datasets is not None or report.is_dataset or report.lists_imports is False


def _from_cache(report: Report, known: CachedReport) -> Report:
    return replace(
        report,
        queries=tuple(Query(**query) for query in known.queries),
        imported_datasets=known.imported_datasets or (),
    )


def _creator(client: ModeClient, username: str) -> Creator | None:
    # An owner we cannot look up only costs a name in a PR table; it is not missing evidence.
    try:
        return Creator.from_api(client.get(username))
    except (ModeAPIError, ModePayloadError) as exc:
        log.warning("could not read Mode user %s: %s", username, exc)
        return None
