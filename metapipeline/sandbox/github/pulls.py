"""Pull requests: open, list, read, edit and merge them."""

from __future__ import annotations

from typing import Any

from metapipeline.sandbox.github import rest
from metapipeline.sandbox.github.labels import issue_labels_json
from metapipeline.sandbox.github.repos import repo_json
from metapipeline.sandbox.github.repository import Repository
from metapipeline.sandbox.github.rest import Urls
from metapipeline.sandbox.harness import Request, Response


def _part_json(repository: Repository, urls: Urls, branch: str, sha: str) -> dict[str, Any]:
    return {
        "label": f"{repository.owner}:{branch}",
        "ref": branch,
        "sha": sha,
        "user": rest.user_json(urls, repository.owner, "Organization"),
        "repo": repo_json(repository, urls),
    }


def pull_json(
    repository: Repository, urls: Urls, pull: dict[str, Any], *, full: bool = True
) -> dict[str, Any]:
    """A pull request; listings leave out what GitHub leaves out (PyGithub fetches it lazily)."""
    number = pull["number"]
    url = f"{urls.repo}/pulls/{number}"
    issue_url = f"{urls.repo}/issues/{number}"
    html_url = f"{urls.html}/pull/{number}"
    head_sha, base_sha = repository.tip(pull, "head"), repository.tip(pull, "base")
    body: dict[str, Any] = {
        "url": url,
        "id": rest.stable_id("pull", repository.full_name, number),
        "node_id": rest.node_id("PR", repository.full_name, number),
        "html_url": html_url,
        "diff_url": f"{html_url}.diff",
        "patch_url": f"{html_url}.patch",
        "issue_url": issue_url,
        "commits_url": f"{url}/commits",
        "review_comments_url": f"{url}/comments",
        "review_comment_url": f"{urls.repo}/pulls/comments{{/number}}",
        "comments_url": f"{issue_url}/comments",
        "statuses_url": f"{urls.repo}/statuses/{head_sha}",
        "number": number,
        "state": pull["state"],
        "locked": False,
        "title": pull["title"],
        "user": rest.user_json(urls, pull["user"]),
        "body": pull["body"],
        "labels": issue_labels_json(repository, urls, pull),
        "milestone": None,
        "active_lock_reason": None,
        "created_at": pull["created_at"],
        "updated_at": pull["updated_at"],
        "closed_at": pull["closed_at"],
        "merged_at": pull["merged_at"],
        "merge_commit_sha": pull["merge_commit_sha"],
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": _part_json(repository, urls, pull["head_ref"], head_sha),
        "base": _part_json(repository, urls, pull["base_ref"], base_sha),
        "_links": {
            "self": {"href": url},
            "html": {"href": html_url},
            "issue": {"href": issue_url},
            "comments": {"href": f"{issue_url}/comments"},
            "review_comments": {"href": f"{url}/comments"},
            "commits": {"href": f"{url}/commits"},
            "statuses": {"href": f"{urls.repo}/statuses/{head_sha}"},
        },
        "author_association": "CONTRIBUTOR",
        "auto_merge": None,
        "draft": pull["draft"],
    }
    if not full:
        return body
    open_ = pull["state"] == "open"
    mergeable = repository.git.merged_tree(base_sha, head_sha) is not None if open_ else None
    additions, deletions, changed = repository.git.diff_stats(base_sha, head_sha)
    body.update(
        merged=pull["merged_at"] is not None,
        mergeable=mergeable,
        rebaseable=mergeable,
        mergeable_state=("clean" if mergeable else "dirty") if open_ else "unknown",
        merged_by=rest.user_json(urls, pull["merged_by"]) if pull["merged_by"] else None,
        comments=repository.comment_count(number),
        review_comments=0,
        maintainer_can_modify=pull["maintainer_can_modify"],
        commits=repository.git.commit_count(base_sha, head_sha),
        additions=additions,
        deletions=deletions,
        changed_files=changed,
    )
    return body


def _head_branch(repository: Repository, head: str) -> str:
    owner, sep, branch = head.rpartition(":")
    if sep and owner.lower() != repository.owner.lower():
        # Forks are out of scope: a pull request's head is a branch of its own repository.
        raise rest.invalid({"resource": "PullRequest", "field": "head", "code": "invalid"})
    return branch


def list_pulls(repository: Repository, request: Request, urls: Urls) -> Response:
    state = request.query.get("state", "open")
    pulls = [p for p in repository.pulls() if state == "all" or p["state"] == state]
    head = request.query.get("head", "")
    if ":" in head:  # GitHub ignores a head filter without the "owner:" prefix
        owner, _, branch = head.partition(":")
        pulls = [p for p in pulls if owner.lower() == repository.owner.lower() and p["head_ref"] == branch]
    if base := request.query.get("base"):
        pulls = [p for p in pulls if p["base_ref"] == base]
    sort = request.query.get("sort", "created")
    if sort == "updated":
        pulls.sort(key=lambda p: (p["updated_at"], p["number"]))
    # GitHub's default direction is desc for created (or no sort), asc otherwise.
    direction = request.query.get("direction", "desc" if sort == "created" else "asc")
    if direction == "desc":
        pulls.reverse()
    return rest.paged(request, urls, [pull_json(repository, urls, p, full=False) for p in pulls])


def create_pull(repository: Repository, request: Request, urls: Urls) -> Response:
    data = rest.json_object(request)
    for field in ("head", "base", "title"):
        if not isinstance(data.get(field), str) or not data[field]:
            raise rest.invalid({"resource": "PullRequest", "code": "missing_field", "field": field})
    head_ref, base_ref = _head_branch(repository, data["head"]), data["base"]
    head_sha = repository.branch_sha(head_ref)
    base_sha = repository.branch_sha(base_ref)
    if base_sha is None:
        raise rest.invalid({"resource": "PullRequest", "field": "base", "code": "invalid"})
    if head_sha is None:
        raise rest.invalid({"resource": "PullRequest", "field": "head", "code": "invalid"})
    repository.check_no_open_duplicate(head_ref, base_ref)
    rest.check_body("Issue", data.get("body"))
    if repository.git.commit_count(base_sha, head_sha) == 0:
        raise rest.invalid(
            {
                "resource": "PullRequest",
                "code": "custom",
                "message": f"No commits between {base_ref} and {head_ref}",
            }
        )
    number = repository.next_id("next_number")
    stamp = rest.now()
    pull = {
        "number": number,
        "title": data["title"],
        "body": data.get("body"),
        "state": "open",
        "draft": bool(data.get("draft", False)),
        "maintainer_can_modify": bool(data.get("maintainer_can_modify", True)),
        "head_ref": head_ref,
        "head_sha": head_sha,
        "base_ref": base_ref,
        "base_sha": base_sha,
        "user": rest.BOT_LOGIN,
        "labels": [],
        "created_at": stamp,
        "updated_at": stamp,
        "closed_at": None,
        "merged_at": None,
        "merge_commit_sha": None,
        "merged_by": None,
    }
    repository.state["pulls"][str(number)] = pull
    repository.save_state()
    return Response(201, pull_json(repository, urls, pull))


def get_pull(repository: Repository, request: Request, urls: Urls) -> Response:
    return Response(200, pull_json(repository, urls, repository.pull(request.params["number"])))


def edit_pull(repository: Repository, request: Request, urls: Urls) -> Response:
    pull = repository.pull(request.params["number"])
    data = rest.json_object(request)
    rest.check_body("Issue", data.get("body"))
    if isinstance(data.get("base"), str) and data["base"] != pull["base_ref"]:
        if repository.branch_sha(data["base"]) is None:
            raise rest.invalid({"resource": "PullRequest", "field": "base", "code": "invalid"})
        repository.check_no_open_duplicate(pull["head_ref"], data["base"], pull["number"])
        pull["base_ref"] = data["base"]
    if isinstance(data.get("maintainer_can_modify"), bool):
        pull["maintainer_can_modify"] = data["maintainer_can_modify"]
    apply_issue_edit(repository, pull, data)
    return Response(200, pull_json(repository, urls, pull))


def apply_issue_edit(repository: Repository, pull: dict[str, Any], data: dict[str, Any]) -> None:
    """The edits pull requests share with issues: title, body, state and labels."""
    rest.check_body("Issue", data.get("body"))  # before any edit: a refused request changes nothing
    if isinstance(data.get("title"), str):
        pull["title"] = data["title"]
    if "body" in data:
        pull["body"] = data["body"]
    if isinstance(data.get("labels"), list):
        pull["labels"] = repository.ensure_labels(data["labels"])
    state = data.get("state")
    if state == "closed" and pull["state"] == "open":
        repository.close(pull)
    elif state == "open" and pull["state"] == "closed":
        repository.reopen(pull)
    pull["updated_at"] = rest.now()
    repository.save_state()


def is_merged(repository: Repository, request: Request, urls: Urls) -> Response:
    if repository.pull(request.params["number"])["merged_at"]:
        return Response(204)
    raise rest.not_found()


def merge_pull_request(repository: Repository, request: Request, urls: Urls) -> Response:
    data = rest.json_object(request)
    sha = repository.merge(
        repository.pull(request.params["number"]),
        method=str(data.get("merge_method", "merge")),
        by=rest.BOT_LOGIN,
        expected_head=data.get("sha"),
        title=data.get("commit_title"),
        message=data.get("commit_message"),
    )
    return Response(200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"})
