"""Publish a `ChangeSet` as one pull request, idempotently, through PyGithub.

One change set gets one branch and at most one open pull request:

- no pull request for the branch yet: a commit is built on the default branch's head through the
  Git Data API (blobs, a tree on `base_tree` with deletions as `sha: null`, a commit, a ref) and a
  pull request is opened;
- an open one whose hidden marker (the change set's content hash, in the body) matches: left alone;
- an open one whose change set moved: the branch is rebuilt on the default head and force-moved, and
  title, body and labels are refreshed; unless someone pushed their own commit onto it, which is
  theirs to keep (`skipped_edited`);
- one closed without merging less than `respect_closed_days` ago: nothing happens, people said no;
- a dry run reads GitHub to say what it would do, and writes nothing.

The default branch is never written to: a branch equal to it is refused before any request.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import requests
from github import GithubException, InputGitTreeElement
from github.PullRequest import PullRequest
from github.Repository import Repository

from metapipeline.actions.dbt_changes import ChangeSet, ProjectFiles, read_archive

Action = Literal["opened", "updated", "unchanged", "skipped_closed", "skipped_edited", "dry_run", "no_change"]

MARKER = "<!-- metapipeline:change-set {} -->"
TRAILER = "Metapipeline-Change: {}"
_MARKER_RE = re.compile(r"<!-- metapipeline:change-set ([0-9a-f]{64}) -->")


@dataclass(frozen=True)
class PublishResult:
    action: Action
    url: str | None
    diff_text: str
    body: str = ""
    would: Action | None = None  # in a dry run: what a real run would have done


def publish(
    repo: Repository,
    change: ChangeSet,
    *,
    branch: str,
    title: str,
    body: str,
    labels: Sequence[str],
    dry_run: bool,
    respect_closed_days: int = 30,
    now: datetime | None = None,
) -> PublishResult:
    default = repo.default_branch
    branch = branch.removeprefix("refs/heads/")
    if not branch or branch == default:
        raise ValueError(
            f"refusing to publish to {branch or 'an empty branch'!r}: changes go to a new branch"
        )
    diff_text = change.diff()
    if not change:
        return PublishResult("no_change", None, diff_text)
    content_hash = change.content_hash()
    full_body = f"{body}\n\n{MARKER.format(content_hash)}\n"
    open_pull, closed_recently = _existing(
        repo, branch, default, now or datetime.now(UTC), respect_closed_days
    )

    would: Action
    if open_pull is not None:
        marker = _MARKER_RE.search(open_pull.body or "")
        if marker and marker.group(1) == content_hash:
            would = "unchanged"
        elif not _ours(repo, branch):
            would = "skipped_edited"
        else:
            would = "updated"
    elif closed_recently is not None:
        would = "skipped_closed"
    else:
        would = "opened"
    existing = open_pull or closed_recently
    url = existing.html_url if existing is not None else None
    if dry_run:
        return PublishResult("dry_run", url, diff_text, full_body, would)
    if would == "opened":
        _commit(repo, change, branch, f"{title}\n\n{TRAILER.format(content_hash)}")
        pull = repo.create_pull(base=default, head=branch, title=title, body=full_body)
        if labels:
            pull.add_to_labels(*labels)
        return PublishResult("opened", pull.html_url, diff_text, full_body)
    if would == "updated" and open_pull is not None:
        _commit(repo, change, branch, f"{title}\n\n{TRAILER.format(content_hash)}")
        open_pull.edit(title=title, body=full_body)
        if labels:
            open_pull.add_to_labels(*labels)
    return PublishResult(would, url, diff_text, full_body)


def _existing(
    repo: Repository, branch: str, default: str, now: datetime, respect_closed_days: int
) -> tuple[PullRequest | None, PullRequest | None]:
    """The open pull request for the branch, and the latest one closed unmerged within the window."""
    # Without "owner:" GitHub ignores the head filter and lists every pull request.
    pulls = repo.get_pulls(state="all", head=f"{repo.owner.login}:{branch}", base=default)
    open_pull = closed = None
    window = timedelta(days=respect_closed_days)
    for pull in pulls:
        if pull.state == "open" and open_pull is None:
            open_pull = pull
        elif pull.state == "closed" and not pull.merged and pull.closed_at is not None:
            closed_at = _closed_at(pull)
            if now - closed_at < window and (closed is None or closed_at > _closed_at(closed)):
                closed = pull
    return open_pull, closed


def _closed_at(pull: PullRequest) -> datetime:
    assert pull.closed_at is not None
    return pull.closed_at if pull.closed_at.tzinfo else pull.closed_at.replace(tzinfo=UTC)


def _ours(repo: Repository, branch: str) -> bool:
    """Whether the branch head is a commit metapipeline made (so moving it loses nobody's work)."""
    head = repo.get_branch(branch).commit.sha
    return TRAILER.format("") in repo.get_git_commit(head).message


def _commit(repo: Repository, change: ChangeSet, branch: str, message: str) -> str:
    """One commit with the whole change on the default branch's head; the branch is (force-)moved."""
    base_sha = repo.get_branch(repo.default_branch).commit.sha
    parent = repo.get_git_commit(base_sha)
    elements = [
        InputGitTreeElement(
            path, "100644", "blob", sha=None if text is None else repo.create_git_blob(text, "utf-8").sha
        )
        for path, text in sorted(change.files.items())
    ]
    tree = repo.create_git_tree(elements, repo.get_git_tree(parent.tree.sha))
    commit = repo.create_git_commit(message, tree, [parent])
    try:
        ref = repo.get_git_ref(f"heads/{branch}")
    except GithubException as error:
        if error.status != 404:
            raise
        repo.create_git_ref(f"refs/heads/{branch}", commit.sha)
    else:
        ref.edit(commit.sha, force=True)
    return commit.sha


def fetch_project(repo: Repository, project_root: str = "", *, timeout: float = 120) -> ProjectFiles:
    """The dbt project's text files on the default branch's head: one tarball, not a request per file."""
    link = repo.get_archive_link("tarball", repo.default_branch)
    response = requests.get(link, timeout=timeout)  # a signed link: no token needed (or sent)
    response.raise_for_status()
    return read_archive(response.content, project_root)
