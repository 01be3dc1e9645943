"""Git plumbing for the GitHub emulator: the git CLI against one bare repository, and its seeding.

Every object the emulator serves is a real git object written here, so SHAs are genuine and
`git -C <repo_dir> diff main..<branch>` shows what a client did.
"""

from __future__ import annotations

import bisect
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SEED_SKIPPED_DIRS = frozenset({".git", "target", "logs", "dbt_packages", "__pycache__", ".venv"})
SEED_SKIPPED_SUFFIXES = (".duckdb", ".duckdb.wal", ".pyc")

BLOB_MODES = frozenset({"100644", "100755", "120000"})
TREE_MODE = "040000"
GITLINK_MODE = "160000"
_NULL_SHA = "0" * 40
_IDENTITY_LINE = re.compile(r"^(?P<name>.*) <(?P<email>[^>]*)> (?P<when>\d+) (?P<tz>[+-]\d{4})$")
# Set by git hooks and wrappers; inherited, they would point git at some other repository or index.
_GIT_LOCATION_VARS = frozenset(
    {"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES"}
)


def _git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _GIT_LOCATION_VARS}
    # Literal pathspecs: a path like "models/*.sql" names one file, never a glob.
    return {**env, "GIT_LITERAL_PATHSPECS": "1", **(extra or {})}


def git_date(iso: str) -> str:
    """An ISO 8601 timestamp as git's internal `<epoch> <offset>` form, which git parses unambiguously."""
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{int(moment.timestamp())} +0000"


def at_or_under(sorted_paths: list[str], path: str) -> list[str]:
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
                if sha is None or mode == TREE_MODE:
                    # Deleting or replacing a directory drops everything under it first.
                    removals.extend(f"0 {_NULL_SHA}\t{old}" for old in at_or_under(indexed, path))
                if sha is None:
                    continue
                if mode == TREE_MODE:
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
            "GIT_AUTHOR_DATE": git_date(author.date),
            "GIT_COMMITTER_NAME": committer.name,
            "GIT_COMMITTER_EMAIL": committer.email,
            "GIT_COMMITTER_DATE": git_date(committer.date),
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


def open_or_init(repo_dir: Path, default_branch: str) -> Git:
    """The repository at `repo_dir` (bare or with a work tree), or a new bare one when the
    directory is missing or empty."""
    if (repo_dir / ".git").is_dir():
        return Git(repo_dir / ".git")
    if (repo_dir / "HEAD").is_file() and (repo_dir / "objects").is_dir():
        return Git(repo_dir)
    if repo_dir.exists() and any(repo_dir.iterdir()):
        raise ValueError(f"{repo_dir} is neither a git repository nor empty")
    repo_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(repo_dir)],
        check=True,
        capture_output=True,
        env=_git_env(),
    )
    return Git(repo_dir)


def seed(git: Git, branch_ref: str, seed_dir: Path | None, author: Identity) -> None:
    """Create `branch_ref` with one commit of `seed_dir`'s files (an empty tree without one)."""
    seed_dir = seed_dir.resolve() if seed_dir else None  # git runs elsewhere, so paths must be absolute
    files = sorted(_seed_files(seed_dir)) if seed_dir else []
    edits: list[tuple[str, str, str | None]] = []
    if seed_dir and files:
        listing = "".join(f"{path}\n" for path in files).encode()
        shas = git.text("hash-object", "-w", "--stdin-paths", input=listing).splitlines()
        for path, sha in zip(files, shas, strict=True):
            mode = "100755" if os.access(path, os.X_OK) else "100644"
            edits.append(("/".join(path.relative_to(seed_dir).parts), mode, sha))
    tree = git.build_tree(None, edits)
    commit = git.commit_tree(tree, [], "Initial commit", author, author)
    git.set_ref(branch_ref, commit, "")


def _seed_files(seed_dir: Path) -> Iterator[Path]:
    """The files of a project worth committing: no build output, logs, databases or caches."""
    for path in seed_dir.rglob("*"):
        relative = path.relative_to(seed_dir).parts
        if any(part in SEED_SKIPPED_DIRS for part in relative[:-1]):
            continue
        if path.is_file() and not path.name.endswith(SEED_SKIPPED_SUFFIXES):
            yield path
