"""A loopback GitHub REST API backed by a real git repository, for the pull-request flow.

metapipeline changes a dbt project through PyGithub: it reads files and trees, writes blobs, trees
and commits through the Git Data API, moves branch refs, then opens and updates a pull request with
labels and comments. This emulator answers exactly those endpoints with the shapes GitHub sends
(the fields PyGithub reads, absolute `url`s that point back at the emulator, `Link` pagination,
`x-ratelimit-*` headers, `{"message", "documentation_url"}` errors and 422 "Validation Failed"
bodies).

Git objects are real: blobs, trees and commits are written with the `git` CLI into a bare repository
at `repo_dir`, so SHAs are genuine and `git -C <repo_dir> diff main..<branch>` shows what the product
did. Pull requests, comments and labels live in `<git dir>/emulator_state.json`, so a restarted
emulator sees what the previous run did. `merge_pull` and `close_pull` stand in for a person acting
on a pull request in the web UI.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import os
import re
import subprocess
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

from metapipeline.sandbox.harness import Emulator, Request, Response, Route

DEFAULT_TOKEN = "sandbox-github-token"
DEFAULT_REPOSITORY = "freshcart/analytics"
BOT_LOGIN = "metapipeline-bot"  # whoever holds the token
REVIEWER_LOGIN = "analytics-lead"  # the person who merges or closes pull requests
STATE_FILE = "emulator_state.json"
DOCS = "https://docs.github.com/rest"
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
CONTENTS_INLINE_LIMIT = 1024 * 1024  # bytes of a file the contents API returns inline
RATE_LIMIT_PER_HOUR = 5000
NEW_LABEL_COLOR = "ededed"  # what GitHub gives labels created by adding them to an issue

SEED_SKIPPED_DIRS = frozenset({".git", "target", "logs", "dbt_packages", "__pycache__", ".venv"})
SEED_SKIPPED_SUFFIXES = (".duckdb", ".duckdb.wal", ".pyc")

_BLOB_MODES = frozenset({"100644", "100755", "120000"})
_TREE_MODE = "040000"
_GITLINK_MODE = "160000"
_NULL_SHA = "0" * 40
_IDENTITY_LINE = re.compile(r"^(?P<name>.*) <(?P<email>[^>]*)> (?P<when>\d+) (?P<tz>[+-]\d{4})$")
_OWNER_REPO = r"(?P<owner>[^/]+)/(?P<repo>[^/]+)"
_REPO = rf"/repos/{_OWNER_REPO}"
CODELOAD = "/_codeload"  # where archive links point (codeload.github.com on GitHub)
# Set by git hooks and wrappers; inherited, they would point git at some other repository or index.
_GIT_LOCATION_VARS = frozenset(
    {"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES"}
)


class GitHubError(Exception):
    """A GitHub-shaped error; handlers raise it and the emulator turns it into a response."""

    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.errors = errors


def _not_found() -> GitHubError:
    return GitHubError(404, "Not Found")


def _invalid(*errors: dict[str, Any]) -> GitHubError:
    return GitHubError(422, "Validation Failed", list(errors))


BODY_LIMIT = 65_536  # characters GitHub takes in an issue, pull request or comment body


def _check_body(resource: str, body: Any) -> None:
    if isinstance(body, str) and len(body) > BODY_LIMIT:
        message = f"body is too long (maximum is {BODY_LIMIT} characters)"
        raise _invalid({"resource": resource, "code": "custom", "field": "body", "message": message})


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stable_id(*parts: object) -> int:
    """Numeric ids that stay the same across restarts (GitHub ids are plain integers)."""
    return zlib.crc32(":".join(map(str, parts)).encode()) & 0x7FFFFFFF


def _node_id(kind: str, *parts: object) -> str:
    return f"{kind}_" + base64.b64encode(":".join(map(str, parts)).encode()).decode().rstrip("=")


def _git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _GIT_LOCATION_VARS}
    # Literal pathspecs: a path like "models/*.sql" names one file, never a glob.
    return {**env, "GIT_LITERAL_PATHSPECS": "1", **(extra or {})}


def _git_date(iso: str) -> str:
    """An ISO 8601 timestamp as git's internal `<epoch> <offset>` form, which git parses unambiguously."""
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{int(moment.timestamp())} +0000"


def _at_or_under(sorted_paths: list[str], path: str) -> list[str]:
    """The paths of `sorted_paths` equal to `path` or inside the directory `path` (taken literally,
    as GitHub takes tree paths, not as a git pathspec)."""
    found = []
    start = bisect.bisect_left(sorted_paths, path)
    for candidate in sorted_paths[start:]:
        if candidate == path or candidate.startswith(f"{path}/"):
            found.append(candidate)
        elif not candidate.startswith(path):
            break
    return found


# -- git ---------------------------------------------------------------------------------------------


class GitCommandError(RuntimeError):
    pass


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    type: str
    sha: str
    size: int | None
    path: str


@dataclass(frozen=True)
class Identity:
    name: str
    email: str
    date: str  # ISO 8601, UTC

    @classmethod
    def parse(cls, line: str) -> Identity:
        match = _IDENTITY_LINE.match(line)
        if not match:
            raise GitCommandError(f"unreadable identity line {line!r}")
        when = datetime.fromtimestamp(int(match["when"]), UTC)
        return cls(match["name"], match["email"], when.strftime("%Y-%m-%dT%H:%M:%SZ"))

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "email": self.email, "date": self.date}


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: list[str]
    author: Identity
    committer: Identity
    message: str


class Git:
    """The git CLI against one repository; always with an explicit --git-dir so no parent repo leaks in."""

    def __init__(self, git_dir: Path):
        self.git_dir = git_dir

    def run(
        self, *args: str, input: bytes | None = None, env: Mapping[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(
            ["git", f"--git-dir={self.git_dir}", *args],
            input=input,
            capture_output=True,
            env=_git_env(env),
            cwd=self.git_dir,  # outside any work tree, so paths are never taken relative to ours
            check=False,
        )
        if check and result.returncode != 0:
            raise GitCommandError(f"git {' '.join(args)}: {result.stderr.decode(errors='replace').strip()}")
        return result

    def text(self, *args: str, input: bytes | None = None, env: Mapping[str, str] | None = None) -> str:
        return self.run(*args, input=input, env=env).stdout.decode().strip()

    def resolve(self, rev: str, kind: str = "commit") -> str | None:
        """The SHA `rev` names, peeled to `kind` (commit, tree, blob, or "" for any object)."""
        if not rev or rev.startswith("-"):  # never let a caller's string become a git option
            return None
        peeled = f"{rev}^{{{kind}}}" if kind else rev
        result = self.run("rev-parse", "--verify", "--quiet", "--end-of-options", peeled, check=False)
        return result.stdout.decode().strip() if result.returncode == 0 else None

    def object_type(self, sha: str) -> str | None:
        if not re.fullmatch(r"[0-9a-f]{40}", sha):
            return None
        result = self.run("cat-file", "-t", sha, check=False)
        return result.stdout.decode().strip() if result.returncode == 0 else None

    def refs(self, prefix: str = "refs/") -> list[tuple[str, str]]:
        out = self.text("for-each-ref", "--format=%(refname) %(objectname)", prefix)
        return [(name, sha) for name, sha in (line.split(" ") for line in out.splitlines())]

    def ref_sha(self, ref: str) -> str | None:
        return dict(self.refs(ref)).get(ref)

    def set_ref(self, ref: str, new: str, old: str | None) -> bool:
        """Compare-and-swap a ref (`old=""` means it must not exist yet); False if someone moved it."""
        args = ["update-ref", ref, new] + ([old] if old is not None else [])
        return self.run(*args, check=False).returncode == 0

    def delete_ref(self, ref: str, old: str) -> bool:
        return self.run("update-ref", "-d", ref, old, check=False).returncode == 0

    def write_blob(self, data: bytes) -> str:
        return self.text("hash-object", "-w", "--stdin", input=data)

    def read_blob(self, sha: str) -> bytes:
        return self.run("cat-file", "blob", sha).stdout

    def ls_tree(self, treeish: str, *, recursive: bool = False, path: str | None = None) -> list[TreeEntry]:
        args = ["ls-tree", "-z", "-l"] + (["-r", "-t"] if recursive else []) + [treeish]
        out = self.run(*args, *(["--", path] if path is not None else [])).stdout.decode()
        entries = []
        for record in filter(None, out.split("\0")):
            meta, _, entry_path = record.partition("\t")
            mode, kind, sha, size = meta.split()
            entries.append(TreeEntry(mode, kind, sha, None if size == "-" else int(size), entry_path))
        return entries

    def build_tree(self, base_tree: str | None, edits: Iterable[tuple[str, str, str | None]]) -> str:
        """Write the tree `base_tree` with (path, mode, sha) edits applied; sha None deletes the path.

        A throwaway index does the nested-path bookkeeping that GitHub's create-tree endpoint does.
        """
        with tempfile.TemporaryDirectory(prefix="github-emulator-") as scratch:
            env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            if base_tree:
                self.run("read-tree", base_tree, env=env)
            else:
                self.run("read-tree", "--empty", env=env)
            # --index-info lines; mode 0 removes a path (update-index --force-remove needs a work tree).
            removals: list[str] = []
            additions: list[str] = []
            # One listing for all edits (not an ls-files per deleted path: a thousand deletions took 2.5 s).
            indexed = sorted(filter(None, self.run("ls-files", "-z", env=env).stdout.decode().split("\0")))
            for path, mode, sha in edits:
                if sha is None or mode == _TREE_MODE:
                    # Deleting or replacing a directory drops everything under it first.
                    removals.extend(f"0 {_NULL_SHA}\t{old}" for old in _at_or_under(indexed, path))
                if sha is None:
                    continue
                if mode == _TREE_MODE:
                    additions.extend(
                        f"{entry.mode} {entry.sha}\t{path}/{entry.path}"
                        for entry in self.ls_tree(sha, recursive=True)
                        if entry.type != "tree"
                    )
                else:
                    additions.append(f"{mode} {sha}\t{path}")
            # --replace settles file/directory clashes the way a new tree entry would.
            for lines, extra in ((removals, []), (additions, ["--add", "--replace"])):
                if lines:
                    listing = "".join(f"{line}\n" for line in lines).encode()
                    self.run("update-index", *extra, "--index-info", input=listing, env=env)
            return self.text("write-tree", env=env)

    def commit_tree(
        self, tree: str, parents: Iterable[str], message: str, author: Identity, committer: Identity
    ) -> str:
        args = ["commit-tree", "--no-gpg-sign", tree]
        for parent in parents:
            args += ["-p", parent]
        env = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_AUTHOR_DATE": _git_date(author.date),
            "GIT_COMMITTER_NAME": committer.name,
            "GIT_COMMITTER_EMAIL": committer.email,
            "GIT_COMMITTER_DATE": _git_date(committer.date),
        }
        return self.text(*args, input=message.encode(), env=env)

    def read_commit(self, sha: str) -> CommitInfo:
        raw = self.run("cat-file", "commit", sha).stdout.decode(errors="replace")
        header, _, message = raw.partition("\n\n")
        fields: dict[str, list[str]] = {}
        for line in header.splitlines():
            if line.startswith(" "):  # continuation of a multi-line header such as gpgsig
                continue
            key, _, value = line.partition(" ")
            fields.setdefault(key, []).append(value)
        return CommitInfo(
            sha=sha,
            tree=fields["tree"][0],
            parents=fields.get("parent", []),
            author=Identity.parse(fields["author"][0]),
            committer=Identity.parse(fields["committer"][0]),
            message=message.rstrip("\n"),
        )

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return self.run("merge-base", "--is-ancestor", ancestor, descendant, check=False).returncode == 0

    def merged_tree(self, base: str, head: str) -> str | None:
        """The tree of merging head into base, or None when they conflict (needs git 2.38+)."""
        result = self.run("merge-tree", "--write-tree", "--no-messages", base, head, check=False)
        if result.returncode == 1:
            return None
        if result.returncode != 0:
            raise GitCommandError(f"git merge-tree: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout.decode().split()[0]

    def commit_count(self, base: str, head: str) -> int:
        return int(self.text("rev-list", "--count", f"{base}..{head}"))

    def diff_stats(self, base: str, head: str) -> tuple[int, int, int]:
        """(additions, deletions, changed files) between the merge base of base and head, and head."""
        out = self.text("diff", "--numstat", f"{base}...{head}")
        additions = deletions = files = 0
        for line in out.splitlines():
            added, deleted, _ = line.split("\t", 2)
            files += 1
            additions += int(added) if added.isdigit() else 0  # binary files show "-"
            deletions += int(deleted) if deleted.isdigit() else 0
        return additions, deletions, files


# -- URLs ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Urls:
    """Absolute URLs as GitHub writes them, pointing back at whatever host:port the client used."""

    api: str
    full_name: str

    @property
    def repo(self) -> str:
        return f"{self.api}/repos/{self.full_name}"

    @property
    def html(self) -> str:
        # GitHub's web pages are not served, but links must still look like GitHub's.
        return f"{self.api}/{self.full_name}"

    def user(self, login: str) -> str:
        return f"{self.api}/users/{login}"

    def label(self, name: str) -> str:
        return f"{self.repo}/labels/{quote(name, safe='')}"


RouteHandler = Callable[[Request, _Urls], Response]


# -- the emulator -------------------------------------------------------------------------------------


class GitHubEmulator(Emulator):
    name = "github"

    def __init__(
        self,
        repo_dir: Path,
        *,
        repository: str = DEFAULT_REPOSITORY,
        token: str = DEFAULT_TOKEN,
        default_branch: str = "main",
        seed_dir: Path | None = None,
        rate_limited_status: int = 429,
    ):
        """Serve `repository` from the git repository at `repo_dir`, creating it (seeded with
        `seed_dir`'s files on `default_branch`) when it does not exist yet. `rate_limited_status`
        is what an injected rate-limit fault answers: GitHub sends 429 or 403 for secondary limits."""
        owner, sep, repo = repository.partition("/")
        if not (owner and sep and repo) or "/" in repo:
            raise ValueError(f"repository should look like owner/name, not {repository!r}")
        self.owner, self.repo = owner, repo
        self.full_name = repository
        self.token = token
        self.default_branch = default_branch
        self.rate_limited_status = rate_limited_status
        self.repo_dir = Path(repo_dir).resolve()
        self.git = Git(self._open_or_init(self.repo_dir))
        self.state_file = self.git.git_dir / STATE_FILE
        # One lock for everything: requests are serialised, so refs, state and its file always agree.
        self._lock = threading.RLock()
        self._rate_window = (0, 0)  # (window start, requests used in it)
        self._state: dict[str, Any] = {
            "next_number": 1,
            "next_comment_id": 1,
            "pulls": {},
            "comments": {},
            "labels": {},
        }
        if self.state_file.exists():
            self._state.update(json.loads(self.state_file.read_text()))
        if self.git.ref_sha(self._branch_ref(default_branch)) is None:
            self._seed(seed_dir)

    # -- repository setup and state --------------------------------------------------------------

    def _open_or_init(self, repo_dir: Path) -> Path:
        if (repo_dir / ".git").is_dir():
            return repo_dir / ".git"
        if (repo_dir / "HEAD").is_file() and (repo_dir / "objects").is_dir():
            return repo_dir  # bare
        if repo_dir.exists() and any(repo_dir.iterdir()):
            raise ValueError(f"{repo_dir} is neither a git repository nor empty")
        repo_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "init", "--quiet", "--bare", f"--initial-branch={self.default_branch}", str(repo_dir)],
            check=True,
            capture_output=True,
            env=_git_env(),
        )
        return repo_dir

    def _seed(self, seed_dir: Path | None) -> None:
        seed_dir = seed_dir.resolve() if seed_dir else None  # git runs elsewhere, so paths must be absolute
        files = sorted(_seed_files(seed_dir)) if seed_dir else []
        edits: list[tuple[str, str, str | None]] = []
        if seed_dir and files:
            listing = "".join(f"{path}\n" for path in files).encode()
            shas = self.git.text("hash-object", "-w", "--stdin-paths", input=listing).splitlines()
            for path, sha in zip(files, shas, strict=True):
                mode = "100755" if os.access(path, os.X_OK) else "100644"
                edits.append(("/".join(path.relative_to(seed_dir).parts), mode, sha))
        tree = self.git.build_tree(None, edits)
        author = self._identity(BOT_LOGIN)
        commit = self.git.commit_tree(tree, [], "Initial commit", author, author)
        self.git.set_ref(self._branch_ref(self.default_branch), commit, "")

    def _save_state(self) -> None:
        scratch = self.state_file.with_suffix(".json.tmp")
        scratch.write_text(json.dumps(self._state, indent=1, sort_keys=True))
        os.replace(scratch, self.state_file)  # atomic: a crash never leaves half a state file

    @staticmethod
    def _branch_ref(branch: str) -> str:
        return f"refs/heads/{branch}"

    @staticmethod
    def _identity(login: str) -> Identity:
        return Identity(login, f"{login}@users.noreply.github.com", _now())

    # -- harness plumbing --------------------------------------------------------------------------

    def env(self, base_url: str) -> dict[str, str]:
        return {"GITHUB_API_URL": base_url, "GITHUB_TOKEN": self.token, "GITHUB_REPOSITORY": self.full_name}

    def error(self, status: int, message: str) -> Response:
        # The harness reports unknown paths as "no route for ..."; GitHub just says Not Found.
        return self._error_response(GitHubError(status, "Not Found" if status == 404 else message))

    def _error_response(self, error: GitHubError) -> Response:
        body: dict[str, Any] = {"message": error.message}
        if error.errors is not None:
            body["errors"] = error.errors
        body.update(documentation_url=DOCS, status=str(error.status))
        return Response(error.status, body, self._rate_headers(count=False))

    def fault_response(self, status: int, retry_after_s: int) -> Response:
        if status != 429:
            return super().fault_response(status, retry_after_s)
        # A secondary rate limit: GitHub answers 403 or 429 with Retry-After while quota remains.
        message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        headers = {**self._rate_headers(count=False), "Retry-After": str(retry_after_s)}
        body = {
            "message": message,
            "documentation_url": f"{DOCS}/using-the-rest-api/rate-limits-for-the-rest-api"
            "#about-secondary-rate-limits",
            "status": str(self.rate_limited_status),
        }
        return Response(self.rate_limited_status, body, headers)

    def before_route(self, request: Request) -> Response | None:
        if request.path.startswith(CODELOAD + "/"):
            return None  # like codeload.github.com's signed URLs: the link itself is the credential
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if not credential:
            return self._error_response(GitHubError(401, "Requires authentication"))
        if scheme.lower() not in {"token", "bearer"} or credential.strip() != self.token:
            return self._error_response(GitHubError(401, "Bad credentials"))
        return None

    def _rate_headers(self, *, count: bool) -> dict[str, str]:
        # GitHub's primary limit is per hour; the emulator counts but never enforces it.
        now = int(time.time())
        start, used = self._rate_window
        if now >= start + 3600:
            start, used = now, 0
        if count:
            used += 1
        self._rate_window = (start, used)
        return {
            "x-ratelimit-limit": str(RATE_LIMIT_PER_HOUR),
            "x-ratelimit-remaining": str(max(0, RATE_LIMIT_PER_HOUR - used)),
            "x-ratelimit-reset": str(start + 3600),
            "x-ratelimit-used": str(used),
            "x-ratelimit-resource": "core",
            "x-github-api-version-selected": "2022-11-28",
            "x-github-media-type": "github.v3; format=json",
        }

    def _handled(self, handler: RouteHandler) -> Callable[[Request], Response]:
        """Wrap a route: decode path parameters, check the repository, map GitHubError, add headers.

        A request that fails leaves the stored state as it was, like GitHub's all-or-nothing writes.
        """

        def handle(request: Request) -> Response:
            params = {k: unquote(v) for k, v in request.params.items() if v is not None}
            request.params.clear()
            request.params.update(params)
            urls = _Urls(f"http://{request.headers.get('host', '127.0.0.1')}", self.full_name)
            with self._lock:
                before = json.dumps(self._state) if request.method != "GET" else None
                try:
                    if "owner" in params and (
                        f"{params['owner']}/{params['repo']}".lower() != self.full_name.lower()
                    ):
                        raise _not_found()
                    response = handler(request, urls)
                except GitHubError as error:
                    if before is not None:
                        self._state = json.loads(before)
                    response = self._error_response(error)
                response.headers.update(self._rate_headers(count=True))
                return response

        return handle

    def routes(self) -> Iterable[Route]:
        table: list[tuple[str, str, RouteHandler]] = [
            ("GET", r"/user", self._get_user),
            ("GET", r"/rate_limit", self._get_rate_limit),
            ("GET", _REPO, self._get_repo),
            ("GET", rf"{_REPO}/branches", self._list_branches),
            ("GET", rf"{_REPO}/branches/(?P<branch>.+)", self._get_branch),
            ("GET", rf"{_REPO}/commits/(?P<ref>.+)", self._get_commit),
            ("GET", rf"{_REPO}/contents(?:/(?P<path>.*))?", self._get_contents),
            ("GET", rf"{_REPO}/tarball(?:/(?P<ref>.+))?", self._get_tarball_link),
            ("GET", rf"{CODELOAD}/{_OWNER_REPO}/tar\.gz/(?P<sha>[0-9a-f]{{40}})", self._get_tarball),
            ("GET", rf"{_REPO}/git/refs", self._list_refs),
            ("POST", rf"{_REPO}/git/refs", self._create_ref),
            ("GET", rf"{_REPO}/git/matching-refs/(?P<ref>.*)", self._list_matching_refs),
            ("GET", rf"{_REPO}/git/ref/(?P<ref>.+)", self._get_ref),
            ("GET", rf"{_REPO}/git/refs/(?P<ref>.+)", self._get_ref_legacy),
            ("PATCH", rf"{_REPO}/git/refs/(?P<ref>.+)", self._update_ref),
            ("DELETE", rf"{_REPO}/git/refs/(?P<ref>.+)", self._delete_ref),
            ("POST", rf"{_REPO}/git/blobs", self._create_blob),
            ("GET", rf"{_REPO}/git/blobs/(?P<sha>\w+)", self._get_blob),
            ("POST", rf"{_REPO}/git/trees", self._create_tree),
            ("GET", rf"{_REPO}/git/trees/(?P<sha>.+)", self._get_tree),
            ("POST", rf"{_REPO}/git/commits", self._create_commit),
            ("GET", rf"{_REPO}/git/commits/(?P<sha>\w+)", self._get_git_commit),
            ("GET", rf"{_REPO}/pulls", self._list_pulls),
            ("POST", rf"{_REPO}/pulls", self._create_pull),
            ("GET", rf"{_REPO}/pulls/(?P<number>\d+)", self._get_pull),
            ("PATCH", rf"{_REPO}/pulls/(?P<number>\d+)", self._edit_pull),
            ("GET", rf"{_REPO}/pulls/(?P<number>\d+)/merge", self._is_merged),
            ("PUT", rf"{_REPO}/pulls/(?P<number>\d+)/merge", self._merge_pull_request),
            ("GET", rf"{_REPO}/issues/comments/(?P<id>\d+)", self._get_comment),
            ("PATCH", rf"{_REPO}/issues/comments/(?P<id>\d+)", self._edit_comment),
            ("DELETE", rf"{_REPO}/issues/comments/(?P<id>\d+)", self._delete_comment),
            ("GET", rf"{_REPO}/issues/(?P<number>\d+)", self._get_issue),
            ("PATCH", rf"{_REPO}/issues/(?P<number>\d+)", self._edit_issue),
            ("GET", rf"{_REPO}/issues/(?P<number>\d+)/comments", self._list_comments),
            ("POST", rf"{_REPO}/issues/(?P<number>\d+)/comments", self._create_comment),
            ("GET", rf"{_REPO}/issues/(?P<number>\d+)/labels", self._list_issue_labels),
            ("POST", rf"{_REPO}/issues/(?P<number>\d+)/labels", self._add_issue_labels),
            ("PUT", rf"{_REPO}/issues/(?P<number>\d+)/labels", self._set_issue_labels),
            ("DELETE", rf"{_REPO}/issues/(?P<number>\d+)/labels/(?P<name>.+)", self._remove_issue_label),
            ("GET", rf"{_REPO}/labels", self._list_labels),
            ("POST", rf"{_REPO}/labels", self._create_label),
            ("GET", rf"{_REPO}/labels/(?P<name>.+)", self._get_label),
        ]
        return [Route.of(method, pattern, self._handled(handler)) for method, pattern, handler in table]

    # -- pagination ------------------------------------------------------------------------------------

    def _paged(self, request: Request, urls: _Urls, items: list[Any]) -> Response:
        """One page of `items`, with GitHub's Link header (prev, next, last, first) when there are more."""
        per_page = min(MAX_PER_PAGE, max(1, _int_or(request.query.get("per_page"), DEFAULT_PER_PAGE)))
        page = max(1, _int_or(request.query.get("page"), 1))
        last = max(1, -(-len(items) // per_page))

        def link(to_page: int, rel: str) -> str:
            query = urlencode({**request.query, "page": str(to_page)})
            return f'<{urls.api}{request.path}?{query}>; rel="{rel}"'

        links = []
        if page > 1:
            links.append(link(min(page - 1, last), "prev"))
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links.append(link(1, "first"))
        headers = {"Link": ", ".join(links)} if links else {}
        return Response(200, items[(page - 1) * per_page : page * per_page], headers)

    # -- users, rate limit, repository -------------------------------------------------------------

    def _user_json(self, urls: _Urls, login: str, kind: str = "User") -> dict[str, Any]:
        return {
            "login": login,
            "id": _stable_id("user", login),
            "node_id": _node_id("U", login),
            "avatar_url": f"{urls.api}/avatars/{login}",
            "url": urls.user(login),
            "html_url": f"{urls.api}/{login}",
            "type": kind,
            "site_admin": False,
        }

    def _get_user(self, request: Request, urls: _Urls) -> Response:
        return Response(200, {**self._user_json(urls, BOT_LOGIN), "name": BOT_LOGIN, "email": None})

    def _get_rate_limit(self, request: Request, urls: _Urls) -> Response:
        headers = self._rate_headers(count=False)
        core = {
            "limit": RATE_LIMIT_PER_HOUR,
            "remaining": int(headers["x-ratelimit-remaining"]),
            "reset": int(headers["x-ratelimit-reset"]),
            "used": int(headers["x-ratelimit-used"]),
            "resource": "core",
        }
        return Response(200, {"resources": {"core": core}, "rate": core})

    def _repo_json(self, urls: _Urls) -> dict[str, Any]:
        return {
            "id": _stable_id("repo", self.full_name),
            "node_id": _node_id("R", self.full_name),
            "name": self.repo,
            "full_name": self.full_name,
            "private": True,
            "visibility": "private",
            "owner": self._user_json(urls, self.owner, "Organization"),
            "html_url": urls.html,
            "url": urls.repo,
            "description": "Analytics dbt project (sandbox)",
            "fork": False,
            "archived": False,
            "disabled": False,
            "default_branch": self.default_branch,
            "clone_url": self.repo_dir.as_uri(),  # really clonable
            "git_url": self.repo_dir.as_uri(),
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
            "updated_at": _now(),
            "pushed_at": _now(),
        }

    def _get_repo(self, request: Request, urls: _Urls) -> Response:
        return Response(200, self._repo_json(urls))

    # -- commits, branches, contents -----------------------------------------------------------------

    def _git_commit_json(self, urls: _Urls, info: CommitInfo) -> dict[str, Any]:
        return {
            "sha": info.sha,
            "node_id": _node_id("C", info.sha),
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

    def _commit_json(self, urls: _Urls, sha: str) -> dict[str, Any]:
        """The /commits representation: the git commit wrapped with GitHub's own links."""
        info = self.git.read_commit(sha)
        git_commit = self._git_commit_json(urls, info)
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

    def _branches(self) -> list[tuple[str, str]]:
        return [(ref.removeprefix("refs/heads/"), sha) for ref, sha in self.git.refs("refs/heads/")]

    def _list_branches(self, request: Request, urls: _Urls) -> Response:
        items = [
            {"name": name, "commit": {"sha": sha, "url": f"{urls.repo}/commits/{sha}"}, "protected": False}
            for name, sha in self._branches()
        ]
        return self._paged(request, urls, items)

    def _get_branch(self, request: Request, urls: _Urls) -> Response:
        name = request.params["branch"]
        sha = self.git.ref_sha(self._branch_ref(name))
        if sha is None:
            raise GitHubError(404, "Branch not found")
        return Response(
            200,
            {
                "name": name,
                "commit": self._commit_json(urls, sha),
                "_links": {"self": f"{urls.repo}/branches/{quote(name)}", "html": f"{urls.html}/tree/{name}"},
                "protected": False,
                "protection": {"enabled": False, "required_status_checks": {"enforcement_level": "off"}},
                "protection_url": f"{urls.repo}/branches/{quote(name)}/protection",
            },
        )

    def _get_commit(self, request: Request, urls: _Urls) -> Response:
        sha = self.git.resolve(request.params["ref"])
        if sha is None:
            raise GitHubError(422, f"No commit found for SHA: {request.params['ref']}")
        return Response(200, self._commit_json(urls, sha))

    def _content_json(
        self, urls: _Urls, ref: str, entry: TreeEntry, path: str, *, with_content: bool
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
            raw = self.git.read_blob(entry.sha)
            if len(raw) > CONTENTS_INLINE_LIMIT:  # GitHub leaves a larger file's content out
                item["encoding"], item["content"] = "none", ""
            else:
                item["encoding"], item["content"] = "base64", base64.encodebytes(raw).decode()
        return item

    def _get_tarball_link(self, request: Request, urls: _Urls) -> Response:
        sha = self.git.resolve(request.params.get("ref") or self.default_branch)
        if sha is None:
            raise _not_found()
        location = f"{urls.api}{CODELOAD}/{self.full_name}/tar.gz/{sha}"
        return Response(302, None, {"Location": location})

    def _get_tarball(self, request: Request, urls: _Urls) -> Response:
        sha = request.params["sha"]
        if self.git.resolve(sha) is None:
            raise _not_found()
        prefix = f"{self.full_name.replace('/', '-')}-{sha[:7]}/"  # GitHub's top directory
        archive = self.git.run("archive", "--format=tar.gz", f"--prefix={prefix}", sha).stdout
        return Response(200, archive, content_type="application/x-gzip")

    def _get_contents(self, request: Request, urls: _Urls) -> Response:
        ref = request.query.get("ref") or self.default_branch
        commit = self.git.resolve(ref)
        if commit is None:
            raise GitHubError(404, f"No commit found for the ref {ref}")
        path = request.params.get("path", "").strip("/")
        if path:
            found = self.git.ls_tree(commit, path=path)
            entry = next((e for e in found if e.path == path), None)
            if entry is None:
                raise _not_found()
            if entry.type != "tree":
                return Response(200, self._content_json(urls, ref, entry, path, with_content=True))
            tree = entry.sha
        else:
            tree = commit
        listing = [
            self._content_json(urls, ref, e, f"{path}/{e.path}" if path else e.path, with_content=False)
            for e in self.git.ls_tree(tree)
        ]
        return Response(200, listing)

    # -- refs ---------------------------------------------------------------------------------------

    def _ref_json(self, urls: _Urls, ref: str, sha: str) -> dict[str, Any]:
        kind = self.git.object_type(sha) or "commit"
        return {
            "ref": ref,
            "node_id": _node_id("REF", ref),
            "url": f"{urls.repo}/git/{ref}",
            "object": {"sha": sha, "type": kind, "url": f"{urls.repo}/git/{kind}s/{sha}"},
        }

    def _refs_json(self, urls: _Urls, prefix: str) -> list[dict[str, Any]]:
        return [self._ref_json(urls, ref, sha) for ref, sha in self.git.refs() if ref.startswith(prefix)]

    def _list_refs(self, request: Request, urls: _Urls) -> Response:
        return self._paged(request, urls, self._refs_json(urls, "refs/"))

    def _list_matching_refs(self, request: Request, urls: _Urls) -> Response:
        return self._paged(request, urls, self._refs_json(urls, f"refs/{request.params.get('ref', '')}"))

    def _get_ref(self, request: Request, urls: _Urls) -> Response:
        ref = f"refs/{request.params['ref']}"
        sha = self.git.ref_sha(ref)
        if sha is None:
            raise _not_found()
        return Response(200, self._ref_json(urls, ref, sha))

    def _get_ref_legacy(self, request: Request, urls: _Urls) -> Response:
        # The old /git/refs/<ref> answers an exact match, else every ref starting with it.
        ref = f"refs/{request.params['ref']}"
        sha = self.git.ref_sha(ref)
        if sha is not None:
            return Response(200, self._ref_json(urls, ref, sha))
        matching = self._refs_json(urls, ref)
        if not matching:
            raise _not_found()
        return Response(200, matching)

    def _create_ref(self, request: Request, urls: _Urls) -> Response:
        data = _json_object(request)
        ref, sha = data.get("ref"), data.get("sha")
        if not isinstance(ref, str) or not isinstance(sha, str):
            raise _invalid(
                {"resource": "Reference", "code": "missing_field", "field": "ref" if ref else "sha"}
            )
        # The prefix check comes first so a name can never reach git as an option.
        if not (ref.startswith("refs/") and ref.count("/") >= 2) or (
            self.git.run("check-ref-format", ref, check=False).returncode != 0
        ):
            raise GitHubError(422, f"{ref} is not a valid ref name.")
        if self.git.object_type(sha) is None:
            raise GitHubError(422, "Object does not exist")
        if not self.git.set_ref(ref, sha, ""):
            raise GitHubError(
                422,
                "Reference already exists",
                [{"resource": "Reference", "code": "already_exists", "field": "ref"}],
            )
        return Response(201, self._ref_json(urls, ref, sha))

    def _update_ref(self, request: Request, urls: _Urls) -> Response:
        ref = f"refs/{request.params['ref']}"
        data = _json_object(request)
        new = data.get("sha")
        old = self.git.ref_sha(ref)
        if old is None:
            raise GitHubError(422, "Reference does not exist")
        if not isinstance(new, str) or self.git.object_type(new) is None:
            raise GitHubError(422, "Object does not exist")
        if not data.get("force") and not self.git.is_ancestor(old, new):
            raise GitHubError(422, "Update is not a fast forward")
        if not self.git.set_ref(ref, new, old):
            raise GitHubError(409, "Reference update failed: it moved while updating")
        return Response(200, self._ref_json(urls, ref, new))

    def _delete_ref(self, request: Request, urls: _Urls) -> Response:
        ref = f"refs/{request.params['ref']}"
        old = self.git.ref_sha(ref)
        if old is None or not self.git.delete_ref(ref, old):
            raise GitHubError(422, "Reference does not exist")
        if ref.startswith("refs/heads/"):
            # GitHub closes pull requests whose head or base branch disappears.
            branch = ref.removeprefix("refs/heads/")
            for pull in self._pulls():
                if pull["state"] == "open" and pull["head_ref"] == branch:
                    self._close(pull, head_sha=old)
                elif pull["state"] == "open" and pull["base_ref"] == branch:
                    self._close(pull, base_sha=old)
            self._save_state()
        return Response(204)

    # -- blobs, trees, commits -----------------------------------------------------------------------

    def _create_blob(self, request: Request, urls: _Urls) -> Response:
        data = _json_object(request)
        content, encoding = data.get("content"), data.get("encoding", "utf-8")
        if not isinstance(content, str):
            raise _invalid({"resource": "Blob", "code": "missing_field", "field": "content"})
        if encoding == "base64":
            try:
                raw = base64.b64decode(content)
            except binascii.Error:
                raise GitHubError(422, "Problems parsing content: invalid base64") from None
        elif encoding in {"utf-8", "utf8"}:
            raw = content.encode()
        else:
            raise GitHubError(422, f"encoding {encoding!r} is not supported; use utf-8 or base64")
        sha = self.git.write_blob(raw)
        return Response(201, {"url": f"{urls.repo}/git/blobs/{sha}", "sha": sha})

    def _get_blob(self, request: Request, urls: _Urls) -> Response:
        sha = request.params["sha"]
        if self.git.object_type(sha) != "blob":
            raise _not_found()
        raw = self.git.read_blob(sha)
        return Response(
            200,
            {
                "sha": sha,
                "node_id": _node_id("B", sha),
                "size": len(raw),
                "url": f"{urls.repo}/git/blobs/{sha}",
                "content": base64.encodebytes(raw).decode(),
                "encoding": "base64",
            },
        )

    def _tree_json(self, urls: _Urls, sha: str, *, recursive: bool) -> dict[str, Any]:
        entries = []
        for entry in self.git.ls_tree(sha, recursive=recursive):
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

    def _get_tree(self, request: Request, urls: _Urls) -> Response:
        sha = self.git.resolve(request.params["sha"], "tree")
        if sha is None:
            raise _not_found()
        # GitHub recurses when `recursive` has any value at all.
        return Response(200, self._tree_json(urls, sha, recursive="recursive" in request.query))

    def _create_tree(self, request: Request, urls: _Urls) -> Response:
        data = _json_object(request)
        base_tree = None
        if data.get("base_tree"):
            base_tree = self.git.resolve(str(data["base_tree"]), "tree")
            if base_tree is None:
                raise GitHubError(422, "base_tree is not a valid tree oid")
        entries = data.get("tree")
        if not isinstance(entries, list):
            raise _invalid({"resource": "Tree", "code": "missing_field", "field": "tree"})
        edits = [self._tree_edit(entry) for entry in entries]
        sha = self.git.build_tree(base_tree, edits)
        return Response(201, self._tree_json(urls, sha, recursive=False))

    def _tree_edit(self, entry: Any) -> tuple[str, str, str | None]:
        """One create-tree entry as (path, mode, sha or None), checked the way GitHub checks it."""
        if not isinstance(entry, dict):
            raise GitHubError(422, "tree entries must be objects")
        path, mode, kind = entry.get("path"), entry.get("mode"), entry.get("type")
        if not isinstance(path, str) or any(part in {"", ".", "..", ".git"} for part in path.split("/")):
            raise GitHubError(422, f"tree.path contains a malformed path component: {path!r}")
        expected_kind = {_TREE_MODE: "tree", _GITLINK_MODE: "commit"}.get(str(mode), "blob")
        if mode not in _BLOB_MODES | {_TREE_MODE, _GITLINK_MODE} or kind != expected_kind:
            raise GitHubError(422, f"Invalid tree info: mode {mode!r} and type {kind!r} for {path}")
        if "content" in entry and entry.get("sha") is not None:
            raise GitHubError(422, "Must supply either tree.sha or tree.content, not both")
        if "content" in entry:
            if kind != "blob" or not isinstance(entry["content"], str):
                raise GitHubError(422, f"tree.content is only for blobs ({path})")
            return path, str(mode), self.git.write_blob(entry["content"].encode())
        sha = entry.get("sha")
        if sha is None:
            return path, str(mode), None  # GitHub's way to delete a path
        if kind != "commit" and self.git.object_type(str(sha)) != kind:
            raise GitHubError(422, f"tree.sha {sha} is not a valid {kind}")
        return path, str(mode), str(sha)

    def _get_git_commit(self, request: Request, urls: _Urls) -> Response:
        sha = request.params["sha"]
        if self.git.object_type(sha) != "commit":
            raise _not_found()
        return Response(200, self._git_commit_json(urls, self.git.read_commit(sha)))

    def _create_commit(self, request: Request, urls: _Urls) -> Response:
        data = _json_object(request)
        message, tree, parents = data.get("message"), data.get("tree"), data.get("parents", [])
        if not isinstance(message, str) or not isinstance(tree, str):
            raise _invalid(
                {"resource": "Commit", "code": "missing_field", "field": "message" if tree else "tree"}
            )
        if self.git.object_type(tree) != "tree":
            raise GitHubError(422, "Tree SHA does not exist")
        if not isinstance(parents, list) or any(self.git.object_type(str(p)) != "commit" for p in parents):
            raise GitHubError(422, "Parent SHA does not exist or is not a commit object")
        author = _identity_from(data.get("author")) or self._identity(BOT_LOGIN)
        committer = _identity_from(data.get("committer")) or author
        sha = self.git.commit_tree(tree, map(str, parents), message, author, committer)
        return Response(201, self._git_commit_json(urls, self.git.read_commit(sha)))

    # -- pull requests ---------------------------------------------------------------------------------

    def _pulls(self) -> list[dict[str, Any]]:
        return [self._state["pulls"][key] for key in sorted(self._state["pulls"], key=int)]

    def _pull(self, number: int | str) -> dict[str, Any]:
        pull = self._state["pulls"].get(str(number))
        if pull is None:
            raise _not_found()
        return pull

    def _tip(self, pull: dict[str, Any], side: str) -> str:
        """The head or base commit: open pull requests follow their branches, closed ones keep
        the commits they closed with (so a merged pull request still shows its own changes)."""
        live = self.git.ref_sha(self._branch_ref(pull[f"{side}_ref"])) if pull["state"] == "open" else None
        return live or pull[f"{side}_sha"]

    def _label_json(self, urls: _Urls, label: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": label["id"],
            "node_id": _node_id("LA", label["id"]),
            "url": urls.label(label["name"]),
            "name": label["name"],
            "color": label["color"],
            "default": False,
            "description": label["description"],
        }

    def _issue_labels_json(self, urls: _Urls, pull: dict[str, Any]) -> list[dict[str, Any]]:
        return [self._label_json(urls, self._state["labels"][name.lower()]) for name in pull["labels"]]

    def _part_json(self, urls: _Urls, branch: str, sha: str) -> dict[str, Any]:
        return {
            "label": f"{self.owner}:{branch}",
            "ref": branch,
            "sha": sha,
            "user": self._user_json(urls, self.owner, "Organization"),
            "repo": self._repo_json(urls),
        }

    def _pull_json(self, urls: _Urls, pull: dict[str, Any], *, full: bool = True) -> dict[str, Any]:
        """A pull request; listings leave out what GitHub leaves out (PyGithub fetches it lazily)."""
        number = pull["number"]
        url = f"{urls.repo}/pulls/{number}"
        issue_url = f"{urls.repo}/issues/{number}"
        html_url = f"{urls.html}/pull/{number}"
        head_sha, base_sha = self._tip(pull, "head"), self._tip(pull, "base")
        body: dict[str, Any] = {
            "url": url,
            "id": _stable_id("pull", self.full_name, number),
            "node_id": _node_id("PR", self.full_name, number),
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
            "user": self._user_json(urls, pull["user"]),
            "body": pull["body"],
            "labels": self._issue_labels_json(urls, pull),
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
            "head": self._part_json(urls, pull["head_ref"], head_sha),
            "base": self._part_json(urls, pull["base_ref"], base_sha),
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
        mergeable = self.git.merged_tree(base_sha, head_sha) is not None if open_ else None
        additions, deletions, changed = self.git.diff_stats(base_sha, head_sha)
        body.update(
            merged=pull["merged_at"] is not None,
            mergeable=mergeable,
            rebaseable=mergeable,
            mergeable_state=("clean" if mergeable else "dirty") if open_ else "unknown",
            merged_by=self._user_json(urls, pull["merged_by"]) if pull["merged_by"] else None,
            comments=sum(1 for c in self._state["comments"].values() if c["issue"] == number),
            review_comments=0,
            maintainer_can_modify=pull["maintainer_can_modify"],
            commits=self.git.commit_count(base_sha, head_sha),
            additions=additions,
            deletions=deletions,
            changed_files=changed,
        )
        return body

    def _head_branch(self, head: str) -> str:
        owner, sep, branch = head.rpartition(":")
        if sep and owner.lower() != self.owner.lower():
            # Forks are out of scope: the sandbox has a single repository.
            raise _invalid({"resource": "PullRequest", "field": "head", "code": "invalid"})
        return branch

    def _check_no_open_duplicate(self, head_ref: str, base_ref: str, number: int | None = None) -> None:
        for other in self._pulls():
            if (
                other["state"] == "open"
                and other["number"] != number
                and ((other["head_ref"], other["base_ref"]) == (head_ref, base_ref))
            ):
                raise _invalid(
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"A pull request already exists for {self.owner}:{head_ref}.",
                    }
                )

    def _list_pulls(self, request: Request, urls: _Urls) -> Response:
        state = request.query.get("state", "open")
        pulls = [p for p in self._pulls() if state == "all" or p["state"] == state]
        head = request.query.get("head", "")
        if ":" in head:  # GitHub ignores a head filter without the "owner:" prefix
            owner, _, branch = head.partition(":")
            pulls = [p for p in pulls if owner.lower() == self.owner.lower() and p["head_ref"] == branch]
        if base := request.query.get("base"):
            pulls = [p for p in pulls if p["base_ref"] == base]
        sort = request.query.get("sort", "created")
        if sort == "updated":
            pulls.sort(key=lambda p: (p["updated_at"], p["number"]))
        # GitHub's default direction is desc for created (or no sort), asc otherwise.
        direction = request.query.get("direction", "desc" if sort == "created" else "asc")
        if direction == "desc":
            pulls.reverse()
        return self._paged(request, urls, [self._pull_json(urls, p, full=False) for p in pulls])

    def _create_pull(self, request: Request, urls: _Urls) -> Response:
        data = _json_object(request)
        for field in ("head", "base", "title"):
            if not isinstance(data.get(field), str) or not data[field]:
                raise _invalid({"resource": "PullRequest", "code": "missing_field", "field": field})
        head_ref, base_ref = self._head_branch(data["head"]), data["base"]
        head_sha = self.git.ref_sha(self._branch_ref(head_ref))
        base_sha = self.git.ref_sha(self._branch_ref(base_ref))
        if base_sha is None:
            raise _invalid({"resource": "PullRequest", "field": "base", "code": "invalid"})
        if head_sha is None:
            raise _invalid({"resource": "PullRequest", "field": "head", "code": "invalid"})
        self._check_no_open_duplicate(head_ref, base_ref)
        _check_body("Issue", data.get("body"))
        if self.git.commit_count(base_sha, head_sha) == 0:
            raise _invalid(
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": f"No commits between {base_ref} and {head_ref}",
                }
            )
        number = self._next("next_number")
        stamp = _now()
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
            "user": BOT_LOGIN,
            "labels": [],
            "created_at": stamp,
            "updated_at": stamp,
            "closed_at": None,
            "merged_at": None,
            "merge_commit_sha": None,
            "merged_by": None,
        }
        self._state["pulls"][str(number)] = pull
        self._save_state()
        return Response(201, self._pull_json(urls, pull))

    def _get_pull(self, request: Request, urls: _Urls) -> Response:
        return Response(200, self._pull_json(urls, self._pull(request.params["number"])))

    def _edit_pull(self, request: Request, urls: _Urls) -> Response:
        pull = self._pull(request.params["number"])
        data = _json_object(request)
        _check_body("Issue", data.get("body"))
        if isinstance(data.get("base"), str) and data["base"] != pull["base_ref"]:
            if self.git.ref_sha(self._branch_ref(data["base"])) is None:
                raise _invalid({"resource": "PullRequest", "field": "base", "code": "invalid"})
            self._check_no_open_duplicate(pull["head_ref"], data["base"], pull["number"])
            pull["base_ref"] = data["base"]
        if isinstance(data.get("maintainer_can_modify"), bool):
            pull["maintainer_can_modify"] = data["maintainer_can_modify"]
        self._apply_issue_edit(pull, data)
        return Response(200, self._pull_json(urls, pull))

    def _apply_issue_edit(self, pull: dict[str, Any], data: dict[str, Any]) -> None:
        """The edits pull requests share with issues: title, body, state and labels."""
        _check_body("Issue", data.get("body"))  # before any edit: a refused request changes nothing
        if isinstance(data.get("title"), str):
            pull["title"] = data["title"]
        if "body" in data:
            pull["body"] = data["body"]
        if isinstance(data.get("labels"), list):
            pull["labels"] = self._ensure_labels(data["labels"])
        state = data.get("state")
        if state == "closed" and pull["state"] == "open":
            self._close(pull)
        elif state == "open" and pull["state"] == "closed":
            self._reopen(pull)
        pull["updated_at"] = _now()
        self._save_state()

    def _reopen(self, pull: dict[str, Any]) -> None:
        problem = None
        if pull["merged_at"]:
            problem = "The pull request has been merged."
        elif self.git.ref_sha(self._branch_ref(pull["head_ref"])) is None:
            problem = "The head branch no longer exists."
        if problem:
            raise _invalid(
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "field": "state",
                    "message": f"state cannot be changed. {problem}",
                }
            )
        self._check_no_open_duplicate(pull["head_ref"], pull["base_ref"], pull["number"])
        pull.update(state="open", closed_at=None)

    def _close(self, pull: dict[str, Any], head_sha: str | None = None, base_sha: str | None = None) -> None:
        pull.update(
            head_sha=head_sha or self._tip(pull, "head"), base_sha=base_sha or self._tip(pull, "base")
        )
        pull.update(state="closed", closed_at=_now(), updated_at=_now())

    def _is_merged(self, request: Request, urls: _Urls) -> Response:
        if self._pull(request.params["number"])["merged_at"]:
            return Response(204)
        raise _not_found()

    def _merge_pull_request(self, request: Request, urls: _Urls) -> Response:
        data = _json_object(request)
        sha = self._merge(
            self._pull(request.params["number"]),
            method=str(data.get("merge_method", "merge")),
            by=BOT_LOGIN,
            expected_head=data.get("sha"),
            title=data.get("commit_title"),
            message=data.get("commit_message"),
        )
        return Response(200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"})

    def _merge(
        self,
        pull: dict[str, Any],
        *,
        method: str,
        by: str,
        expected_head: str | None = None,
        title: str | None = None,
        message: str | None = None,
    ) -> str:
        if pull["state"] != "open":
            raise GitHubError(405, "Pull Request is not mergeable")
        head = self._tip(pull, "head")
        if expected_head and expected_head != head:
            raise GitHubError(409, "Head branch was modified. Review and try the merge again.")
        base_ref = self._branch_ref(pull["base_ref"])
        base = self.git.ref_sha(base_ref)
        if base is None:
            raise GitHubError(405, "Base branch does not exist")
        tree = self.git.merged_tree(base, head)
        if tree is None:
            raise GitHubError(405, "Pull Request is not mergeable")
        person = self._identity(by)
        if method == "merge":
            default_title = f"Merge pull request #{pull['number']} from {self.owner}/{pull['head_ref']}"
            text = f"{title or default_title}\n\n{message or pull['title']}"
            merged = self.git.commit_tree(tree, [base, head], text, person, person)
        elif method == "squash":
            text = f"{title or pull['title']} (#{pull['number']})\n\n{message or pull['body'] or ''}".rstrip()
            merged = self.git.commit_tree(tree, [base], text, person, person)
        elif method == "rebase" and self.git.is_ancestor(base, head):
            merged = head  # the sandbox rebases only when it is a fast-forward
        else:
            raise GitHubError(405, f"Merge method {method} is not possible for this pull request")
        if not self.git.set_ref(base_ref, merged, base):
            raise GitHubError(409, "Base branch was modified. Review and try the merge again.")
        self._close(pull, head_sha=head, base_sha=base)
        pull.update(merged_at=pull["closed_at"], merged_by=by, merge_commit_sha=merged)
        self._save_state()
        return merged

    # -- people acting in the web UI (for tests and the demo) ------------------------------------------

    def merge_pull(self, number: int, *, method: str = "merge", by: str = REVIEWER_LOGIN) -> str:
        """Merge a pull request as a person would ("merge", "squash", or fast-forward "rebase");
        returns the new head of the base branch. Raises GitHubError if it cannot be merged."""
        with self._lock:
            return self._merge(self._pull(number), method=method, by=by)

    def close_pull(self, number: int) -> None:
        """Close a pull request without merging it, as a person would."""
        with self._lock:
            pull = self._pull(number)
            if pull["state"] == "open":
                self._close(pull)
                self._save_state()

    def pull_requests(self) -> list[dict[str, Any]]:
        """The stored pull-request records (copies), oldest first."""
        with self._lock:
            return json.loads(json.dumps(self._pulls()))

    # -- issues: the conversation side of pull requests -------------------------------------------------

    def _issue_json(self, urls: _Urls, pull: dict[str, Any]) -> dict[str, Any]:
        pr = self._pull_json(urls, pull, full=False)
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
            comments=sum(1 for c in self._state["comments"].values() if c["issue"] == pull["number"]),
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

    def _get_issue(self, request: Request, urls: _Urls) -> Response:
        return Response(200, self._issue_json(urls, self._pull(request.params["number"])))

    def _edit_issue(self, request: Request, urls: _Urls) -> Response:
        pull = self._pull(request.params["number"])
        self._apply_issue_edit(pull, _json_object(request))
        return Response(200, self._issue_json(urls, pull))

    def _comment_json(self, urls: _Urls, comment: dict[str, Any]) -> dict[str, Any]:
        url = f"{urls.repo}/issues/comments/{comment['id']}"
        return {
            "id": comment["id"],
            "node_id": _node_id("IC", comment["id"]),
            "url": url,
            "html_url": f"{urls.html}/pull/{comment['issue']}#issuecomment-{comment['id']}",
            "issue_url": f"{urls.repo}/issues/{comment['issue']}",
            "body": comment["body"],
            "user": self._user_json(urls, comment["user"]),
            "created_at": comment["created_at"],
            "updated_at": comment["updated_at"],
            "author_association": "CONTRIBUTOR",
            "performed_via_github_app": None,
        }

    def _comment(self, request: Request) -> dict[str, Any]:
        comment = self._state["comments"].get(request.params["id"])
        if comment is None:
            raise _not_found()
        return comment

    def _comment_body(self, request: Request) -> str:
        body = _json_object(request).get("body")
        if not isinstance(body, str) or not body:
            raise _invalid({"resource": "IssueComment", "code": "missing_field", "field": "body"})
        _check_body("IssueComment", body)
        return body

    def _list_comments(self, request: Request, urls: _Urls) -> Response:
        number = self._pull(request.params["number"])["number"]
        since = request.query.get("since", "")
        comments = [
            self._comment_json(urls, c)
            for c in sorted(self._state["comments"].values(), key=lambda c: c["id"])
            if c["issue"] == number and c["updated_at"] >= since
        ]
        return self._paged(request, urls, comments)

    def _create_comment(self, request: Request, urls: _Urls) -> Response:
        pull = self._pull(request.params["number"])
        body = self._comment_body(request)
        stamp = _now()
        comment_id = self._next("next_comment_id")
        comment = {"id": comment_id, "issue": pull["number"], "body": body, "user": BOT_LOGIN}
        comment.update(created_at=stamp, updated_at=stamp)
        self._state["comments"][str(comment_id)] = comment
        pull["updated_at"] = stamp
        self._save_state()
        return Response(201, self._comment_json(urls, comment))

    def _get_comment(self, request: Request, urls: _Urls) -> Response:
        return Response(200, self._comment_json(urls, self._comment(request)))

    def _edit_comment(self, request: Request, urls: _Urls) -> Response:
        comment = self._comment(request)
        comment.update(body=self._comment_body(request), updated_at=_now())
        self._save_state()
        return Response(200, self._comment_json(urls, comment))

    def _delete_comment(self, request: Request, urls: _Urls) -> Response:
        del self._state["comments"][str(self._comment(request)["id"])]
        self._save_state()
        return Response(204)

    # -- labels ---------------------------------------------------------------------------------------

    def _next(self, counter: str) -> int:
        value = int(self._state[counter])
        self._state[counter] = value + 1
        return value

    def _new_label(
        self, name: str, color: str = NEW_LABEL_COLOR, description: str | None = None
    ) -> dict[str, Any]:
        return {
            "id": _stable_id("label", self.full_name, name.lower()),
            "name": name,
            "color": color.lower(),
            "description": description,
        }

    def _ensure_labels(self, names: Iterable[Any]) -> list[str]:
        """Canonical names for `names`, creating repository labels GitHub would create on the fly."""
        canonical: list[str] = []
        for name in names:
            name = name.get("name") if isinstance(name, dict) else name
            if not isinstance(name, str) or not name.strip():
                raise _invalid({"resource": "Label", "code": "invalid", "field": "name"})
            label = self._state["labels"].setdefault(name.lower(), self._new_label(name))
            if label["name"] not in canonical:
                canonical.append(label["name"])
        return canonical

    def _issue_label_names(self, request: Request) -> list[Any]:
        data = _json_body(request)
        # PyGithub sends a bare list; GitHub also accepts {"labels": [...]}.
        names = data.get("labels", []) if isinstance(data, dict) else data or []
        if not isinstance(names, list):
            raise _invalid({"resource": "Label", "code": "invalid", "field": "labels"})
        return names

    def _list_issue_labels(self, request: Request, urls: _Urls) -> Response:
        return self._paged(request, urls, self._issue_labels_json(urls, self._pull(request.params["number"])))

    def _add_issue_labels(self, request: Request, urls: _Urls) -> Response:
        pull = self._pull(request.params["number"])
        pull["labels"] = self._ensure_labels([*pull["labels"], *self._issue_label_names(request)])
        self._save_state()
        return Response(200, self._issue_labels_json(urls, pull))

    def _set_issue_labels(self, request: Request, urls: _Urls) -> Response:
        pull = self._pull(request.params["number"])
        pull["labels"] = self._ensure_labels(self._issue_label_names(request))
        self._save_state()
        return Response(200, self._issue_labels_json(urls, pull))

    def _remove_issue_label(self, request: Request, urls: _Urls) -> Response:
        pull = self._pull(request.params["number"])
        wanted = request.params["name"].lower()
        if wanted not in (name.lower() for name in pull["labels"]):
            raise GitHubError(404, "Label does not exist")
        pull["labels"] = [name for name in pull["labels"] if name.lower() != wanted]
        self._save_state()
        return Response(200, self._issue_labels_json(urls, pull))

    def _list_labels(self, request: Request, urls: _Urls) -> Response:
        labels = sorted(self._state["labels"].values(), key=lambda label: label["name"].lower())
        return self._paged(request, urls, [self._label_json(urls, label) for label in labels])

    def _create_label(self, request: Request, urls: _Urls) -> Response:
        data = _json_object(request)
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _invalid({"resource": "Label", "code": "missing_field", "field": "name"})
        if name.lower() in self._state["labels"]:
            raise _invalid({"resource": "Label", "code": "already_exists", "field": "name"})
        color = str(data.get("color") or NEW_LABEL_COLOR).lstrip("#")
        if not re.fullmatch(r"[0-9a-fA-F]{6}", color):
            raise _invalid({"resource": "Label", "code": "invalid", "field": "color"})
        label = self._new_label(name, color, data.get("description"))
        self._state["labels"][name.lower()] = label
        self._save_state()
        return Response(201, self._label_json(urls, label))

    def _get_label(self, request: Request, urls: _Urls) -> Response:
        label = self._state["labels"].get(request.params["name"].lower())
        if label is None:
            raise _not_found()
        return Response(200, self._label_json(urls, label))


# -- helpers ----------------------------------------------------------------------------------------------


def _seed_files(seed_dir: Path) -> Iterator[Path]:
    """The files of a project worth committing: no build output, logs, databases or caches."""
    for path in seed_dir.rglob("*"):
        relative = path.relative_to(seed_dir).parts
        if any(part in SEED_SKIPPED_DIRS for part in relative[:-1]):
            continue
        if path.is_file() and not path.name.endswith(SEED_SKIPPED_SUFFIXES):
            yield path


def _int_or(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default  # GitHub ignores a page or per_page it cannot read


def _json_body(request: Request) -> Any:
    try:
        return request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise GitHubError(400, "Problems parsing JSON") from None


def _json_object(request: Request) -> dict[str, Any]:
    data = _json_body(request)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GitHubError(400, "Problems parsing JSON")
    return data


def _identity_from(value: Any) -> Identity | None:
    """An author or committer from a request body, dated now unless it says otherwise."""
    if not isinstance(value, dict) or not value.get("name") or not value.get("email"):
        return None
    date = value.get("date") or _now()
    try:
        _git_date(date)
    except (TypeError, ValueError):
        raise _invalid({"resource": "Commit", "code": "invalid", "field": "date"}) from None
    return Identity(str(value["name"]), str(value["email"]), date)
