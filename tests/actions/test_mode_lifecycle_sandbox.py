"""The archive/delete lifecycle against the Mode emulator and a real ledger, day after day."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from metapipeline.actions.mode_lifecycle import (
    LifecycleOutcome,
    LifecycleSettings,
    apply_plan,
    plan_lifecycle,
    read_archived_by_us,
)
from metapipeline.mode.client import ModeClient
from metapipeline.mode.snapshot import take_snapshot
from metapipeline.platform.stale import StalePolicy, judge_reports
from metapipeline.sandbox.faults import FaultSettings
from metapipeline.sandbox.harness import EmulatorServer
from metapipeline.sandbox.mode_emulator import mode_client
from metapipeline.sandbox.sample import expected_outcomes
from metapipeline.store.ledger import Ledger

EXPOSURE_BACKED = {
    "b7d24e19c0a3": "board_pack"
}  # from the sample's _exposures.yml; parsed for real in slow tests


def _client(server: EmulatorServer) -> ModeClient:
    return mode_client(server, requests_per_second=0, max_backoff_seconds=0.05)


def _run(
    server, ledger, now, *, dry_run=False, settings=None, skip_spaces=()
) -> tuple[LifecycleOutcome, str | None]:
    client = _client(server)
    snapshot = take_snapshot(client, cached=ledger.cached_reports(client.workspace), skip_spaces=skip_spaces)
    ledger.store_reports(client.workspace, snapshot.cache_entries())
    verdicts = judge_reports(
        snapshot.reports, StalePolicy(), now, datasets=snapshot.datasets, exposure_backed=EXPOSURE_BACKED
    )
    history = ledger.lifecycle_history(client.workspace)
    reads = read_archived_by_us(client, history)
    plan = plan_lifecycle(snapshot, verdicts, history, settings or LifecycleSettings(), now, reads)
    outcome = apply_plan(plan, client, ledger, run_id=f"run-{now:%Y%m%d}", now=now, dry_run=dry_run)
    return outcome, plan.refusal


def _tokens(outcome: LifecycleOutcome, kind: str) -> set[str]:
    return {a.report_token for a in outcome.done if a.action == kind}


@pytest.fixture
def ledger(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    yield ledger
    ledger.close()


# Mode does not say whether listings show archived reports: deletes must not depend on it.
@pytest.mark.parametrize("archived_in_listings", [True, False])
def test_archive_then_delete_after_grace_never_touching_restored_or_peoples_reports(
    start_mode, sample_now, tmp_path, ledger, archived_in_listings
):
    server = start_mode(data_dir=tmp_path / "mode", archived_in_listings=archived_in_listings)
    stale = set(expected_outcomes()["stale_reports"])

    first, refusal = _run(server, ledger, sample_now)
    assert refusal is None
    assert _tokens(first, "archive") == stale
    assert _tokens(first, "delete") == set()

    second, _ = _run(server, ledger, sample_now + timedelta(days=1))
    assert second.done == []

    # Someone restores one report during the grace period.
    restored = sorted(stale)[0]
    http = requests.Session()
    http.auth = (
        server.emulator.env(server.base_url)["MODE_TOKEN"],
        server.emulator.env(server.base_url)["MODE_SECRET"],
    )
    assert (
        http.patch(f"{server.base_url}/api/freshcart/reports/{restored}/unarchive", timeout=5).status_code
        == 200
    )
    noticed, _ = _run(server, ledger, sample_now + timedelta(days=10))
    assert _tokens(noticed, "restored") == {restored}

    # Past the grace period: delete exactly what we archived and nobody restored; never re-archive it.
    later, _ = _run(server, ledger, sample_now + timedelta(days=31))
    assert _tokens(later, "delete") == stale - {restored}
    assert _tokens(later, "archive") == set()
    assert all(not a.dry_run for a in later.done)
    for token in stale - {restored}:
        assert http.get(f"{server.base_url}/api/freshcart/reports/{token}", timeout=5).status_code == 404
    for token in [restored, *expected_outcomes()["workspace"]["archived_by_people"]]:
        assert http.get(f"{server.base_url}/api/freshcart/reports/{token}", timeout=5).status_code == 200

    quiet, _ = _run(server, ledger, sample_now + timedelta(days=62))
    assert _tokens(quiet, "delete") == set()


def test_dry_run_records_the_same_plan_and_changes_nothing(start_mode, sample_now, ledger):
    server = start_mode()
    outcome, _ = _run(server, ledger, sample_now, dry_run=True)
    assert _tokens(outcome, "archive") == set(expected_outcomes()["stale_reports"])
    assert all(a.dry_run for a in outcome.done)
    assert ledger.lifecycle_history("freshcart") == {}
    again, _ = _run(server, ledger, sample_now)  # the real run still finds everything to do
    assert _tokens(again, "archive") == set(expected_outcomes()["stale_reports"])


def test_faults_do_not_change_the_outcome(start_mode, sample_now, ledger):
    server = start_mode(faults=FaultSettings(rate_429=0.2, rate_5xx=0.1, retry_after_s=0, seed=5))
    outcome, refusal = _run(server, ledger, sample_now)
    assert refusal is None
    assert _tokens(outcome, "archive") == set(expected_outcomes()["stale_reports"])


def test_a_space_that_cannot_be_read_stops_every_archive_and_delete(start_mode, sample_now, ledger):
    server = start_mode(faults=FaultSettings(rate_5xx=1.0, path_pattern="/spaces/5c8e2f1a9d30/reports"))
    outcome, refusal = _run(server, ledger, sample_now)
    assert outcome.done == []
    assert refusal is not None and "incomplete" in refusal and "5c8e2f1a9d30" in refusal


FINANCE = "e91b7d3c4a26"


def test_a_space_mode_refuses_stops_destruction_naming_it_until_skipped(start_mode, sample_now, ledger):
    server = start_mode(forbidden_spaces=[FINANCE])
    outcome, refusal = _run(server, ledger, sample_now)
    assert outcome.done == []
    assert refusal is not None and f"space {FINANCE} (Finance)" in refusal
    assert "403" in refusal and "view access" in refusal and "skip_spaces" in refusal

    # Accepting the gap by name: the run acts, and the snapshot records what it did not read.
    client = _client(server)
    snapshot = take_snapshot(client, skip_spaces=["Finance"])
    assert snapshot.complete and snapshot.skipped_spaces == [f"{FINANCE} (Finance)"]
    outcome, refusal = _run(server, ledger, sample_now, skip_spaces=["Finance"])
    assert refusal is None
    assert _tokens(outcome, "archive") == set(expected_outcomes()["stale_reports"])
