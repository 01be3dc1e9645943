"""Each client against its emulator when one kind of request misbehaves: what is retried, what is not.

Fast and deterministic companions of the fault suite (`run_fault_suite.py`), one per bug it found:
a garbled answer to a write must neither be repeated into a duplicate nor be recorded as something
else, and a hiccup on a call that posts nothing must not fail the run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from metapipeline.actions import pull_requests
from metapipeline.actions.dbt_changes import ChangeSet
from metapipeline.actions.mode_lifecycle import LifecyclePlan, PlannedAction, apply_plan
from metapipeline.actions.pull_requests import GitHubPublishError, fetch_project, publish
from metapipeline.actions.slack import SlackPoster, SlackPostError
from metapipeline.mode.client import ModeClient
from metapipeline.orchestration.resources import GitHubResource
from metapipeline.sandbox.faults import FaultSettings
from metapipeline.sandbox.github_emulator import DEFAULT_REPOSITORY, DEFAULT_TOKEN, GitHubEmulator
from metapipeline.sandbox.harness import EmulatorServer, Request
from metapipeline.sandbox.mode_emulator import ModeEmulator, mode_client
from metapipeline.sandbox.sample import DBT_PROJECT_DIR
from metapipeline.sandbox.slack_emulator import SlackEmulator, SlackError
from metapipeline.store.ledger import Ledger

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BRANCH = "metapipeline/remove-unused-models"
MODEL = "models/marts/marketing/fct_app_funnel.sql"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    store = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    yield store
    store.close()


@pytest.fixture
def serve() -> Iterator:
    servers: list[EmulatorServer] = []

    def start(emulator, **faults) -> EmulatorServer:
        server = EmulatorServer(emulator, FaultSettings(**faults) if faults else None)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


# -- Slack -------------------------------------------------------------------------------------------


def _charts(tmp_path: Path) -> list[Path]:
    charts = []
    for name in ("models_run_per_day", "top_models_by_importance"):
        path = tmp_path / f"{name}.png"
        path.write_bytes(PNG + name.encode())
        charts.append(path)
    return charts


def _poster(server: EmulatorServer) -> SlackPoster:
    env = server.emulator.env(server.base_url)
    return SlackPoster(env["SLACK_BOT_TOKEN"], env["SLACK_CHANNEL"], base_url=env["SLACK_API_URL"])


class HistoryGoesDown(SlackEmulator):
    """conversations.history answers `answers` times, then fails (ok: false, which is not retried)."""

    def __init__(self, *args: Any, answers: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.answers = answers

    def _history(self, request: Request, args: dict[str, Any]) -> dict[str, Any]:
        if self.answers <= 0:
            raise SlackError("fatal_error")
        self.answers -= 1
        return super()._history(request, args)


def _images(message: dict) -> list[str]:
    return [b["slack_file"]["id"] for b in message["blocks"] or [] if b["type"] == "image"]


@pytest.mark.parametrize("fault", ["rate_5xx", "rate_drop", "rate_malformed", "rate_429"])
def test_slack_calls_that_post_nothing_are_retried(serve, tmp_path, ledger, fault):
    # A third of the reads, upload URLs, uploads and completions fail: the post still lands, once.
    server = serve(
        SlackEmulator(tmp_path / "slack"),
        path_pattern=r"conversations\.(list|history)|getUploadURLExternal|/upload/|completeUploadExternal",
        retry_after_s=0,
        seed=1,
        **{fault: 0.3},
    )
    post = _poster(server).post("run-1:meta-analysis", "*report*", _charts(tmp_path), ledger)
    assert server.stats()[f"fault_{fault.removeprefix('rate_')}"] > 0
    (message,) = server.emulator.messages()
    assert (message["ts"], len(_images(message))) == (post.ts, 2)


def test_delayed_shares_and_lost_answers_post_exactly_one_message(serve, tmp_path, ledger):
    # Every answer to the completion and to the post is lost, and shares show late (the default):
    # the post is found again by its metadata, not by the files' shares.
    server = serve(
        SlackEmulator(tmp_path / "slack"),
        path_pattern=r"completeUploadExternal|chat\.postMessage",
        rate_malformed=1.0,
    )
    assert server.emulator.share_delay_s > 0
    post = _poster(server).post("run-1:meta-analysis", "*report*", _charts(tmp_path), ledger)
    (message,) = server.emulator.messages()
    assert (post.ts, post.reused) == (message["ts"], True)
    assert ledger.slack_post("run-1:meta-analysis") == (post.channel_id, post.ts)
    assert len(_images(message)) == 2 and server.stats()["fault_malformed"] == 2
    again = _poster(server).post("run-1:meta-analysis", "*report*", _charts(tmp_path), ledger)
    assert (again.ts, len(server.emulator.messages())) == (post.ts, 1)


def test_a_post_whose_answer_was_garbled_is_found_not_posted_again(serve, tmp_path, ledger):
    server = serve(SlackEmulator(tmp_path / "slack"), path_pattern=r"chat\.postMessage", rate_malformed=1.0)
    post = _poster(server).post("run-1:meta-analysis", "*report*", _charts(tmp_path), ledger)
    (message,) = server.emulator.messages()  # it landed the first time; the history says so
    assert post.ts == message["ts"] and ledger.slack_post("run-1:meta-analysis") == (post.channel_id, post.ts)
    # channels, history, 2 x (URL, upload), completion, post, history
    assert server.stats()["requests"] == 1 + 1 + 2 * 2 + 1 + 1 + 1


def test_a_post_dropped_before_slack_took_it_is_posted_once(serve, tmp_path, ledger):
    server = serve(
        SlackEmulator(tmp_path / "slack"), path_pattern=r"chat\.postMessage", rate_drop=0.5, seed=1
    )
    # seed 1: the first post is dropped, the second goes through
    post = _poster(server).post("run-1:meta-analysis", "*report*", _charts(tmp_path), ledger)
    (message,) = server.emulator.messages()
    assert (post.ts, server.stats()["fault_drop"]) == (message["ts"], 1)


def test_nothing_is_posted_while_the_history_cannot_be_read(serve, tmp_path, ledger):
    server = serve(HistoryGoesDown(tmp_path / "slack", answers=0))
    with pytest.raises(
        SlackPostError, match=r"conversations\.history cannot tell whether run-1:meta-analysis"
    ):
        _poster(server).post("run-1:meta-analysis", "*report*", _charts(tmp_path), ledger)
    assert server.emulator.messages() == []


def test_when_slack_cannot_tell_whether_it_posted_nothing_is_posted_again(serve, tmp_path, ledger):
    server = serve(
        HistoryGoesDown(tmp_path / "slack", answers=1), path_pattern=r"chat\.postMessage", rate_malformed=1.0
    )
    with pytest.raises(
        SlackPostError, match=r"chat\.postMessage failed .* conversations\.history cannot tell"
    ):
        _poster(server).post("run-1:meta-analysis", "*report*", _charts(tmp_path), ledger)
    assert len(server.emulator.messages()) == 1  # it did land, once
    assert ledger.slack_post("run-1:meta-analysis") is None


def test_a_retried_step_finds_the_post_its_first_try_could_not_confirm(serve, tmp_path, ledger):
    # The first try posts, loses the answer and cannot read the history: it fails. The step's retry
    # (same key) reads it, finds the message and records it instead of posting a second one.
    server = serve(
        HistoryGoesDown(tmp_path / "slack", answers=1), path_pattern=r"chat\.postMessage", rate_malformed=1.0
    )
    with pytest.raises(SlackPostError):
        _poster(server).post("run-1:meta-analysis", "*report*", _charts(tmp_path), ledger)
    server.faults.configure(FaultSettings())
    server.emulator.answers = 10
    again = _poster(server).post("run-1:meta-analysis", "*report*", _charts(tmp_path), ledger)
    (message,) = server.emulator.messages()
    assert (again.reused, again.ts) == (True, message["ts"])


def test_a_retried_step_posts_when_its_first_try_surely_did_not(serve, tmp_path, ledger):
    server = serve(SlackEmulator(tmp_path / "slack"), path_pattern=r"chat\.postMessage", rate_5xx=1.0)
    with pytest.raises(SlackPostError, match="failed 3 times, nothing was posted"):
        _poster(server).post("run-1:meta-analysis", "*report*", _charts(tmp_path), ledger)
    assert server.emulator.messages() == []
    server.faults.configure(FaultSettings())
    again = _poster(server).post("run-1:meta-analysis", "*report*", _charts(tmp_path), ledger)
    (message,) = server.emulator.messages()
    assert (again.reused, again.ts) == (False, message["ts"])
    assert _poster(server).post("run-1:meta-analysis", "*report*", [], ledger).reused


def test_a_refused_post_fails_clearly_without_a_retry(serve, tmp_path, ledger):
    server = serve(SlackEmulator(tmp_path / "slack"))
    with pytest.raises(SlackPostError, match=r"chat\.postMessage refused the message: msg_too_long"):
        _poster(server).post("run-1:failure", "x" * 40_001, [], ledger)
    assert server.emulator.messages() == []
    assert server.stats()["requests"] == 3  # channels, history, one post


# -- GitHub ------------------------------------------------------------------------------------------


@pytest.fixture
def no_pause(monkeypatch):
    monkeypatch.setattr(pull_requests, "_pause", lambda attempt: None)


def _repo(server: EmulatorServer):
    """The repository as the product opens it (its retries), without PyGithub's pauses between writes."""
    return GitHubResource(
        token=DEFAULT_TOKEN,
        repository=DEFAULT_REPOSITORY,
        api_url=server.base_url,
        seconds_between_requests=0,
        seconds_between_writes=0,
    ).repo()


def _publish(repo):
    change = ChangeSet(files={MODEL: None}, before={MODEL: (DBT_PROJECT_DIR / MODEL).read_text()})
    return publish(
        repo, change, branch=BRANCH, title="Remove unused models", body="Why.",
        labels=["metapipeline", "dbt-cleanup"], dry_run=False, now=NOW,
    )  # fmt: skip


def _pulls(server: EmulatorServer) -> list[dict]:
    return server.emulator.pull_requests()


def test_a_pull_request_opened_with_a_lost_answer_is_finished_not_opened_twice(serve, tmp_path, no_pause):
    server = serve(
        GitHubEmulator(tmp_path / "analytics.git", seed_dir=DBT_PROJECT_DIR),
        path_pattern=r"/pulls$",
        method_pattern="POST",
        rate_malformed=1.0,
    )
    result = _publish(_repo(server))
    (pull,) = _pulls(server)
    assert result.action == "opened" and result.url and result.url.endswith(f"/pull/{pull['number']}")
    assert sorted(label for label in pull["labels"]) == ["dbt-cleanup", "metapipeline"]
    assert server.stats()["fault_malformed"] == 1  # one POST: the retry found it open


@pytest.mark.parametrize("fault", ["rate_5xx", "rate_drop", "rate_malformed"])
def test_publishing_survives_hiccups_on_every_kind_of_request(serve, tmp_path, no_pause, fault):
    server = serve(
        GitHubEmulator(tmp_path / "analytics.git", seed_dir=DBT_PROJECT_DIR), seed=11, **{fault: 0.1}
    )
    repo = _repo(server)
    result = _publish(repo)
    (pull,) = _pulls(server)
    assert (result.action, pull["head_ref"], pull["state"]) == ("opened", BRANCH, "open")
    assert sorted(pull["labels"]) == ["dbt-cleanup", "metapipeline"]
    assert _publish(repo).action == "unchanged"
    assert len(_pulls(server)) == 1


def test_a_truncated_archive_is_downloaded_again(serve, tmp_path, no_pause):
    server = serve(
        GitHubEmulator(tmp_path / "analytics.git", seed_dir=DBT_PROJECT_DIR),
        path_pattern=r"^/_codeload/",
        rate_malformed=0.5,
        seed=1,  # the first download is cut short
    )
    project = fetch_project(_repo(server))
    assert MODEL in project.files
    assert server.stats()["fault_malformed"] >= 1


def test_github_failures_that_last_name_github_and_the_branch(serve, tmp_path, no_pause):
    server = serve(
        GitHubEmulator(tmp_path / "analytics.git", seed_dir=DBT_PROJECT_DIR),
        path_pattern=r"/git/trees$",
        method_pattern="POST",
        rate_malformed=1.0,
    )
    with pytest.raises(GitHubPublishError, match=f"GitHub failed while publishing branch {BRANCH}"):
        _publish(_repo(server))
    assert _pulls(server) == []


# -- Mode --------------------------------------------------------------------------------------------


def _mode_client(server: EmulatorServer) -> ModeClient:
    return mode_client(server, requests_per_second=0, max_backoff_seconds=0.01)


def test_a_delete_whose_answer_was_garbled_is_recorded_as_our_delete(
    serve, tmp_path, ledger, sample_workspace
):
    # 5f0c8a3e6b19 is archived in the sample; the first DELETE lands but its answer is cut short,
    # the retry finds nothing to delete (404): that is our delete, not someone else's ("gone").
    server = serve(
        ModeEmulator(sample_workspace, rate_limit=None, data_dir=tmp_path / "mode"),
        method_pattern="DELETE",
        rate_malformed=1.0,
    )
    plan = LifecyclePlan(
        actions=[
            PlannedAction("5f0c8a3e6b19", "Courier Shift Planner", "delete", "archived 40 days ago"),
            PlannedAction("4c7e2a9f0d15", "2023 Planning Deck", "archive", "no run for 420 days"),
        ]
    )
    client = _mode_client(server)
    outcome = apply_plan(plan, client, ledger, run_id="run-1", now=NOW, dry_run=False)
    assert [(a.action, a.report_token) for a in outcome.done] == [
        ("delete", "5f0c8a3e6b19"),
        ("archive", "4c7e2a9f0d15"),
    ]
    recorded = [(a.action, a.report_token) for a in ledger.actions(client.workspace)]
    assert sorted(recorded) == sorted((a.action, a.report_token) for a in outcome.done)
    history = [
        json.loads(line) for line in (tmp_path / "mode" / "mode_history.jsonl").read_text().splitlines()
    ]
    assert [(h["action"], h["report"], h["changed"]) for h in history] == [
        ("delete", "5f0c8a3e6b19", True),
        ("archive", "4c7e2a9f0d15", True),
    ]


def test_a_report_someone_else_deleted_is_still_gone(serve, tmp_path, ledger, sample_workspace):
    server = serve(ModeEmulator(sample_workspace, rate_limit=None, data_dir=tmp_path / "mode"))
    client = _mode_client(server)
    client.request("DELETE", client.workspace_path("reports", "5f0c8a3e6b19"))  # a person, first
    plan = LifecyclePlan(
        actions=[PlannedAction("5f0c8a3e6b19", "Courier Shift Planner", "delete", "archived 40 days ago")]
    )
    outcome = apply_plan(plan, client, ledger, run_id="run-1", now=NOW, dry_run=False)
    assert [(a.action, a.report_token) for a in outcome.done] == [("gone", "5f0c8a3e6b19")]
