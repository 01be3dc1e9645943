"""Publish a `ChangeSet` as one pull request, idempotently, through PyGithub.

One change set gets one branch and at most one open pull request:

- no pull request for the branch yet: a commit is built on the default branch's head through the
  Git Data API (a tree on `base_tree` with contents inline and deletions as `sha: null`, a commit,
  a ref) and a pull request is opened;
- an open one whose hidden marker (the change set's content hash, in the body) matches: left alone;
- an open one whose change set moved: the branch is rebuilt on the default head and force-moved, and
  title, body and labels are refreshed; unless someone pushed their own commit onto it, which is
  theirs to keep (`skipped_edited`);
- one closed without merging less than `respect_closed_days` ago: nothing happens, people said no
  (one metapipeline closed itself, because nothing was left to propose, is no such answer);
- nothing left to propose (`close_obsolete`): the open one is closed with a comment saying why (its
  branch stays, for the record), unless someone pushed their own commit onto it;
- a dry run reads GitHub to say what it would do, and writes nothing.

The default branch is never written to: a branch equal to it is refused before any request.

GitHub hiccups: 429s, 5xx and dropped connections are retried per request by the client
(`GitHubResource` sets up `GithubRetry` for writes too); an answer cut short, or a write that a lost
attempt had already made ("already exists"), makes `publish` start over from reading GitHub, a few
seconds later. Every step is safe to repeat (trees and commits are content-addressed, the
branch is force-moved, an open pull request is found by its branch before one is opened, and one
opened by a lost attempt gets its labels), so a repeat never opens a second pull request. What still
fails raises `GitHubPublishError`, which names GitHub and the branch.
"""

from __future__ import annotations

import base64
import hashlib
import json
import pickle
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Literal, TypeVar

import requests
from github import GithubException, InputGitTreeElement, UnknownObjectException
from github.ContentFile import ContentFile
from github.PullRequest import PullRequest
from github.Repository import Repository

from metapipeline.actions.dbt_changes import ChangeSet, ProjectFiles, UnsafePathError, read_archive

T = TypeVar("T")
Action = Literal[
    "opened", "updated", "unchanged", "skipped_closed", "skipped_edited", "dry_run", "no_change", "closed"
]

MARKER = "<!-- metapipeline:change-set {} -->"
TRAILER = "Metapipeline-Change: {}"
BODY_LIMIT = 65_536  # characters GitHub takes in a pull request body (422 past it)
_CUT_NOTE = "\n_The rest is cut: GitHub takes at most 65,536 characters here._\n"
_MARKER_RE = re.compile(r"<!-- metapipeline:change-set ([0-9a-f]{64}) -->")
# Added to the body of a pull request metapipeline closed because nothing was left to propose: a
# later change is proposed again at once (a person closing one means "not now" for a while).
OBSOLETE_MARKER = "<!-- metapipeline:closed-obsolete -->"
ATTEMPTS = 4  # tries of a whole publish (or download) when GitHub hiccups
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# What a GitHub call raises: its errors, a JSON answer cut short, a dropped or timed-out connection.
_GITHUB_ERRORS = (GithubException, json.JSONDecodeError, requests.RequestException)


class GitHubPublishError(RuntimeError):
    """GitHub failed (or kept failing) while a change was being read or published."""


def _transient(error: Exception) -> bool:
    """Whether starting over may work: an answer cut short, or a retried request that a lost attempt
    had already carried out ("Reference already exists"). Rate limits, 5xx and dropped connections
    are retried per request by the client (`GithubRetry`); retrying them here again would multiply
    the requests an outage costs."""
    if isinstance(error, GithubException):
        return error.status == 422 and "already exists" in str(error).lower()
    return isinstance(
        error,
        json.JSONDecodeError
        | requests.exceptions.ChunkedEncodingError
        | requests.exceptions.ContentDecodingError,
    )


def _after(attempt: int) -> str:
    return f" (after {attempt} attempts)" if attempt > 1 else ""


def _pause(attempt: int) -> None:
    time.sleep(min(8.0, 1.0 * 2 ** (attempt - 1)))


def retry_github(what: str, call: Callable[[], T], *, attempts: int = ATTEMPTS) -> T:
    """A read from GitHub, tried again while it fails transiently; then a GitHubPublishError naming `what`."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except _GITHUB_ERRORS as error:
            if attempt < attempts and _transient(error):
                _pause(attempt)
                continue
            raise GitHubPublishError(
                f"GitHub failed while {what}{_after(attempt)}: {type(error).__name__}: {error}"
            ) from error
    raise AssertionError("unreachable")


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
    base: str | None = None,
    attempts: int = ATTEMPTS,
) -> PublishResult:
    """Publish `change` on `branch` (see the module's docstring). `base` pins the commit the change
    was planned on (default: the default branch's head when the commit is made)."""
    default = repo.default_branch
    branch = branch.removeprefix("refs/heads/")
    if not branch or branch == default:
        raise ValueError(
            f"refusing to publish to {branch or 'an empty branch'!r}: changes go to a new branch"
        )
    diff_text = change.diff()
    if not change:
        return PublishResult("no_change", None, diff_text)
    tried: set[Action] = set()  # writes started by earlier attempts (their answer may have been lost)
    for attempt in range(1, attempts + 1):
        try:
            return _publish_once(
                repo, change, default=default, branch=branch, title=title, body=body, labels=labels,
                dry_run=dry_run, respect_closed_days=respect_closed_days, now=now or datetime.now(UTC),
                base=base, tried=tried,
            )  # fmt: skip
        except _GITHUB_ERRORS as error:
            if attempt < attempts and _transient(error):
                _pause(attempt)
                continue
            raise GitHubPublishError(
                f"GitHub failed while publishing branch {branch}{_after(attempt)}: {type(error).__name__}: {error}"
            ) from error
    raise AssertionError("unreachable")


def _publish_once(
    repo: Repository,
    change: ChangeSet,
    *,
    default: str,
    branch: str,
    title: str,
    body: str,
    labels: Sequence[str],
    dry_run: bool,
    respect_closed_days: int,
    now: datetime,
    base: str | None,
    tried: set[Action],
) -> PublishResult:
    diff_text = change.diff()
    content_hash = change.content_hash()
    hidden_marker = f"\n\n{MARKER.format(content_hash)}\n"
    full_body = _cut_to(BODY_LIMIT - len(hidden_marker), body) + hidden_marker
    open_pull, closed_recently = _existing(repo, branch, default, now, respect_closed_days)

    would: Action
    if open_pull is not None:
        if _carries(open_pull, content_hash):
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
        tried.add("opened")
        _commit(repo, change, branch, f"{title}\n\n{TRAILER.format(content_hash)}", base)
        pull = repo.create_pull(base=default, head=branch, title=title, body=full_body)
        if labels:
            pull.add_to_labels(*labels)
        return PublishResult("opened", pull.html_url, diff_text, full_body)
    if would == "updated" and open_pull is not None:
        tried.add("updated")
        _commit(repo, change, branch, f"{title}\n\n{TRAILER.format(content_hash)}", base)
        open_pull.edit(title=title, body=full_body)
        _add_missing_labels(open_pull, labels)
    if would == "unchanged" and open_pull is not None and tried:
        # An earlier attempt opened or updated it, and only its answer was lost: finish its work.
        _add_missing_labels(open_pull, labels)
        would = "opened" if "opened" in tried else "updated"
    return PublishResult(would, url, diff_text, full_body)


def _cut_to(limit: int, body: str) -> str:
    """`body` within `limit` characters: the PR texts keep to their budgets, and this is the last
    guard, since GitHub refuses the whole request past its limit."""
    if len(body) <= limit:
        return body
    kept = body[: limit - len(_CUT_NOTE)]
    return kept[: kept.rfind("\n") + 1] + _CUT_NOTE


def _add_missing_labels(pull: PullRequest, labels: Sequence[str]) -> None:
    # Each write costs a second of PyGithub's spacing: labels already there are not added again.
    missing = [name for name in labels if name not in {label.name for label in pull.labels}]
    if missing:
        pull.add_to_labels(*missing)


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
        elif (
            pull.state == "closed"
            and not pull.merged
            and pull.closed_at is not None
            and OBSOLETE_MARKER not in (pull.body or "")
        ):
            closed_at = _closed_at(pull)
            if now - closed_at < window and (closed is None or closed_at > _closed_at(closed)):
                closed = pull
    return open_pull, closed


def close_obsolete(
    repo: Repository, *, branch: str, comment: str, dry_run: bool, attempts: int = ATTEMPTS
) -> PublishResult:
    """Close the open pull request on `branch`, whose change no longer applies, with `comment` (why).

    `no_change` when none is open; `skipped_edited` when someone pushed their own commit onto it
    (theirs to close); in a dry run, `would` says `closed`. Safe to repeat: a comment a lost attempt
    already posted is not posted twice."""
    branch = branch.removeprefix("refs/heads/")
    closing: str | None = None  # the pull request an attempt started to close (its answer may be lost)

    def close_once() -> PublishResult:
        nonlocal closing
        head = f"{repo.owner.login}:{branch}"
        pull = next(iter(repo.get_pulls(state="open", head=head, base=repo.default_branch)), None)
        if pull is None:
            return (
                PublishResult("no_change", None, "")
                if closing is None
                else PublishResult("closed", closing, "", comment)
            )
        if not _ours(repo, branch):
            return PublishResult("skipped_edited", pull.html_url, "")
        if dry_run:
            return PublishResult("dry_run", pull.html_url, "", comment, would="closed")
        closing = pull.html_url
        if not any(posted.body == comment for posted in pull.get_issue_comments()):
            pull.create_issue_comment(comment)
        body = _cut_to(BODY_LIMIT - len(OBSOLETE_MARKER) - 1, pull.body or "")
        pull.edit(state="closed", body=f"{body}\n{OBSOLETE_MARKER}")
        return PublishResult("closed", pull.html_url, "", comment)

    return retry_github(f"closing the pull request of {branch}", close_once, attempts=attempts)


def merged_pulls(repo: Repository, branch: str, since: datetime) -> list[tuple[datetime, str]]:
    """The pull requests from `branch` merged since `since`: (when, title), oldest first."""

    def read() -> list[tuple[datetime, str]]:
        pulls = repo.get_pulls(state="closed", head=f"{repo.owner.login}:{branch}", base=repo.default_branch)
        merged = [
            (at if at.tzinfo else at.replace(tzinfo=UTC), pull.title)
            for pull in pulls
            if pull.merged and (at := pull.merged_at) is not None
        ]
        return [(at, title) for at, title in merged if at >= since]

    return sorted(retry_github(f"listing the pull requests merged from {branch}", read))


def _closed_at(pull: PullRequest) -> datetime:
    assert pull.closed_at is not None
    return pull.closed_at if pull.closed_at.tzinfo else pull.closed_at.replace(tzinfo=UTC)


def _ours(repo: Repository, branch: str) -> bool:
    """Whether the branch head is a commit metapipeline made (so moving it loses nobody's work)."""
    head = repo.get_branch(branch).commit.sha
    return TRAILER.format("") in repo.get_git_commit(head).message


def _commit(repo: Repository, change: ChangeSet, branch: str, message: str, base: str | None) -> str:
    """One commit with the whole change on `base` (or the default branch's head); the branch is
    (force-)moved."""
    parent = repo.get_git_commit(base or repo.get_branch(repo.default_branch).commit.sha)
    # File contents go inline in the one tree request: a blob per file would be one more write
    # each, and PyGithub spaces writes a second apart (GitHub's secondary rate limit).
    elements = [
        InputGitTreeElement(path, "100644", "blob", sha=None)
        if text is None
        else InputGitTreeElement(path, "100644", "blob", content=text)
        for path, text in sorted(change.files.items())
    ]
    tree = repo.create_git_tree(elements, repo.get_git_tree(parent.tree.sha))
    commit = repo.create_git_commit(message, tree, [parent])
    try:
        ref = repo.get_git_ref(f"heads/{branch}")
    except GithubException as error:
        if error.status != 404:
            raise
        try:
            repo.create_git_ref(f"refs/heads/{branch}", commit.sha)
            return commit.sha
        except GithubException as exists:  # a retried request whose first attempt made it
            if exists.status != 422:
                raise
            ref = repo.get_git_ref(f"heads/{branch}")
    ref.edit(commit.sha, force=True)
    return commit.sha


def default_head(repo: Repository) -> str:
    """The default branch's head commit: read once, then plan and commit on it, so that a push
    landing meanwhile cannot slip under a change planned without it."""
    return retry_github(
        f"reading the head of {repo.full_name}'s default branch",
        lambda: repo.get_branch(repo.default_branch).commit.sha,
    )


def fetch_project(
    repo: Repository,
    project_root: str = "",
    *,
    ref: str | None = None,
    timeout: float = 120,
    attempts: int = ATTEMPTS,
) -> ProjectFiles:
    """The dbt project's text files at `ref` (default: the default branch's head): one tarball,
    not a request per file.

    The download (a plain GET, outside PyGithub's retries) is tried again when it is cut short,
    dropped, rate limited or answered with a 5xx."""
    for attempt in range(1, attempts + 1):
        try:
            link = retry_github(
                "asking for the repository archive",
                lambda: repo.get_archive_link("tarball", ref or repo.default_branch),
            )
            response = requests.get(link, timeout=timeout)  # a signed link: no token needed (or sent)
            response.raise_for_status()
            return read_archive(response.content, project_root)
        except UnsafePathError:
            raise
        except (requests.RequestException, ValueError) as error:
            retry = not isinstance(error, requests.HTTPError) or (
                error.response is not None and error.response.status_code in _RETRY_STATUSES
            )  # ValueError: read_archive found no readable .tar.gz
            if attempt < attempts and retry:
                _pause(attempt)
                continue
            raise GitHubPublishError(
                f"GitHub failed while downloading {repo.full_name}{_after(attempt)}: {type(error).__name__}: {error}"
            ) from error
    raise AssertionError("unreachable")


def fetch_file(repo: Repository, path: str, *, ref: str) -> str | None:
    """One text file at `ref`, or None when there is none. The contents API leaves out the content
    of a file over 1 MB (`encoding: none`): such a file is read as its git blob."""

    def read() -> ContentFile | list[ContentFile] | None:
        try:
            return repo.get_contents(path, ref=ref)
        except UnknownObjectException:
            return None

    found = retry_github(f"reading {path}", read)
    if found is None:
        return None
    if isinstance(found, list) or found.type != "file":
        kind = "directory" if isinstance(found, list) else found.type
        raise UnsafePathError(f"{path} is a {kind} in {repo.full_name}, not a file: refusing to write it")
    if found.encoding == "base64":
        raw = found.decoded_content
    else:
        blob = retry_github(f"reading {path}", lambda: repo.get_git_blob(found.sha))
        raw = base64.b64decode(blob.content)
    return raw.decode("utf-8", errors="replace")


def unchanged_pull_request(repo: Repository, branch: str, content_hash: str) -> str | None:
    """The URL of the open pull request on `branch` when it still carries the change set
    `content_hash`; None when there is none (closed, edited by hand, or never opened)."""
    head = f"{repo.owner.login}:{branch}"
    pulls = retry_github(
        f"listing the pull requests of {branch}",
        lambda: list(repo.get_pulls(state="open", head=head, base=repo.default_branch)),
    )
    return next((pull.html_url for pull in pulls if _carries(pull, content_hash)), None)


def _carries(pull: PullRequest, content_hash: str) -> bool:
    """Whether the pull request's hidden marker names the change set `content_hash`."""
    marker = _MARKER_RE.search(pull.body or "")
    return marker is not None and marker.group(1) == content_hash


def inputs_fingerprint(*inputs: object, code: Iterable[ModuleType] = ()) -> str:
    """A digest of what a change set is planned from, and of the code that plans it.

    Equal pickles are equal objects, so equal digests mean an equal plan; two equal inputs that
    pickle differently (another dict order) only cost planning again."""
    digest = hashlib.sha256()
    for module in code:
        digest.update(Path(module.__file__ or "").read_bytes())
    for item in inputs:
        digest.update(hashlib.sha256(pickle.dumps(item, protocol=5)).digest())
    return digest.hexdigest()
