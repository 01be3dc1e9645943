"""The workspace snapshot: everything later steps need from Mode, and whether it is complete."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
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
)
from metapipeline.store.ledger import CachedReport

log = logging.getLogger(__name__)


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
    data_sources: list[DataSource] = field(default_factory=list)
    definitions: list[Definition] = field(default_factory=list)
    creators: dict[str, Creator] = field(default_factory=dict)
    failures: list[IngestionProblem] = field(default_factory=list)
    deleted_during_run: list[str] = field(default_factory=list)
    unreadable_reports: list[str] = field(default_factory=list)  # reports whose queries could not be read
    reports_reused: int = 0  # reports unchanged since the last run, queries taken from the cache
    creators_read: list[str] = field(default_factory=list)  # usernames read now (others were known)
    requests_sent: int = 0

    @property
    def complete(self) -> bool:
        """True only when every space, report and query list was read."""
        return not self.failures

    @property
    def queries(self) -> list[Query]:
        return [q for r in self.reports for q in r.queries]

    def counts(self) -> dict[str, int]:
        return {
            "spaces": len(self.spaces),
            "reports": len(self.reports),
            "archived_reports": sum(r.archived for r in self.reports),
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
            CachedReport(r.token, r.updated_at, r.edited_at, tuple(asdict(q) for q in r.queries))
            for r in self.reports
            if r.token not in unreadable and not _unchanged(r, stored or {})
        ]


def take_snapshot(
    client: ModeClient,
    *,
    max_workers: int = 4,
    cached: Mapping[str, CachedReport] | None = None,
    known_creators: Mapping[str, Creator] | None = None,
    progress: Callable[[str], None] = log.info,
) -> WorkspaceSnapshot:
    """Read the whole workspace. Failures are collected, never raised, so the caller sees all of them.

    Reports whose `updated_at` and `edited_at` match `cached` keep their cached queries instead of
    costing a request each: a daily run fetches queries only for new and changed reports. Report
    owners in `known_creators` are not read again either.
    """
    cached = cached or {}
    snapshot = WorkspaceSnapshot(workspace=client.workspace, taken_at=datetime.now(UTC).isoformat())
    sent_before = client.requests_sent

    def attempt(what: str, read: Callable[[], list]) -> list:
        try:
            return read()
        except ModeAPIError as exc:
            snapshot.failures.append(IngestionProblem(what, str(exc)))
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

    snapshot.spaces = attempt(
        "spaces",
        lambda: each(
            "spaces",
            client.paginate(client.workspace_path("spaces"), "spaces", {"filter": "all"}),
            Space.from_api,
        ),
    )
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
    )

    def reports_of(space: Space) -> list[Report]:
        path = client.workspace_path("spaces", space.token, "reports")
        what = f"space {space.token} ({space.name})"
        return attempt(
            what,
            lambda: each(what, client.paginate(path, "reports"), lambda r: Report.from_api(r, space.token)),
        )

    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        reports = [r for batch in pool.map(reports_of, snapshot.spaces) for r in batch]
        unchanged = [_from_cache(r, cached[r.token]) for r in reports if _unchanged(r, cached)]
        changed = [r for r in reports if not _unchanged(r, cached)]
        snapshot.reports_reused = len(unchanged)
        progress(f"{len(reports)} reports listed; reading the queries of {len(changed)} new or changed ones")
        with_queries = list(pool.map(lambda r: _with_queries(client, r, snapshot), changed))
    read = {r.token: r for r in [*unchanged, *with_queries] if r is not None}
    snapshot.reports = [read[r.token] for r in reports if r.token in read]  # Mode's listing order

    usernames = sorted({r.creator_username for r in snapshot.reports if r.creator_username})
    known_creators = known_creators or {}
    unknown = [u for u in usernames if u not in known_creators]
    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        read_now = {c.username: c for c in pool.map(lambda u: _creator(client, u), unknown) if c is not None}
    snapshot.creators = {u: c for u in usernames if (c := known_creators.get(u) or read_now.get(u))}
    snapshot.creators_read = sorted(read_now)
    snapshot.requests_sent = client.requests_sent - sent_before
    progress(f"snapshot {'complete' if snapshot.complete else 'INCOMPLETE'}: {snapshot.counts()}")
    return snapshot


def _with_queries(client: ModeClient, report: Report, snapshot: WorkspaceSnapshot) -> Report | None:
    path = client.workspace_path("reports", report.token, "queries")
    try:
        queries = tuple(Query.from_api(q, report.token) for q in client.list_embedded(path, "queries"))
    except ModeNotFound:
        snapshot.deleted_during_run.append(report.token)
        return None
    except (ModeAPIError, ModePayloadError) as exc:
        snapshot.failures.append(
            IngestionProblem(f"queries of report {report.token} ({report.name})", str(exc))
        )
        snapshot.unreadable_reports.append(report.token)
        return report
    return replace(report, queries=queries)


def _unchanged(report: Report, cached: Mapping[str, CachedReport]) -> bool:
    known = cached.get(report.token)
    return known is not None and (known.updated_at, known.edited_at) == (report.updated_at, report.edited_at)


def _from_cache(report: Report, known: CachedReport) -> Report:
    return replace(report, queries=tuple(Query(**query) for query in known.queries))


def _creator(client: ModeClient, username: str) -> Creator | None:
    # An owner we cannot look up only costs a name in a PR table; it is not missing evidence.
    try:
        return Creator.from_api(client.get(username))
    except (ModeAPIError, ModePayloadError) as exc:
        log.warning("could not read Mode user %s: %s", username, exc)
        return None
