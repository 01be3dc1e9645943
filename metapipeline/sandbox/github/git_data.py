"""The Git Data API: refs, blobs, trees and commits, written as real objects into the repository."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from metapipeline.sandbox.github import rest
from metapipeline.sandbox.github.git import (
    BLOB_MODES,
    GITLINK_MODE,
    TREE_MODE,
    CommitInfo,
    Identity,
    git_date,
)
from metapipeline.sandbox.github.repository import Repository
from metapipeline.sandbox.github.rest import GitHubError, Urls
from metapipeline.sandbox.harness import Request, Response


def git_commit_json(urls: Urls, info: CommitInfo) -> dict[str, Any]:
    return {
        "sha": info.sha,
        "node_id": rest.node_id("C", info.sha),
        "url": f"{urls.repo}/git/commits/{info.sha}",
        "html_url": f"{urls.html}/commit/{info.sha}",
        "author": info.author.to_json(),
        "committer": info.committer.to_json(),
        "tree": {"sha": info.tree, "url": f"{urls.repo}/git/trees/{info.tree}"},
        "message": info.message,
        "parents": [
            {
                "sha": parent,
                "url": f"{urls.repo}/git/commits/{parent}",
                "html_url": f"{urls.html}/commit/{parent}",
            }
            for parent in info.parents
        ],
        "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None},
    }


def _ref_json(repository: Repository, urls: Urls, ref: str, sha: str) -> dict[str, Any]:
    kind = repository.git.object_type(sha) or "commit"
    return {
        "ref": ref,
        "node_id": rest.node_id("REF", ref),
        "url": f"{urls.repo}/git/{ref}",
        "object": {"sha": sha, "type": kind, "url": f"{urls.repo}/git/{kind}s/{sha}"},
    }


def _refs_json(repository: Repository, urls: Urls, prefix: str) -> list[dict[str, Any]]:
    return [
        _ref_json(repository, urls, ref, sha) for ref, sha in repository.git.refs() if ref.startswith(prefix)
    ]


def list_refs(repository: Repository, request: Request, urls: Urls) -> Response:
    return rest.paged(request, urls, _refs_json(repository, urls, "refs/"))


def list_matching_refs(repository: Repository, request: Request, urls: Urls) -> Response:
    return rest.paged(request, urls, _refs_json(repository, urls, f"refs/{request.params.get('ref', '')}"))


def get_ref(repository: Repository, request: Request, urls: Urls) -> Response:
    ref = f"refs/{request.params['ref']}"
    sha = repository.git.ref_sha(ref)
    if sha is None:
        raise rest.not_found()
    return Response(200, _ref_json(repository, urls, ref, sha))


def get_ref_legacy(repository: Repository, request: Request, urls: Urls) -> Response:
    # The old /git/refs/<ref> answers an exact match, else every ref starting with it.
    ref = f"refs/{request.params['ref']}"
    sha = repository.git.ref_sha(ref)
    if sha is not None:
        return Response(200, _ref_json(repository, urls, ref, sha))
    matching = _refs_json(repository, urls, ref)
    if not matching:
        raise rest.not_found()
    return Response(200, matching)


def create_ref(repository: Repository, request: Request, urls: Urls) -> Response:
    data = rest.json_object(request)
    ref, sha = data.get("ref"), data.get("sha")
    if not isinstance(ref, str) or not isinstance(sha, str):
        raise rest.invalid(
            {"resource": "Reference", "code": "missing_field", "field": "ref" if ref else "sha"}
        )
    # The prefix check comes first so a name can never reach git as an option.
    if not (ref.startswith("refs/") and ref.count("/") >= 2) or (
        repository.git.run("check-ref-format", ref, check=False).returncode != 0
    ):
        raise GitHubError(422, f"{ref} is not a valid ref name.")
    if repository.git.object_type(sha) is None:
        raise GitHubError(422, "Object does not exist")
    if not repository.git.set_ref(ref, sha, ""):
        raise GitHubError(
            422,
            "Reference already exists",
            [{"resource": "Reference", "code": "already_exists", "field": "ref"}],
        )
    return Response(201, _ref_json(repository, urls, ref, sha))


def update_ref(repository: Repository, request: Request, urls: Urls) -> Response:
    ref = f"refs/{request.params['ref']}"
    data = rest.json_object(request)
    new = data.get("sha")
    old = repository.git.ref_sha(ref)
    if old is None:
        raise GitHubError(422, "Reference does not exist")
    if not isinstance(new, str) or repository.git.object_type(new) is None:
        raise GitHubError(422, "Object does not exist")
    if not data.get("force") and not repository.git.is_ancestor(old, new):
        raise GitHubError(422, "Update is not a fast forward")
    if not repository.git.set_ref(ref, new, old):
        raise GitHubError(409, "Reference update failed: it moved while updating")
    return Response(200, _ref_json(repository, urls, ref, new))


def delete_ref(repository: Repository, request: Request, urls: Urls) -> Response:
    ref = f"refs/{request.params['ref']}"
    old = repository.git.ref_sha(ref)
    if old is None or not repository.git.delete_ref(ref, old):
        raise GitHubError(422, "Reference does not exist")
    if ref.startswith("refs/heads/"):
        repository.branch_deleted(ref.removeprefix("refs/heads/"), old)
    return Response(204)


def create_blob(repository: Repository, request: Request, urls: Urls) -> Response:
    data = rest.json_object(request)
    content, encoding = data.get("content"), data.get("encoding", "utf-8")
    if not isinstance(content, str):
        raise rest.invalid({"resource": "Blob", "code": "missing_field", "field": "content"})
    if encoding == "base64":
        try:
            raw = base64.b64decode(content)
        except binascii.Error:
            raise GitHubError(422, "Problems parsing content: invalid base64") from None
    elif encoding in {"utf-8", "utf8"}:
        raw = content.encode()
    else:
        raise GitHubError(422, f"encoding {encoding!r} is not supported; use utf-8 or base64")
    sha = repository.git.write_blob(raw)
    return Response(201, {"url": f"{urls.repo}/git/blobs/{sha}", "sha": sha})


def get_blob(repository: Repository, request: Request, urls: Urls) -> Response:
    sha = request.params["sha"]
    if repository.git.object_type(sha) != "blob":
        raise rest.not_found()
    raw = repository.git.read_blob(sha)
    return Response(
        200,
        {
            "sha": sha,
            "node_id": rest.node_id("B", sha),
            "size": len(raw),
            "url": f"{urls.repo}/git/blobs/{sha}",
            "content": base64.encodebytes(raw).decode(),
            "encoding": "base64",
        },
    )


def _tree_json(repository: Repository, urls: Urls, sha: str, *, recursive: bool) -> dict[str, Any]:
    entries = []
    for entry in repository.git.ls_tree(sha, recursive=recursive):
        item: dict[str, Any] = {
            "path": entry.path,
            "mode": entry.mode,
            "type": entry.type,
            "sha": entry.sha,
        }
        if entry.size is not None:
            item["size"] = entry.size
        if entry.type != "commit":
            item["url"] = f"{urls.repo}/git/{entry.type}s/{entry.sha}"
        entries.append(item)
    return {"sha": sha, "url": f"{urls.repo}/git/trees/{sha}", "tree": entries, "truncated": False}


def get_tree(repository: Repository, request: Request, urls: Urls) -> Response:
    sha = repository.git.resolve(request.params["sha"], "tree")
    if sha is None:
        raise rest.not_found()
    # GitHub recurses when `recursive` has any value at all.
    return Response(200, _tree_json(repository, urls, sha, recursive="recursive" in request.query))


def create_tree(repository: Repository, request: Request, urls: Urls) -> Response:
    data = rest.json_object(request)
    base_tree = None
    if data.get("base_tree"):
        base_tree = repository.git.resolve(str(data["base_tree"]), "tree")
        if base_tree is None:
            raise GitHubError(422, "base_tree is not a valid tree oid")
    entries = data.get("tree")
    if not isinstance(entries, list):
        raise rest.invalid({"resource": "Tree", "code": "missing_field", "field": "tree"})
    edits = [_tree_edit(repository, entry) for entry in entries]
    sha = repository.git.build_tree(base_tree, edits)
    return Response(201, _tree_json(repository, urls, sha, recursive=False))


def _tree_edit(repository: Repository, entry: Any) -> tuple[str, str, str | None]:
    """One create-tree entry as (path, mode, sha or None), checked the way GitHub checks it."""
    if not isinstance(entry, dict):
        raise GitHubError(422, "tree entries must be objects")
    path, mode, kind = entry.get("path"), entry.get("mode"), entry.get("type")
    if not isinstance(path, str) or any(part in {"", ".", "..", ".git"} for part in path.split("/")):
        raise GitHubError(422, f"tree.path contains a malformed path component: {path!r}")
    expected_kind = {TREE_MODE: "tree", GITLINK_MODE: "commit"}.get(str(mode), "blob")
    if mode not in BLOB_MODES | {TREE_MODE, GITLINK_MODE} or kind != expected_kind:
        raise GitHubError(422, f"Invalid tree info: mode {mode!r} and type {kind!r} for {path}")
    if "content" in entry and entry.get("sha") is not None:
        raise GitHubError(422, "Must supply either tree.sha or tree.content, not both")
    if "content" in entry:
        if kind != "blob" or not isinstance(entry["content"], str):
            raise GitHubError(422, f"tree.content is only for blobs ({path})")
        return path, str(mode), repository.git.write_blob(entry["content"].encode())
    sha = entry.get("sha")
    if sha is None:
        return path, str(mode), None  # GitHub's way to delete a path
    if kind != "commit" and repository.git.object_type(str(sha)) != kind:
        raise GitHubError(422, f"tree.sha {sha} is not a valid {kind}")
    return path, str(mode), str(sha)


def get_git_commit(repository: Repository, request: Request, urls: Urls) -> Response:
    sha = request.params["sha"]
    if repository.git.object_type(sha) != "commit":
        raise rest.not_found()
    return Response(200, git_commit_json(urls, repository.git.read_commit(sha)))


def create_commit(repository: Repository, request: Request, urls: Urls) -> Response:
    data = rest.json_object(request)
    message, tree, parents = data.get("message"), data.get("tree"), data.get("parents", [])
    if not isinstance(message, str) or not isinstance(tree, str):
        raise rest.invalid(
            {"resource": "Commit", "code": "missing_field", "field": "message" if tree else "tree"}
        )
    if repository.git.object_type(tree) != "tree":
        raise GitHubError(422, "Tree SHA does not exist")
    if not isinstance(parents, list) or any(repository.git.object_type(str(p)) != "commit" for p in parents):
        raise GitHubError(422, "Parent SHA does not exist or is not a commit object")
    author = _identity_from(data.get("author")) or rest.person(rest.BOT_LOGIN)
    committer = _identity_from(data.get("committer")) or author
    sha = repository.git.commit_tree(tree, map(str, parents), message, author, committer)
    return Response(201, git_commit_json(urls, repository.git.read_commit(sha)))


def _identity_from(value: Any) -> Identity | None:
    """An author or committer from a request body, dated now unless it says otherwise."""
    if not isinstance(value, dict) or not value.get("name") or not value.get("email"):
        return None
    date = value.get("date") or rest.now()
    try:
        git_date(date)
    except (TypeError, ValueError):
        raise rest.invalid({"resource": "Commit", "code": "invalid", "field": "date"}) from None
    return Identity(str(value["name"]), str(value["email"]), date)
