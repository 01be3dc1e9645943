"""The workspace snapshot over real HTTP: faults, deletions mid-run, and incremental re-runs."""

from __future__ import annotations

import requests

from metapipeline.mode.client import ModeClient
from metapipeline.mode.snapshot import WorkspaceSnapshot, take_snapshot
from metapipeline.sandbox.faults import FaultSettings
from metapipeline.sandbox.harness import EmulatorServer
from metapipeline.sandbox.mode_emulator import mode_client


def _client(server: EmulatorServer) -> ModeClient:
    return mode_client(server, requests_per_second=0, max_backoff_seconds=0.05)


def _content(snapshot: WorkspaceSnapshot) -> dict:
    return {
        "spaces": sorted(snapshot.spaces, key=lambda s: s.token),
        "reports": sorted(snapshot.reports, key=lambda r: r.token),
        "data_sources": snapshot.data_sources,
        "definitions": snapshot.definitions,
        "creators": snapshot.creators,
    }


def test_snapshot_under_429s_and_5xx_is_identical_to_a_clean_one(start_mode):
    clean = take_snapshot(_client(start_mode()))
    faulty_server = start_mode(faults=FaultSettings(rate_429=0.2, rate_5xx=0.1, retry_after_s=0, seed=3))
    faulty = take_snapshot(_client(faulty_server))
    assert clean.complete and faulty.complete
    assert _content(faulty) == _content(clean)
    stats = faulty_server.stats()
    assert stats["fault_429"] > 0 and stats["fault_5xx"] > 0


def test_a_report_deleted_mid_run_is_skipped_and_recorded(start_mode, sample_workspace):
    server = start_mode()
    client = _client(server)
    env = server.emulator.env(server.base_url)
    victim = next(r["token"] for r in sample_workspace["reports"] if not r["archived"])

    def delete_after_listing(message: str) -> None:
        if "reports listed" in message:  # between the listing and the queries
            response = requests.delete(
                f"{server.base_url}/api/freshcart/reports/{victim}",
                auth=(env["MODE_TOKEN"], env["MODE_SECRET"]),
                timeout=5,
            )
            assert response.status_code == 200

    snapshot = take_snapshot(client, progress=delete_after_listing)
    assert snapshot.deleted_during_run == [victim]
    assert victim not in {r.token for r in snapshot.reports}
    assert snapshot.complete  # a deletion is news, not missing evidence


def test_unchanged_reports_reuse_cached_queries(start_mode, sample_workspace):
    server = start_mode()
    first = take_snapshot(_client(server))
    cache = {entry.token: entry for entry in first.cache_entries()}
    edited = sample_workspace["reports"][0]["token"]
    server.emulator.edit_reports([edited])
    second = take_snapshot(_client(server), cached=cache)
    read = len(first.reports) + len(first.datasets)
    assert second.reports_reused == read - 1  # Datasets come from the cache as reports do
    assert _content(second) != _content(first)  # the edited report's timestamps moved
    assert {r.token: r.queries for r in second.reports} == {r.token: r.queries for r in first.reports}
    assert second.datasets == first.datasets
    # First: every query list plus one GET for the report whose listing says it imports Datasets.
    assert first.requests_sent - second.requests_sent == read - 1 + 1


def test_known_report_owners_are_not_read_again(start_mode):
    server = start_mode()
    first = take_snapshot(_client(server))
    assert first.creators and first.creators_read == sorted(first.creators)
    known = dict(list(first.creators.items())[1:])  # all but one, as a ledger a week old might hold
    second = take_snapshot(_client(server), known_creators=known)
    assert second.creators == first.creators
    assert second.creators_read == [next(iter(first.creators))]
    assert second.requests_sent == first.requests_sent - len(known)


def test_reports_whose_queries_failed_are_not_cached(start_mode, sample_workspace):
    token = sample_workspace["reports"][0]["token"]
    server = start_mode(faults=FaultSettings(rate_5xx=1.0, path_pattern=f"/reports/{token}/queries"))
    snapshot = take_snapshot(_client(server))
    assert not snapshot.complete
    assert snapshot.unreadable_reports == [token]
    assert token not in {entry.token for entry in snapshot.cache_entries()}
