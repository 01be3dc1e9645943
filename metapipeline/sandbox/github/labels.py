"""Labels: the repository's labels and those on an issue or pull request."""

from __future__ import annotations

import re
from typing import Any

from metapipeline.sandbox.github import rest
from metapipeline.sandbox.github.repository import NEW_LABEL_COLOR, Repository
from metapipeline.sandbox.github.rest import GitHubError, Urls
from metapipeline.sandbox.harness import Request, Response


def _label_json(urls: Urls, label: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": label["id"],
        "node_id": rest.node_id("LA", label["id"]),
        "url": urls.label(label["name"]),
        "name": label["name"],
        "color": label["color"],
        "default": False,
        "description": label["description"],
    }


def issue_labels_json(repository: Repository, urls: Urls, pull: dict[str, Any]) -> list[dict[str, Any]]:
    return [_label_json(urls, repository.state["labels"][name.lower()]) for name in pull["labels"]]


def _issue_label_names(request: Request) -> list[Any]:
    data = rest.json_body(request)
    # PyGithub sends a bare list; GitHub also accepts {"labels": [...]}.
    names = data.get("labels", []) if isinstance(data, dict) else data or []
    if not isinstance(names, list):
        raise rest.invalid({"resource": "Label", "code": "invalid", "field": "labels"})
    return names


def list_issue_labels(repository: Repository, request: Request, urls: Urls) -> Response:
    return rest.paged(
        request, urls, issue_labels_json(repository, urls, repository.pull(request.params["number"]))
    )


def add_issue_labels(repository: Repository, request: Request, urls: Urls) -> Response:
    pull = repository.pull(request.params["number"])
    pull["labels"] = repository.ensure_labels([*pull["labels"], *_issue_label_names(request)])
    repository.save_state()
    return Response(200, issue_labels_json(repository, urls, pull))


def set_issue_labels(repository: Repository, request: Request, urls: Urls) -> Response:
    pull = repository.pull(request.params["number"])
    pull["labels"] = repository.ensure_labels(_issue_label_names(request))
    repository.save_state()
    return Response(200, issue_labels_json(repository, urls, pull))


def remove_issue_label(repository: Repository, request: Request, urls: Urls) -> Response:
    pull = repository.pull(request.params["number"])
    wanted = request.params["name"].lower()
    if wanted not in (name.lower() for name in pull["labels"]):
        raise GitHubError(404, "Label does not exist")
    pull["labels"] = [name for name in pull["labels"] if name.lower() != wanted]
    repository.save_state()
    return Response(200, issue_labels_json(repository, urls, pull))


def list_labels(repository: Repository, request: Request, urls: Urls) -> Response:
    labels = sorted(repository.state["labels"].values(), key=lambda label: label["name"].lower())
    return rest.paged(request, urls, [_label_json(urls, label) for label in labels])


def create_label(repository: Repository, request: Request, urls: Urls) -> Response:
    data = rest.json_object(request)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise rest.invalid({"resource": "Label", "code": "missing_field", "field": "name"})
    if name.lower() in repository.state["labels"]:
        raise rest.invalid({"resource": "Label", "code": "already_exists", "field": "name"})
    color = str(data.get("color") or NEW_LABEL_COLOR).lstrip("#")
    if not re.fullmatch(r"[0-9a-fA-F]{6}", color):
        raise rest.invalid({"resource": "Label", "code": "invalid", "field": "color"})
    label = repository.new_label(name, color, data.get("description"))
    repository.state["labels"][name.lower()] = label
    repository.save_state()
    return Response(201, _label_json(urls, label))


def get_label(repository: Repository, request: Request, urls: Urls) -> Response:
    label = repository.state["labels"].get(request.params["name"].lower())
    if label is None:
        raise rest.not_found()
    return Response(200, _label_json(urls, label))
