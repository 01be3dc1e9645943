"""The removal pull request's body says what people need before merging: owners as plain text,
what the removal saves a month, and which models go only because a report was archived this run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from metapipeline.actions.dbt_changes import ChangeSet, ModelRunInfo, removal_pr_text
from metapipeline.orchestration.github_graph import (
    CREDITS_PER_HOUR_ENV,
    RemovalPullRequestConfig,
    configured_credit_rate,
)
from metapipeline.platform.unused import ARCHIVED_NOW, Downstream, UnusedModel

MANIFEST: dict[str, Any] = {"metadata": {"project_name": "shop"}, "nodes": {}}
CHANGE = ChangeSet(files={"models/gone.sql": None, "models/stale.sql": None})
GONE = UnusedModel("model.shop.gone", "gone", "models/gone.sql", "jane.doe@shop.example", ())
STALE = UnusedModel(
    "model.shop.stale",
    "stale",
    "models/stale.sql",
    "@data-team",
    (
        Downstream("mode.report.a1b2", "mode_report", ARCHIVED_NOW),
        Downstream("mode.report.c3d4", "mode_report", "archived in Mode"),
    ),
)


def body(run_info: dict[str, ModelRunInfo] | None = None, **options: Any) -> str:
    return removal_pr_text([GONE, STALE], run_info or {}, MANIFEST, change=CHANGE, **options)[1]


def test_owner_emails_are_plain_text_and_mentions_ping_no_one():
    text = body()
    assert "\u2060" not in text  # no invisible character anywhere
    assert "| jane.doe@shop.example |" in text  # a letter before the @: GitHub sees no mention
    assert "| `@data-team` |" in text  # a mention in a code span notifies no one


def test_the_body_says_what_the_removal_saves_a_month():
    run_info = {
        GONE.unique_id: ModelRunInfo(datetime(2026, 11, 30, tzinfo=UTC), 60.0, month_s=5400.0),
        STALE.unique_id: ModelRunInfo(None, None, month_s=1800.0),
    }
    assert "**Saves** about 2 h 0 min of warehouse time a month: their dbt runs in the last 30 days" in body(
        run_info
    )
    priced = body(run_info, credits_per_hour=1.5)
    assert "2 h 0 min of warehouse time a month (3.00 credits at 1.5 an hour)" in priced
    assert "Saves" not in body()  # no run history of them: no figure made up


def test_a_model_going_because_its_report_was_archived_this_run_is_warned_about():
    text = body()
    section = text.split("### Reports archived in this run\n\n")[1].split("\n### ")[0]
    assert "will not bring its models back" in section
    assert "- stale: mode.report.a1b2\n" in section + "\n"  # only the report archived in this run
    assert "gone:" not in section and "c3d4" not in section


@pytest.mark.parametrize(
    ("configured", "env", "rate"),
    [(None, None, None), (None, "2.5", 2.5), (4.0, "2.5", 4.0), (None, "x", None)],
)
def test_the_credit_rate_comes_from_the_op_config_or_the_environment(monkeypatch, configured, env, rate):
    if env is None:
        monkeypatch.delenv(CREDITS_PER_HOUR_ENV, raising=False)
    else:
        monkeypatch.setenv(CREDITS_PER_HOUR_ENV, env)
    assert RemovalPullRequestConfig(credits_per_hour=configured).credit_rate() == rate


def test_with_a_credit_rate_each_removed_model_has_its_monthly_cost():
    run_info = {GONE.unique_id: ModelRunInfo(datetime(2026, 11, 30, tzinfo=UTC), 60.0, month_s=5400.0)}
    rows = [line for line in body(run_info, credits_per_hour=2.0).splitlines() if line.startswith("| ")]
    assert rows[0] == "| model | owner | last run | run time | credits a month | why it is unused |"
    assert rows[1].startswith("| gone | jane.doe@shop.example | 2026-11-30 | 60.0 s | 3.00 |")  # 1.5 h x 2
    assert rows[2].startswith("| stale | `@data-team` | never | n/a | n/a |")  # no run history: no figure
    assert "credits a month" not in body(run_info)  # no rate: time only


@pytest.mark.parametrize(
    ("run_config", "rate"),
    [
        ({}, 2.5),
        ({"ops": {"github": {"ops": {"removal_pull_request": {"config": {"credits_per_hour": 4.0}}}}}}, 4.0),
    ],
)
def test_the_report_prices_run_time_at_the_removal_pull_requests_rate(monkeypatch, run_config, rate):
    monkeypatch.setenv(CREDITS_PER_HOUR_ENV, "2.5")
    assert configured_credit_rate(run_config) == rate
