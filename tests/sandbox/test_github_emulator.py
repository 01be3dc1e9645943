"""The GitHub emulator speaks enough of GitHub's REST API for PyGithub's pull-request flow, over real HTTP,
with real git objects underneath."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import github
import pytest
import requests
from github import Auth, GithubException, GithubRetry, InputGitTreeElement
from github.Repository import Repository

from metapipeline.sandbox.faults import FaultSettings
from metapipeline.sandbox.github.git import at_or_under
from metapipeline.sandbox.github_emulator import DEFAULT_TOKEN, GitHubEmulator
from metapipeline.sandbox.harness import EmulatorServer

SAMPLE_DBT = Path(__file__).resolve().parents[2] / "metapipeline" / "sandbox" / "sample" / "dbt_project"
FULL_NAME = "freshcart/analytics"
MODEL = "models/staging/shop/stg_shop__orders.sql"


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    return tmp_path / "analytics.git"


@pytest.fixture
def start_github(repo_dir: Path) -> Iterator[Callable[..., EmulatorServer]]:
    """Start a GitHub emulator over `repo_dir` (seeded with the sample dbt project), also serving
    `more` repositories ({full name: seed dir}, each in a git dir beside `repo_dir`); stop it after."""
    servers: list[EmulatorServer] = []

    def start(
        faults: FaultSettings | None = None, more: dict[str, Path] | None = None, **options: Any
    ) -> EmulatorServer:
        options.setdefault("seed_dir", SAMPLE_DBT)
        emulator = GitHubEmulator(repo_dir, **options)
        for full_name, seed_dir in (more or {}).items():
            emulator.add_repository(full_name, sibling_git_dir(repo_dir, full_name), seed_dir=seed_dir)
        server = EmulatorServer(emulator, faults)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def sibling_git_dir(repo_dir: Path, full_name: str) -> Path:
    return repo_dir.parent / f"{full_name.partition('/')[2]}.git"


def client(server: EmulatorServer, token: str = DEFAULT_TOKEN, retry: Any = None) -> github.Github:
    # PyGithub waits 0.25 s between requests and 1 s between writes by default; not against loopback.
    return github.Github(
        base_url=server.base_url,
        auth=Auth.Token(token),
        retry=retry,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def git(repo_dir: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo_dir), *args], capture_output=True, text=True, check=True
    ).stdout


def commit_change(repo: Repository, branch: str, files: dict[str, str | None], message: str) -> str:
    """Commit through the Git Data API the way the product does: blobs, a tree on the base, a commit, a ref."""
    head = repo.get_git_ref(f"heads/{branch}")
    parent = repo.get_git_commit(head.object.sha)
    elements = [
        InputGitTreeElement(
            path,
            "100644",
            "blob",
            sha=None if text is None else repo.create_git_blob(text, "utf-8").sha,
        )
        for path, text in files.items()
    ]
    tree = repo.create_git_tree(elements, repo.get_git_tree(parent.tree.sha))
    commit = repo.create_git_commit(message, tree, [parent])
    head.edit(commit.sha)
    return commit.sha


def open_pull(repo: Repository, branch: str, files: dict[str, str | None], **fields: Any) -> Any:
    repo.create_git_ref(f"refs/heads/{branch}", repo.get_branch(repo.default_branch).commit.sha)
    commit_change(repo, branch, files, f"Change {branch}")
    return repo.create_pull(base=repo.default_branch, head=branch, title=f"Update {branch}", **fields)


def test_pull_request_flow_through_pygithub_lands_in_real_git(start_github, repo_dir):
    server = start_github()
    repo = client(server).get_repo(FULL_NAME)
    assert repo.default_branch == "main"
    main_sha = repo.get_branch("main").commit.sha
    assert git(repo_dir, "rev-parse", "main").strip() == main_sha

    repo.create_git_ref("refs/heads/metapipeline/drop-stale", main_sha)
    old_model = repo.get_contents(MODEL, ref="metapipeline/drop-stale")
    assert not isinstance(old_model, list)
    changed = old_model.decoded_content.decode() + "-- reviewed by metapipeline\n"
    new_sha = commit_change(
        repo,
        "metapipeline/drop-stale",
        {MODEL: changed, "models/exposures/_exposures.yml": None},
        "Drop a stale exposure",
    )
    assert repo.get_branch("metapipeline/drop-stale").commit.sha == new_sha

    pull = repo.create_pull(base="main", head="metapipeline/drop-stale", title="Drop stale", body="draft")
    assert (pull.number, pull.state, pull.merged) == (1, "open", False)
    assert (pull.head.ref, pull.head.sha, pull.head.label) == (
        "metapipeline/drop-stale",
        new_sha,
        "freshcart:metapipeline/drop-stale",
    )
    assert pull.base.ref == "main"
    assert pull.user.login == "metapipeline-bot"
    assert pull.mergeable and pull.changed_files == 2 and pull.commits == 1
    assert pull.html_url.endswith("/freshcart/analytics/pull/1")

    pull.edit(body="Removes an exposure nobody opens.")
    pull.add_to_labels("metapipeline", "cleanup")
    pull.create_issue_comment("Impact report: 0 dashboards affected.")

    again = repo.get_pull(1)
    assert again.body == "Removes an exposure nobody opens."
    assert [label.name for label in again.labels] == ["metapipeline", "cleanup"]
    assert [c.body for c in again.get_issue_comments()] == ["Impact report: 0 dashboards affected."]
    assert {label.name for label in repo.get_labels()} == {"metapipeline", "cleanup"}
    found = repo.get_pulls(state="open", head="freshcart:metapipeline/drop-stale", base="main")
    assert [p.number for p in found] == [1]
    assert list(repo.get_pulls(state="closed")) == []

    diff = git(repo_dir, "diff", "--name-status", "main..metapipeline/drop-stale")
    assert sorted(diff.splitlines()) == ["D\tmodels/exposures/_exposures.yml", f"M\t{MODEL}"]
    assert "+-- reviewed by metapipeline" in git(
        repo_dir, "diff", "main..metapipeline/drop-stale", "--", MODEL
    )
    assert (
        git(repo_dir, "log", "-1", "--format=%s", "metapipeline/drop-stale").strip()
        == "Drop a stale exposure"
    )


def test_contents_trees_and_commits_carry_real_git_objects(start_github, repo_dir):
    repo = client(start_github()).get_repo(FULL_NAME)
    model = repo.get_contents(MODEL)
    assert not isinstance(model, list)
    assert model.sha == git(repo_dir, "rev-parse", f"main:{MODEL}").strip()
    assert model.decoded_content.decode() == git(repo_dir, "show", f"main:{MODEL}")

    listing = repo.get_contents("models")
    assert isinstance(listing, list)
    assert {(item.name, item.type) for item in listing} >= {("staging", "dir"), ("exposures", "dir")}

    head = repo.get_git_commit(repo.get_branch("main").commit.sha)
    assert head.message == "Initial commit" and head.parents == []
    tree = repo.get_git_tree(head.tree.sha, recursive=True)
    blobs = {element.path for element in tree.tree if element.type == "blob"}
    assert MODEL in blobs and "dbt_project.yml" in blobs
    assert not any(path.startswith(("target/", "logs/")) or path.endswith(".duckdb") for path in blobs)
    assert blobs == set(git(repo_dir, "ls-tree", "-r", "--name-only", "main").splitlines())

    blob = repo.create_git_blob(base64.b64encode(b"\x00binary").decode(), "base64")
    assert git(repo_dir, "cat-file", "-p", blob.sha) == "\x00binary"


def test_seeding_skips_build_output_and_reuses_an_existing_repository(
    tmp_path, monkeypatch, start_github, repo_dir
):
    project = tmp_path / "project"
    for name in ("models/a.sql", "target/manifest.json", "logs/dbt.log", "dev.duckdb"):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("x\n")
    monkeypatch.chdir(tmp_path)
    start_github(seed_dir=Path("project"))  # relative to where the caller runs
    assert git(repo_dir, "ls-tree", "-r", "--name-only", "main").split() == ["models/a.sql"]
    first = git(repo_dir, "rev-parse", "main")
    start_github(seed_dir=SAMPLE_DBT)  # an existing repository is reused, not reseeded
    assert git(repo_dir, "rev-parse", "main") == first


def test_credentials_are_checked_like_github(start_github):
    server = start_github()
    with pytest.raises(github.BadCredentialsException) as bad:
        client(server, token="wrong").get_repo(FULL_NAME)
    assert bad.value.status == 401 and bad.value.data["message"] == "Bad credentials"

    anonymous = requests.get(f"{server.base_url}/repos/{FULL_NAME}", timeout=5)
    assert anonymous.status_code == 401 and anonymous.json()["message"] == "Requires authentication"
    bearer = requests.get(
        f"{server.base_url}/repos/{FULL_NAME}",
        headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
        timeout=5,
    )
    assert bearer.status_code == 200
    assert int(bearer.headers["x-ratelimit-remaining"]) < int(bearer.headers["x-ratelimit-limit"])


def test_unknown_objects_are_github_404s(start_github):
    gh = client(start_github())
    with pytest.raises(github.UnknownObjectException) as missing_repo:
        gh.get_repo("freshcart/elsewhere")
    assert missing_repo.value.data["message"] == "Not Found"
    repo = gh.get_repo(FULL_NAME)
    with pytest.raises(github.UnknownObjectException):
        repo.get_git_ref("heads/nope")  # not lazy: Github() fetches on construction
    with pytest.raises(github.UnknownObjectException):
        repo.get_contents("models/nope.sql")
    with pytest.raises(github.UnknownObjectException):
        repo.get_pull(42)


def test_existing_ref_is_422_and_non_fast_forward_needs_force(start_github):
    repo = client(start_github()).get_repo(FULL_NAME)
    main_sha = repo.get_branch("main").commit.sha
    repo.create_git_ref("refs/heads/feature", main_sha)
    with pytest.raises(GithubException) as exists:
        repo.create_git_ref("refs/heads/feature", main_sha)
    assert exists.value.status == 422 and exists.value.data["message"] == "Reference already exists"
    assert exists.value.data["errors"]

    ahead = commit_change(repo, "feature", {"notes.md": "hello\n"}, "Add notes")
    feature = repo.get_git_ref("heads/feature")
    with pytest.raises(GithubException) as rewind:
        feature.edit(main_sha)
    assert rewind.value.status == 422 and rewind.value.data["message"] == "Update is not a fast forward"
    assert repo.get_branch("feature").commit.sha == ahead
    feature.edit(main_sha, force=True)
    assert repo.get_branch("feature").commit.sha == main_sha


def test_pull_requests_are_validated_like_github(start_github):
    repo = client(start_github()).get_repo(FULL_NAME)
    open_pull(repo, "feature", {"notes.md": "hello\n"})
    with pytest.raises(GithubException) as duplicate:
        repo.create_pull(base="main", head="feature", title="Again")
    assert duplicate.value.status == 422 and duplicate.value.data["message"] == "Validation Failed"
    assert "already exists" in duplicate.value.data["errors"][0]["message"]

    repo.create_git_ref("refs/heads/empty", repo.get_branch("main").commit.sha)
    with pytest.raises(GithubException) as no_commits:
        repo.create_pull(base="main", head="empty", title="Nothing")
    assert no_commits.value.data["errors"][0]["message"] == "No commits between main and empty"
    with pytest.raises(GithubException) as no_branch:
        repo.create_pull(base="main", head="ghost", title="Nothing")
    assert no_branch.value.data["errors"] == [{"resource": "PullRequest", "field": "head", "code": "invalid"}]


def test_head_filter_needs_the_owner_prefix_like_on_github(start_github):
    repo = client(start_github()).get_repo(FULL_NAME)
    open_pull(repo, "one", {"one.md": "1\n"})
    open_pull(repo, "two", {"two.md": "2\n"})
    assert [p.head.ref for p in repo.get_pulls(head="freshcart:two")] == ["two"]
    # Without "owner:" GitHub silently ignores the filter and lists everything, newest first.
    assert [p.head.ref for p in repo.get_pulls(head="two")] == ["two", "one"]


def test_lists_paginate_with_link_headers(start_github):
    server = start_github()
    repo = client(server).get_repo(FULL_NAME)
    names = [f"area-{i:02d}" for i in range(35)]
    repo.create_label(names[0], "0e8a16")
    # Adding labels to an issue creates the missing ones, as GitHub does: 34 labels, one request.
    open_pull(repo, "feature", {"notes.md": "hello\n"}).add_to_labels(*names)
    assert repo.get_label(names[0]).color == "0e8a16" and repo.get_label(names[1]).color == "ededed"

    labels = repo.get_labels()
    assert [label.name for label in labels] == names
    assert labels.totalCount == 35

    first = requests.get(
        f"{server.base_url}/repos/{FULL_NAME}/labels",
        headers={"Authorization": f"token {DEFAULT_TOKEN}"},
        params={"per_page": 10},
        timeout=5,
    )
    assert len(first.json()) == 10
    assert first.links["next"]["url"].endswith("per_page=10&page=2")
    assert first.links["last"]["url"].endswith("per_page=10&page=4")
    last = requests.get(
        first.links["last"]["url"], headers={"Authorization": f"token {DEFAULT_TOKEN}"}, timeout=5
    )
    assert [label["name"] for label in last.json()] == names[30:]
    assert "next" not in last.links and "first" in last.links


def test_state_survives_a_restart(start_github, repo_dir):
    server = start_github()
    repo = client(server).get_repo(FULL_NAME)
    pull = open_pull(repo, "feature", {"notes.md": "hello\n"}, body="why")
    pull.add_to_labels("metapipeline")
    pull.create_issue_comment("first")
    server.stop()

    repo = client(start_github()).get_repo(FULL_NAME)
    again = repo.get_pull(pull.number)
    assert (again.title, again.body, again.head.sha) == (pull.title, "why", pull.head.sha)
    assert [label.name for label in again.labels] == ["metapipeline"]
    assert [c.body for c in again.get_issue_comments()] == ["first"]
    assert open_pull(repo, "other", {"other.md": "x\n"}).number == pull.number + 1
    assert (repo_dir / "emulator_state.json").exists()


def test_people_merge_and_close_pull_requests(start_github, repo_dir):
    server = start_github()
    emulator = server.emulator
    assert isinstance(emulator, GitHubEmulator)
    repo = client(server).get_repo(FULL_NAME)
    merged = open_pull(repo, "merged", {"notes.md": "hello\n"})
    closed = open_pull(repo, "closed", {"other.md": "bye\n"})
    abandoned = open_pull(repo, "abandoned", {"gone.md": "gone\n"})
    head = merged.head.sha

    merge_sha = emulator.merge_pull(merged.number)
    emulator.close_pull(closed.number)
    repo.get_git_ref("heads/abandoned").delete()  # GitHub closes a pull request whose branch is deleted

    assert git(repo_dir, "rev-parse", "main").strip() == merge_sha
    assert git(repo_dir, "log", "-1", "--format=%P", "main").split()[1] == head
    assert git(repo_dir, "show", "main:notes.md") == "hello\n"
    after = repo.get_pull(merged.number)
    assert (after.state, after.merged, after.merged_by.login, after.merge_commit_sha) == (
        "closed",
        True,
        "analytics-lead",
        merge_sha,
    )
    assert after.changed_files == 1 and after.commits == 1  # still its own changes, not main's
    assert after.is_merged() and not repo.get_pull(closed.number).is_merged()
    assert [p.number for p in repo.get_pulls(state="closed", sort="created", direction="asc")] == [
        merged.number,
        closed.number,
        abandoned.number,
    ]
    assert repo.get_pull(abandoned.number).head.sha == abandoned.head.sha

    with pytest.raises(GithubException) as reopen:
        after.edit(title="Renamed", state="open")
    assert reopen.value.status == 422
    assert repo.get_pull(merged.number).title == merged.title  # a failed write changes nothing
    assert list(repo.get_pulls(state="open")) == []


@pytest.mark.parametrize(
    ("faults", "options"),
    [
        (FaultSettings(rate_5xx=0.5, seed=3), {}),
        (FaultSettings(rate_429=0.5, seed=3, retry_after_s=0), {}),
        (FaultSettings(rate_429=0.5, seed=3, retry_after_s=0), {"rate_limited_status": 403}),
    ],
    ids=["5xx", "429", "403-secondary-limit"],
)
def test_pygithub_retries_reads_through_faults(start_github, faults, options):
    server = start_github(
        faults=FaultSettings(**{**faults.to_dict(), "path_pattern": "/branches/"}), **options
    )
    repo = client(server, retry=GithubRetry(total=10)).get_repo(FULL_NAME)
    assert len(repo.get_branch("main").commit.sha) == 40
    assert sum(count for key, count in server.stats().items() if key.startswith("fault_")) >= 1


def test_unretried_write_under_5xx_raises_a_clean_github_exception(start_github):
    server = start_github(faults=FaultSettings(rate_5xx=1.0, path_pattern=r"/git/refs/"))
    repo = client(server, retry=GithubRetry(total=3)).get_repo(FULL_NAME)
    main_sha = repo.get_branch("main").commit.sha
    # urllib3 does not retry PATCH, so the gateway error reaches the caller as a GithubException.
    ref = repo.get_git_ref("heads/main")
    with pytest.raises(GithubException) as failed:
        ref.edit(main_sha)
    assert failed.value.status in {502, 503, 504}


def test_a_deleted_tree_path_takes_the_file_or_the_directory_it_names_literally():
    paths = sorted(
        ["a/b", "a/b-x.sql", "a/b.sql", "a/b/c.sql", "a/b/d/e.sql", "a/bc.sql", "a/[b]/x.sql", "z.sql"]
    )
    assert at_or_under(paths, "a/b/c.sql") == ["a/b/c.sql"]
    assert at_or_under(paths, "a/b") == ["a/b", "a/b/c.sql", "a/b/d/e.sql"]
    assert at_or_under(paths, "a/[b]") == ["a/[b]/x.sql"]  # not a pathspec glob
    assert at_or_under(paths, "a/missing.sql") == []


# -- several repositories behind one emulator (dbt mesh: one project per repository) ----------------

FINANCE = "freshcart/finance"
FINANCE_MODEL = "models/marts/fct_revenue.sql"
BRANCH = "metapipeline/remove-unused-models"


@pytest.fixture
def finance_project(tmp_path: Path) -> Path:
    project = tmp_path / "finance_project"
    files = {"dbt_project.yml": "name: finance\n", FINANCE_MODEL: "select 1 as revenue\n"}
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    return project


def test_one_emulator_serves_two_repositories_each_with_its_own_files_and_pulls(
    start_github, repo_dir, finance_project
):
    server = start_github(more={FINANCE: finance_project})
    emulator = server.emulator
    assert isinstance(emulator, GitHubEmulator)
    assert emulator.full_names == [FULL_NAME, FINANCE]
    finance_dir = emulator.repository(FINANCE).repo_dir
    gh = client(server)
    analytics, finance = gh.get_repo(FULL_NAME), gh.get_repo(FINANCE)
    assert (finance.full_name, finance.default_branch) == (FINANCE, "main")
    assert gh.get_repo("FreshCart/Finance").full_name == FINANCE  # GitHub ignores case in names

    analytics_pull = open_pull(analytics, BRANCH, {MODEL: None})
    finance_pull = open_pull(finance, BRANCH, {FINANCE_MODEL: None})
    assert (analytics_pull.number, finance_pull.number) == (1, 1)  # GitHub numbers per repository
    assert finance_pull.html_url.endswith("/freshcart/finance/pull/1")
    assert finance_pull.base.repo.full_name == FINANCE and finance_pull.changed_files == 1
    assert git(finance_dir, "ls-tree", "-r", "--name-only", BRANCH).split() == ["dbt_project.yml"]
    assert git(finance_dir, "diff", "--name-status", f"main..{BRANCH}").split() == ["D", FINANCE_MODEL]
    assert git(repo_dir, "diff", "--name-status", f"main..{BRANCH}").split() == ["D", MODEL]
    with pytest.raises(github.UnknownObjectException):
        finance.get_contents(MODEL)  # the other project's files are not there

    analytics_pull.add_to_labels("metapipeline")
    assert [label.name for label in finance.get_labels()] == []
    emulator.merge_pull(1, repository=FINANCE)
    assert finance.get_pull(1).merged and analytics.get_pull(1).state == "open"
    assert [p["state"] for p in emulator.pull_requests(repository=FINANCE)] == ["closed"]
    assert [p["state"] for p in emulator.pull_requests()] == ["open"]  # the primary by default
    assert gh.get_user().login == "metapipeline-bot"


def test_an_unserved_repository_is_githubs_404_on_every_route(start_github, finance_project):
    server = start_github(more={FINANCE: finance_project})
    with pytest.raises(github.UnknownObjectException) as missing:
        client(server).get_repo("freshcart/marketing")
    assert missing.value.status == 404
    assert missing.value.data["message"] == "Not Found" and missing.value.data["documentation_url"]
    pulls = requests.get(
        f"{server.base_url}/repos/freshcart/marketing/pulls",
        headers={"Authorization": f"token {DEFAULT_TOKEN}"},
        timeout=5,
    )
    assert pulls.status_code == 404 and pulls.json()["message"] == "Not Found"


def test_both_repositories_keep_their_state_across_a_restart(start_github, repo_dir, finance_project):
    server = start_github(more={FINANCE: finance_project})
    gh = client(server)
    opened = {}
    for full_name, path in ((FULL_NAME, MODEL), (FINANCE, FINANCE_MODEL)):
        pull = open_pull(gh.get_repo(full_name), BRANCH, {path: None}, body=f"why {full_name}")
        pull.add_to_labels(full_name.partition("/")[2])
        pull.create_issue_comment(f"about {full_name}")
        opened[full_name] = pull
    server.stop()

    gh = client(start_github(more={FINANCE: finance_project}))
    for full_name, pull in opened.items():
        repo = gh.get_repo(full_name)
        again = repo.get_pull(1)
        assert (again.body, again.head.sha) == (f"why {full_name}", pull.head.sha)
        assert [label.name for label in again.labels] == [full_name.partition("/")[2]]
        assert [c.body for c in again.get_issue_comments()] == [f"about {full_name}"]
        assert open_pull(repo, "other", {"other.md": "x\n"}).number == 2
        assert (sibling_git_dir(repo_dir, full_name) / "emulator_state.json").exists()


def test_a_repository_is_added_once_and_in_its_own_git_dir(tmp_path, finance_project):
    emulator = GitHubEmulator(tmp_path / "analytics.git")
    with pytest.raises(ValueError, match="served already"):
        emulator.add_repository("FreshCart/Analytics", tmp_path / "other.git")
    with pytest.raises(ValueError, match="holds freshcart/analytics"):
        emulator.add_repository(FINANCE, tmp_path / "analytics.git")
    with pytest.raises(KeyError):
        emulator.repository(FINANCE)
    emulator.add_repository(FINANCE, tmp_path / "finance.git", seed_dir=finance_project)
    assert emulator.repository(FINANCE).repo_dir == tmp_path / "finance.git"
