"""Publishing change sets against the GitHub emulator: PyGithub over HTTP, real git underneath."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import github
import pytest
from github import Auth, GithubException
from github.Repository import Repository

from metapipeline.actions import dbt_changes, exposures
from metapipeline.actions.dbt_changes import ChangeSet, UnsafePathError
from metapipeline.actions.dbt_changes.pr_text import models_removed
from metapipeline.actions.pull_requests import (
    close_obsolete,
    default_head,
    fetch_file,
    inputs_fingerprint,
    merged_pulls,
    publish,
    unchanged_pull_request,
)
from metapipeline.sandbox.github.repos import CONTENTS_INLINE_LIMIT
from metapipeline.sandbox.github_emulator import DEFAULT_REPOSITORY, DEFAULT_TOKEN, GitHubEmulator
from metapipeline.sandbox.harness import EmulatorServer
from metapipeline.sandbox.sample import DBT_PROJECT_DIR

BRANCH = "metapipeline/remove-unused-models"
MODEL = "models/marts/marketing/fct_app_funnel.sql"
PROPERTIES = "models/marts/marketing/_marketing__models.yml"
NEW_FILE = "models/exposures/mode/_mode__exposures.yml"


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    return tmp_path / "analytics.git"


@pytest.fixture
def server(repo_dir: Path) -> Iterator[EmulatorServer]:
    running = EmulatorServer(GitHubEmulator(repo_dir, seed_dir=DBT_PROJECT_DIR))
    running.start()
    yield running
    running.stop()


@pytest.fixture
def repo(server: EmulatorServer) -> Repository:
    client = github.Github(
        base_url=server.base_url,
        auth=Auth.Token(DEFAULT_TOKEN),
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    return client.get_repo(DEFAULT_REPOSITORY)


def git(repo_dir: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo_dir), *args], capture_output=True, text=True, check=True
    ).stdout


def change_set(repo_dir: Path, note: str = "retired") -> ChangeSet:
    properties = git(repo_dir, "show", f"main:{PROPERTIES}")
    return ChangeSet(
        files={MODEL: None, PROPERTIES: properties + f"# {note}\n", NEW_FILE: "exposures: []\n"},
        before={MODEL: git(repo_dir, "show", f"main:{MODEL}"), PROPERTIES: properties, NEW_FILE: None},
    )


def run(repo: Repository, change: ChangeSet, **options) -> object:
    options.setdefault("dry_run", False)
    options.setdefault("body", "Why.")
    return publish(
        repo, change, branch=BRANCH, title="Remove unused models", labels=["metapipeline"], **options
    )


def test_first_run_opens_then_unchanged_then_a_moved_change_updates_the_same_pull(repo, repo_dir, server):
    main_before = git(repo_dir, "rev-parse", "main")
    change = change_set(repo_dir)
    opened = run(repo, change)
    assert opened.action == "opened" and opened.url.endswith("/pull/1")
    assert sorted(git(repo_dir, "diff", "--name-status", f"main..{BRANCH}").splitlines()) == sorted(
        [f"A\t{NEW_FILE}", f"D\t{MODEL}", f"M\t{PROPERTIES}"]
    )
    patch = git(repo_dir, "diff", f"main..{BRANCH}", "--", PROPERTIES).splitlines()
    assert [line for line in patch if line[:1] in "+-" and line[:3] not in ("+++", "---")] == ["+# retired"]
    assert git(repo_dir, "show", f"{BRANCH}:{PROPERTIES}") == change.files[PROPERTIES]
    assert git(repo_dir, "rev-parse", "main") == main_before  # never the default branch
    pull = repo.get_pull(1)
    assert [label.name for label in pull.labels] == ["metapipeline"]
    assert "metapipeline:change-set" in pull.body and opened.diff_text == change.diff()

    head = git(repo_dir, "rev-parse", BRANCH)
    again = run(repo, change_set(repo_dir))
    assert (again.action, again.url) == ("unchanged", opened.url)
    assert git(repo_dir, "rev-parse", BRANCH) == head

    moved = change_set(repo_dir, note="retired in 2024")
    updated = run(repo, moved)
    assert (updated.action, updated.url) == ("updated", opened.url)
    assert git(repo_dir, "show", f"{BRANCH}:{PROPERTIES}") == moved.files[PROPERTIES]
    assert git(repo_dir, "rev-list", "--count", f"main..{BRANCH}").strip() == "1"  # rebuilt, one commit
    assert moved.content_hash() in repo.get_pull(1).body
    assert [p.number for p in repo.get_pulls(state="all")] == [1]


def test_a_pull_closed_without_merging_is_respected_for_a_while(repo, repo_dir, server):
    run(repo, change_set(repo_dir))
    server.emulator.close_pull(1)
    skipped = run(repo, change_set(repo_dir, note="other"))
    assert skipped.action == "skipped_closed" and skipped.url.endswith("/pull/1")
    later = run(repo, change_set(repo_dir, note="other"), now=datetime.now(UTC) + timedelta(days=31))
    assert later.action == "opened" and later.url.endswith("/pull/2")


def test_dry_run_writes_nothing(repo, repo_dir):
    refs = git(repo_dir, "for-each-ref")
    change = change_set(repo_dir)
    result = run(repo, change, dry_run=True)
    assert (result.action, result.would, result.url) == ("dry_run", "opened", None)
    assert f"+++ b/{NEW_FILE}" in result.diff_text and f"--- a/{MODEL}" in result.diff_text
    assert "Why." in result.body
    assert git(repo_dir, "for-each-ref") == refs
    assert list(repo.get_pulls(state="all")) == []


def test_commits_people_pushed_onto_the_branch_are_not_overwritten(repo, repo_dir):
    run(repo, change_set(repo_dir))
    head = repo.get_git_ref(f"heads/{BRANCH}")
    parent = repo.get_git_commit(head.object.sha)
    mine = repo.create_git_commit("Keep fct_app_funnel after all", parent.tree, [parent])
    head.edit(mine.sha)
    result = run(repo, change_set(repo_dir, note="moved"))
    assert result.action == "skipped_edited"
    assert git(repo_dir, "rev-parse", BRANCH).strip() == mine.sha


def test_nothing_to_change_and_the_default_branch_are_refused_or_skipped(repo):
    assert run(repo, ChangeSet()).action == "no_change"
    with pytest.raises(ValueError, match="new branch"):
        publish(repo, ChangeSet({"x": "y"}), branch="main", title="t", body="b", labels=[], dry_run=False)


def test_the_commit_goes_on_the_head_the_change_was_planned_on(repo, repo_dir):
    planned_on = default_head(repo)
    assert planned_on == git(repo_dir, "rev-parse", "main").strip()
    # Someone pushes to main after the project was read: the change must not land on their commit.
    parent = repo.get_git_commit(planned_on)
    theirs = repo.create_git_commit("Someone else's work", parent.tree, [parent])
    repo.get_git_ref("heads/main").edit(theirs.sha)
    run(repo, change_set(repo_dir), base=planned_on)
    assert git(repo_dir, "rev-parse", f"{BRANCH}^").strip() == planned_on


def test_one_file_is_read_at_a_commit_even_past_the_contents_api_limit(repo, repo_dir):
    head = default_head(repo)
    assert fetch_file(repo, PROPERTIES, ref=head) == git(repo_dir, "show", f"main:{PROPERTIES}")
    assert fetch_file(repo, NEW_FILE, ref=head) is None
    with pytest.raises(UnsafePathError, match="directory"):
        fetch_file(repo, "models/marts", ref=head)
    large = "exposures:\n" + "".join(f"  - name: mode_{i:08d}  # é\n" for i in range(40_000))
    assert len(large.encode()) > CONTENTS_INLINE_LIMIT
    run(repo, ChangeSet(files={NEW_FILE: large}, before={NEW_FILE: None}))
    branch_head = git(repo_dir, "rev-parse", BRANCH).strip()
    assert repo.get_contents(NEW_FILE, ref=branch_head).encoding == "none"  # as GitHub answers
    assert fetch_file(repo, NEW_FILE, ref=branch_head) == large


def test_an_open_pull_is_recognised_by_the_change_it_carries(repo, repo_dir, server):
    change = change_set(repo_dir)
    opened = run(repo, change)
    assert unchanged_pull_request(repo, BRANCH, change.content_hash()) == opened.url
    assert unchanged_pull_request(repo, BRANCH, change_set(repo_dir, "other").content_hash()) is None
    server.emulator.close_pull(1)
    assert unchanged_pull_request(repo, BRANCH, change.content_hash()) is None


def test_inputs_fingerprint_changes_with_any_input_or_the_planning_code():
    manifest = {"nodes": {"model.a": {"name": "a"}}}
    same = inputs_fingerprint("sha1", manifest, ("model.a",), code=[dbt_changes])
    assert same == inputs_fingerprint(
        "sha1", {"nodes": {"model.a": {"name": "a"}}}, ("model.a",), code=[dbt_changes]
    )
    assert same != inputs_fingerprint("sha2", manifest, ("model.a",), code=[dbt_changes])
    assert same != inputs_fingerprint(
        "sha1", {"nodes": {"model.a": {"name": "b"}}}, ("model.a",), code=[dbt_changes]
    )
    assert same != inputs_fingerprint("sha1", manifest, ("model.a", "model.b"), code=[dbt_changes])
    assert same != inputs_fingerprint("sha1", manifest, ("model.a",), code=[exposures])
    # Parts are digested one by one: moving a value from one part to the next is another input.
    assert inputs_fingerprint("ab", "c") != inputs_fingerprint("a", "bc")


def test_a_body_past_githubs_limit_is_cut_and_the_pull_still_opens_once(repo, repo_dir):
    long_body = "\n".join(f"| model_{i:05d} | owner | never |" for i in range(5_000))  # ~150,000 characters
    change = change_set(repo_dir)
    opened = run(repo, change, body=long_body)
    body = repo.get_pull(1).body
    assert opened.action == "opened" and len(body) <= 65_536
    assert body.startswith("| model_00000 |") and "GitHub takes at most 65,536 characters" in body
    assert change.content_hash() in body  # the marker survives the cut: a re-run is recognised
    assert run(repo, change, body=long_body).action == "unchanged"


def test_the_emulator_refuses_a_body_past_githubs_limit_as_github_does(repo, repo_dir):
    run(repo, change_set(repo_dir))
    pull = repo.get_pull(1)
    with pytest.raises(GithubException) as refused:
        pull.edit(title="changed", body="x" * 65_537)
    assert refused.value.status == 422 and "body is too long (maximum is 65536 characters)" in str(
        refused.value
    )
    assert repo.get_pull(1).title == "Remove unused models"  # a refused edit changes nothing


WHY = "metapipeline closes this pull request: nothing is left to propose."


def close(repo: Repository, **options) -> object:
    options.setdefault("dry_run", False)
    return close_obsolete(repo, branch=BRANCH, comment=WHY, **options)


def test_nothing_left_to_propose_closes_the_open_pull_with_a_comment_once(repo, repo_dir):
    opened = run(repo, change_set(repo_dir))
    refs = git(repo_dir, "for-each-ref")
    would = close(repo, dry_run=True)
    assert (would.action, would.would, would.url, would.body) == ("dry_run", "closed", opened.url, WHY)
    assert repo.get_pull(1).state == "open" and git(repo_dir, "for-each-ref") == refs

    closed = close(repo)
    assert (closed.action, closed.url) == ("closed", opened.url)
    pull = repo.get_pull(1)
    assert (pull.state, pull.merged) == ("closed", False)
    assert [c.body for c in pull.get_issue_comments()] == [WHY]
    assert git(repo_dir, "branch", "--list", BRANCH).strip()  # the branch stays, for the record
    assert close(repo).action == "no_change"  # nothing open: no second comment
    assert pull.get_issue_comments().totalCount == 1

    # metapipeline closed it, nobody said no: what comes up later is proposed again at once.
    again = run(repo, change_set(repo_dir, note="used no more"))
    assert again.action == "opened" and again.url.endswith("/pull/2")


def test_a_pull_people_pushed_onto_is_theirs_to_close(repo, repo_dir):
    run(repo, change_set(repo_dir))
    head = repo.get_git_ref(f"heads/{BRANCH}")
    parent = repo.get_git_commit(head.object.sha)
    head.edit(repo.create_git_commit("Keep fct_app_funnel after all", parent.tree, [parent]).sha)
    assert close(repo).action == "skipped_edited"
    assert repo.get_pull(1).state == "open" and repo.get_pull(1).get_issue_comments().totalCount == 0


def test_no_open_pull_is_nothing_to_close(repo):
    assert close(repo).action == "no_change"


def test_merged_removals_are_read_back_with_how_many_models_their_title_says(repo, repo_dir, server):
    start = datetime.now(UTC) - timedelta(minutes=1)
    opened = publish(
        repo, change_set(repo_dir), branch=BRANCH, title="Remove 3 unused dbt models", body="Why.",
        labels=[], dry_run=False,
    )  # fmt: skip
    assert merged_pulls(repo, BRANCH, since=start) == []  # open, not merged
    server.emulator.merge_pull(int(opened.url.rsplit("/", 1)[1]))
    merged = merged_pulls(repo, BRANCH, since=start)
    assert [(title, models_removed(title)) for _, title in merged] == [("Remove 3 unused dbt models", 3)]
    assert (
        merged_pulls(repo, BRANCH, since=datetime.now(UTC) + timedelta(minutes=1)) == []
    )  # before the window
    assert models_removed("Remove 1 unused dbt model") == 1 and models_removed("Tidy up models") is None
