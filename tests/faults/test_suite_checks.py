"""The fault suite's judge on made-up records: each invariant it counts does catch its violation."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from run_fault_suite import BRANCHES, REMOVAL, Schedule, check, schedules

REFERENCE: dict[str, Any] = {
    "schedule": {"run": 0, "seed": 1, "kind": "reference", "faults": {}, "outage": "", "expect": "same"},
    "success": True,
    "seconds": 40.0,
    "failures": [],
    "retries": [],
    "faults_injected": {s: {"requests": 10} for s in ("mode", "github", "slack")},
    "plan": {"as_of": "2026-11-23T12:00:00+00:00", "unused_models": ["m"], "lifecycle_refusal": None},
    "snapshot_failures": [],
    "ledger_actions": [
        {"action": "archive", "report": "r1", "run_id": "x", "dry_run": False},
        {"action": "delete", "report": "r2", "run_id": "x", "dry_run": False},
    ],
    "mode_history": [
        {"action": "archive", "report": "r1", "changed": True},
        {"action": "delete", "report": "r2", "changed": True},
    ],
    "repositories": ["freshcart/analytics", "freshcart/finance"],
    "pulls": [
        {
            "number": n,
            "repository": repository,
            "branch": b,
            "where": f"{repository} {b}",
            "state": "open",
            "title": b,
            "body": "why",
            "labels": ["metapipeline"],
        }
        for n, (repository, b) in enumerate(
            [*(("freshcart/analytics", b) for b in BRANCHES), ("freshcart/finance", REMOVAL)], 1
        )
    ],
    "branches": {
        **{f"freshcart/analytics {b}": f"diff of {b}" for b in BRANCHES},
        f"freshcart/finance {REMOVAL}": "diff of the finance removal",
    },
    "slack_messages": ["*metapipeline daily report*"],
    "slack_files": ["a.png", "b.png"],
}


def _run(**changes: Any) -> dict[str, Any]:
    record = copy.deepcopy(REFERENCE) | {"schedule": {**REFERENCE["schedule"], "run": 1, "kind": "random"}}
    return record | changes


def test_a_run_like_the_reference_is_ok_even_at_another_time():
    outcome = check(_run(plan={**REFERENCE["plan"], "as_of": "2026-11-24T00:00:00+00:00"}), REFERENCE)
    assert (outcome.result, outcome.problems, outcome.plan_equal, outcome.prs_equal) == ("ok", [], True, True)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"pulls": [*REFERENCE["pulls"], {**REFERENCE["pulls"][0], "number": 3}]}, "1 duplicate prs"),
        (
            {"ledger_actions": [*REFERENCE["ledger_actions"], REFERENCE["ledger_actions"][0]]},
            "1 duplicate archives",
        ),
        (
            {"mode_history": [*REFERENCE["mode_history"], REFERENCE["mode_history"][0]]},
            "1 duplicate archives",
        ),
        ({"slack_messages": ["one", "two"]}, "1 duplicate slack"),
        ({"slack_messages": []}, "0 Slack messages, expected one"),
        ({"slack_files": ["a.png", "a.png", "b.png"]}, "a chart was shared twice"),
        (
            {"ledger_actions": [{"action": "gone", "report": "r2", "run_id": "x", "dry_run": False}]},
            "ledger and Mode disagree",
        ),
        ({"plan": {**REFERENCE["plan"], "unused_models": []}}, "the plan differs"),
        ({"branches": {REMOVAL: "another diff"}}, "the pull requests differ"),
        ({"slack_messages": ["another text"]}, "the Slack message differs"),
    ],
)
def test_each_invariant_catches_its_violation(changes, problem):
    outcome = check(_run(**changes), REFERENCE)
    assert outcome.result == "VIOLATION"
    assert any(p.startswith(problem) for p in outcome.problems), outcome.problems


def test_acting_on_an_incomplete_snapshot_is_counted():
    outcome = check(_run(snapshot_failures=["queries of report r3: HTTP 503"]), REFERENCE)
    # an archive and a delete (each in Mode and in the ledger), three pull requests (two repositories)
    # and their branches
    assert outcome.destructive_on_incomplete == 4 + 3 + 3
    assert outcome.result == "VIOLATION"


def test_failures_must_name_their_service():
    traceback_only = (
        "Traceback:\n  File /x/metapipeline/actions/slack.py, line 3\nJSONDecodeError: Expecting value"
    )
    unclear = _run(
        success=False,
        failures=[{"step": "report.meta_analysis", "service": "slack", "error": traceback_only}],
    )
    assert check(unclear, REFERENCE).problems == ["failure names no service: report.meta_analysis"]
    clear = _run(
        success=False,
        failures=[
            {
                "step": "github.removal_pull_request",
                "service": "github",
                "error": "GitHubPublishError: GitHub failed",
            }
        ],
    )
    outcome = check(clear, REFERENCE)
    assert (outcome.result, outcome.failed) == (
        "failed (clear)",
        "github.removal_pull_request: GitHubPublishError: GitHub failed",
    )


def test_an_outage_must_be_refused_or_failed_as_expected():
    mode_down = Schedule(**{**REFERENCE["schedule"], "run": 2, "kind": "outage", "expect": "refused"})
    acted = _run(schedule=vars(mode_down))  # a complete snapshot, and it acted
    assert "the snapshot is complete although part of Mode was down" in check(acted, REFERENCE).problems


def test_schedules_are_reproducible_and_a_tenth_of_requests_misbehave():
    first, again = schedules(5, seed=3, outages=2), schedules(5, seed=3, outages=2)
    assert first == again and len(first) == 8
    assert len({s.seed for s in first[1:]}) == 7
    for schedule in first[1:6]:
        for spec in schedule.faults.values():
            rates = dict(item.split("=") for item in spec.split(","))
            assert sum(
                float(rates[f"rate_{k}"]) for k in ("429", "5xx", "drop", "malformed")
            ) == pytest.approx(0.1, abs=1e-3)
