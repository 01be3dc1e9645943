"""The repository's own routes: the repository itself, branches, commits, contents and archives."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from metapipeline.sandbox.github import rest
from metapipeline.sandbox.github.git import TreeEntry
from metapipeline.sandbox.github.git_data import git_commit_json
from metapipeline.sandbox.github.repository import Repository
from metapipeline.sandbox.github.rest import GitHubError, Urls
from metapipeline.sandbox.harness import Request, Response

CONTENTS_INLINE_LIMIT = 1024 * 1024  # bytes of a file the contents API returns inline
CODELOAD = "/_codeload"  # where archive links point (codeload.github.com on GitHub)


def repo_json(repository: Repository, urls: Urls) -> dict[str, Any]:
    return {
        "id": rest.stable_id("repo", repository.full_name),
        "node_id": rest.node_id("R", repository.full_name),
        "name": repository.repo,
        "full_name": repository.full_name,
        "private": True,
        "visibility": "private",
        "owner": rest.user_json(urls, repository.owner, "Organization"),
        "html_url": urls.html,
        "url": urls.repo,
        "description": f"{repository.repo} dbt project (sandbox)",
        "fork": False,
        "archived": False,
        "disabled": False,
        "default_branch": repository.default_branch,
        "clone_url": repository.repo_dir.as_uri(),  # really clonable
        "git_url": repository.repo_dir.as_uri(),
        "pulls_url": f"{urls.repo}/pulls{{/number}}",
        "issues_url": f"{urls.repo}/issues{{/number}}",
        "labels_url": f"{urls.repo}/labels{{/name}}",
        "has_issues": True,
        "allow_merge_commit": True,
        "allow_squash_merge": True,
        "allow_rebase_merge": True,
        "delete_branch_on_merge": False,
        "permissions": {"admin": False, "maintain": False, "push": True, "triage": True, "pull": True},
        "created_at": "2024-01-15T09:00:00Z",
        "updated_at": rest.now(),
        "pushed_at": rest.now(),
    }


def get_repo(repository: Repository, request: Request, urls: Urls) -> Response:
    return Response(200, repo_json(repository, urls))


def _commit_json(repository: Repository, urls: Urls, sha: str) -> dict[str, Any]:
    """The /commits representation: the git commit wrapped with GitHub's own links."""
    info = repository.git.read_commit(sha)
    git_commit = git_commit_json(urls, info)
    inner = {key: git_commit[key] for key in ("author", "committer", "message", "tree", "verification")}
    return {
        "sha": sha,
        "node_id": git_commit["node_id"],
        "commit": {**inner, "url": git_commit["url"], "comment_count": 0},
        "url": f"{urls.repo}/commits/{sha}",
        "html_url": git_commit["html_url"],
        "comments_url": f"{urls.repo}/commits/{sha}/comments",
        "author": None,  # no GitHub account is linked to the sandbox's commit emails
        "committer": None,
        "parents": [
            {"sha": p["sha"], "url": f"{urls.repo}/commits/{p['sha']}", "html_url": p["html_url"]}
            for p in git_commit["parents"]
        ],
    }


def list_branches(repository: Repository, request: Request, urls: Urls) -> Response:
    items = [
        {"name": name, "commit": {"sha": sha, "url": f"{urls.repo}/commits/{sha}"}, "protected": False}
        for name, sha in (
            (ref.removeprefix("refs/heads/"), sha) for ref, sha in repository.git.refs("refs/heads/")
        )
    ]
    return rest.paged(request, urls, items)


def get_branch(repository: Repository, request: Request, urls: Urls) -> Response:
    name = request.params["branch"]
    sha = repository.branch_sha(name)
    if sha is None:
        raise GitHubError(404, "Branch not found")
    return Response(
        200,
        {
            "name": name,
            "commit": _commit_json(repository, urls, sha),
            "_links": {"self": f"{urls.repo}/branches/{quote(name)}", "html": f"{urls.html}/tree/{name}"},
            "protected": False,
            "protection": {"enabled": False, "required_status_checks": {"enforcement_level": "off"}},
            "protection_url": f"{urls.repo}/branches/{quote(name)}/protection",
        },
    )


def get_commit(repository: Repository, request: Request, urls: Urls) -> Response:
    sha = repository.git.resolve(request.params["ref"])
    if sha is None:
        raise GitHubError(422, f"No commit found for SHA: {request.params['ref']}")
    return Response(200, _commit_json(repository, urls, sha))


def _content_json(
    repository: Repository, urls: Urls, ref: str, entry: TreeEntry, path: str, *, with_content: bool
) -> dict[str, Any]:
    kind = {"tree": "dir", "commit": "submodule"}.get(
        entry.type, "symlink" if entry.mode == "120000" else "file"
    )
    self_url = f"{urls.repo}/contents/{quote(path)}?ref={quote(ref, safe='')}"
    git_url = f"{urls.repo}/git/{'trees' if entry.type == 'tree' else 'blobs'}/{entry.sha}"
    html_url = f"{urls.html}/{'tree' if entry.type == 'tree' else 'blob'}/{ref}/{path}"
    item: dict[str, Any] = {
        "type": kind,
        "size": entry.size or 0,
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": entry.sha,
        "url": self_url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": None,
        "_links": {"self": self_url, "git": git_url, "html": html_url},
    }
    if with_content:
        raw = repository.git.read_blob(entry.sha)
        if len(raw) > CONTENTS_INLINE_LIMIT:  # GitHub leaves a larger file's content out
            item["encoding"], item["content"] = "none", ""
        else:
            item["encoding"], item["content"] = "base64", base64.encodebytes(raw).decode()
    return item


def get_tarball_link(repository: Repository, request: Request, urls: Urls) -> Response:
    sha = repository.git.resolve(request.params.get("ref") or repository.default_branch)
    if sha is None:
        raise rest.not_found()
    location = f"{urls.api}{CODELOAD}/{repository.full_name}/tar.gz/{sha}"
    return Response(302, None, {"Location": location})


def get_tarball(repository: Repository, request: Request, urls: Urls) -> Response:
    sha = request.params["sha"]
    if repository.git.resolve(sha) is None:
        raise rest.not_found()
    prefix = f"{repository.full_name.replace('/', '-')}-{sha[:7]}/"  # GitHub's top directory
    archive = repository.git.run("archive", "--format=tar.gz", f"--prefix={prefix}", sha).stdout
    return Response(200, archive, content_type="application/x-gzip")


def get_contents(repository: Repository, request: Request, urls: Urls) -> Response:
    ref = request.query.get("ref") or repository.default_branch
    commit = repository.git.resolve(ref)
    if commit is None:
        raise GitHubError(404, f"No commit found for the ref {ref}")
    path = request.params.get("path", "").strip("/")
    if path:
        found = repository.git.ls_tree(commit, path=path)
        entry = next((e for e in found if e.path == path), None)
        if entry is None:
            raise rest.not_found()
        if entry.type != "tree":
            return Response(200, _content_json(repository, urls, ref, entry, path, with_content=True))
        tree = entry.sha
    else:
        tree = commit
    listing = [
        _content_json(repository, urls, ref, e, f"{path}/{e.path}" if path else e.path, with_content=False)
        for e in repository.git.ls_tree(tree)
    ]
    return Response(200, listing)
