"""Issues, the conversation side of pull requests: the issue view of a pull request, and comments."""

from __future__ import annotations

from typing import Any

from metapipeline.sandbox.github import rest
from metapipeline.sandbox.github.pulls import apply_issue_edit, pull_json
from metapipeline.sandbox.github.repository import Repository
from metapipeline.sandbox.github.rest import Urls
from metapipeline.sandbox.harness import Request, Response


def _issue_json(repository: Repository, urls: Urls, pull: dict[str, Any]) -> dict[str, Any]:
    pr = pull_json(repository, urls, pull, full=False)
    shared = "id node_id number title user labels state locked assignee assignees milestone"
    shared += " created_at updated_at closed_at body active_lock_reason author_association"
    issue = {key: pr[key] for key in shared.split()}
    issue.update(
        url=pr["issue_url"],
        repository_url=urls.repo,
        labels_url=f"{pr['issue_url']}/labels{{/name}}",
        comments_url=pr["comments_url"],
        events_url=f"{pr['issue_url']}/events",
        html_url=pr["html_url"],
        comments=repository.comment_count(pull["number"]),
        draft=pull["draft"],
        state_reason=None if pull["state"] == "open" else "completed",
        pull_request={
            "url": pr["url"],
            "html_url": pr["html_url"],
            "diff_url": pr["diff_url"],
            "patch_url": pr["patch_url"],
            "merged_at": pr["merged_at"],
        },
    )
    return issue


def get_issue(repository: Repository, request: Request, urls: Urls) -> Response:
    return Response(200, _issue_json(repository, urls, repository.pull(request.params["number"])))


def edit_issue(repository: Repository, request: Request, urls: Urls) -> Response:
    pull = repository.pull(request.params["number"])
    apply_issue_edit(repository, pull, rest.json_object(request))
    return Response(200, _issue_json(repository, urls, pull))


def _comment_json(urls: Urls, comment: dict[str, Any]) -> dict[str, Any]:
    url = f"{urls.repo}/issues/comments/{comment['id']}"
    return {
        "id": comment["id"],
        "node_id": rest.node_id("IC", comment["id"]),
        "url": url,
        "html_url": f"{urls.html}/pull/{comment['issue']}#issuecomment-{comment['id']}",
        "issue_url": f"{urls.repo}/issues/{comment['issue']}",
        "body": comment["body"],
        "user": rest.user_json(urls, comment["user"]),
        "created_at": comment["created_at"],
        "updated_at": comment["updated_at"],
        "author_association": "CONTRIBUTOR",
        "performed_via_github_app": None,
    }


def _comment(repository: Repository, request: Request) -> dict[str, Any]:
    comment = repository.state["comments"].get(request.params["id"])
    if comment is None:
        raise rest.not_found()
    return comment


def _comment_body(request: Request) -> str:
    body = rest.json_object(request).get("body")
    if not isinstance(body, str) or not body:
        raise rest.invalid({"resource": "IssueComment", "code": "missing_field", "field": "body"})
    rest.check_body("IssueComment", body)
    return body


def list_comments(repository: Repository, request: Request, urls: Urls) -> Response:
    number = repository.pull(request.params["number"])["number"]
    since = request.query.get("since", "")
    comments = [
        _comment_json(urls, c)
        for c in sorted(repository.state["comments"].values(), key=lambda c: c["id"])
        if c["issue"] == number and c["updated_at"] >= since
    ]
    return rest.paged(request, urls, comments)


def create_comment(repository: Repository, request: Request, urls: Urls) -> Response:
    pull = repository.pull(request.params["number"])
    body = _comment_body(request)
    stamp = rest.now()
    comment_id = repository.next_id("next_comment_id")
    comment = {"id": comment_id, "issue": pull["number"], "body": body, "user": rest.BOT_LOGIN}
    comment.update(created_at=stamp, updated_at=stamp)
    repository.state["comments"][str(comment_id)] = comment
    pull["updated_at"] = stamp
    repository.save_state()
    return Response(201, _comment_json(urls, comment))


def get_comment(repository: Repository, request: Request, urls: Urls) -> Response:
    return Response(200, _comment_json(urls, _comment(repository, request)))


def edit_comment(repository: Repository, request: Request, urls: Urls) -> Response:
    comment = _comment(repository, request)
    comment.update(body=_comment_body(request), updated_at=rest.now())
    repository.save_state()
    return Response(200, _comment_json(urls, comment))


def delete_comment(repository: Repository, request: Request, urls: Urls) -> Response:
    del repository.state["comments"][str(_comment(repository, request)["id"])]
    repository.save_state()
    return Response(204)
