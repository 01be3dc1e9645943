"""One repository the GitHub emulator serves: a bare git repository, and the pull requests, comments
and labels kept beside it in `<git dir>/emulator_state.json`, so a restarted emulator sees what the
previous run did. Numbers and ids count per repository, as on GitHub."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from metapipeline.sandbox.github.git import open_or_init, seed
from metapipeline.sandbox.github.rest import (
    BOT_LOGIN,
    GitHubError,
    Urls,
    invalid,
    not_found,
    now,
    person,
    stable_id,
)
from metapipeline.sandbox.harness import Request, Response

STATE_FILE = "emulator_state.json"
NEW_LABEL_COLOR = "ededed"  # what GitHub gives labels created by adding them to an issue


def split_full_name(full_name: str) -> tuple[str, str]:
    owner, sep, name = full_name.partition("/")
    if not (owner and sep and name) or "/" in name:
        raise ValueError(f"repository should look like owner/name, not {full_name!r}")
    return owner, name


class Repository:
    """One repository's git objects, refs and stored state; the emulator serialises access to it."""

    def __init__(
        self, full_name: str, repo_dir: Path, *, default_branch: str = "main", seed_dir: Path | None = None
    ):
        """Serve `full_name` from the git repository at `repo_dir`, creating it (seeded with
        `seed_dir`'s files on `default_branch`) when it does not exist yet."""
        self.owner, self.repo = split_full_name(full_name)
        self.full_name = full_name
        self.default_branch = default_branch
        self.repo_dir = Path(repo_dir).resolve()
        self.git = open_or_init(self.repo_dir, default_branch)
        self.state_file = self.git.git_dir / STATE_FILE
        self.state: dict[str, Any] = {
            "next_number": 1,
            "next_comment_id": 1,
            "pulls": {},
            "comments": {},
            "labels": {},
        }
        if self.state_file.exists():
            self.state.update(json.loads(self.state_file.read_text()))
        if self.branch_sha(default_branch) is None:
            seed(self.git, self.branch_ref(default_branch), seed_dir, person(BOT_LOGIN))

    # -- state ----------------------------------------------------------------------------------------

    def save_state(self) -> None:
        scratch = self.state_file.with_suffix(".json.tmp")
        scratch.write_text(json.dumps(self.state, indent=1, sort_keys=True))
        os.replace(scratch, self.state_file)  # atomic: a crash never leaves half a state file

    @contextmanager
    def all_or_nothing(self, *, writes: bool) -> Iterator[None]:
        """A request that fails leaves the stored state as it was, like GitHub's writes."""
        before = json.dumps(self.state) if writes else None
        try:
            yield
        except GitHubError:
            if before is not None:
                self.state = json.loads(before)
            raise

    def next_id(self, counter: str) -> int:
        value = int(self.state[counter])
        self.state[counter] = value + 1
        return value

    @staticmethod
    def branch_ref(branch: str) -> str:
        return f"refs/heads/{branch}"

    def branch_sha(self, branch: str) -> str | None:
        return self.git.ref_sha(self.branch_ref(branch))

    # -- pull requests ---------------------------------------------------------------------------------

    def pulls(self) -> list[dict[str, Any]]:
        return [self.state["pulls"][key] for key in sorted(self.state["pulls"], key=int)]

    def pull(self, number: int | str) -> dict[str, Any]:
        pull = self.state["pulls"].get(str(number))
        if pull is None:
            raise not_found()
        return pull

    def pull_requests(self) -> list[dict[str, Any]]:
        """The stored pull-request records (copies), oldest first."""
        return json.loads(json.dumps(self.pulls()))

    def comment_count(self, number: int) -> int:
        return sum(1 for comment in self.state["comments"].values() if comment["issue"] == number)

    def tip(self, pull: dict[str, Any], side: str) -> str:
        """The head or base commit: open pull requests follow their branches, closed ones keep
        the commits they closed with (so a merged pull request still shows its own changes)."""
        live = self.branch_sha(pull[f"{side}_ref"]) if pull["state"] == "open" else None
        return live or pull[f"{side}_sha"]

    def check_no_open_duplicate(self, head_ref: str, base_ref: str, number: int | None = None) -> None:
        for other in self.pulls():
            if (
                other["state"] == "open"
                and other["number"] != number
                and ((other["head_ref"], other["base_ref"]) == (head_ref, base_ref))
            ):
                raise invalid(
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"A pull request already exists for {self.owner}:{head_ref}.",
                    }
                )

    def reopen(self, pull: dict[str, Any]) -> None:
        problem = None
        if pull["merged_at"]:
            problem = "The pull request has been merged."
        elif self.branch_sha(pull["head_ref"]) is None:
            problem = "The head branch no longer exists."
        if problem:
            raise invalid(
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "field": "state",
                    "message": f"state cannot be changed. {problem}",
                }
            )
        self.check_no_open_duplicate(pull["head_ref"], pull["base_ref"], pull["number"])
        pull.update(state="open", closed_at=None)

    def close(self, pull: dict[str, Any], head_sha: str | None = None, base_sha: str | None = None) -> None:
        pull.update(head_sha=head_sha or self.tip(pull, "head"), base_sha=base_sha or self.tip(pull, "base"))
        pull.update(state="closed", closed_at=now(), updated_at=now())

    def close_pull(self, number: int) -> None:
        """Close a pull request without merging it, as a person would."""
        pull = self.pull(number)
        if pull["state"] == "open":
            self.close(pull)
            self.save_state()

    def branch_deleted(self, branch: str, sha: str) -> None:
        """GitHub closes the open pull requests whose head or base branch disappears."""
        for pull in self.pulls():
            if pull["state"] == "open" and pull["head_ref"] == branch:
                self.close(pull, head_sha=sha)
            elif pull["state"] == "open" and pull["base_ref"] == branch:
                self.close(pull, base_sha=sha)
        self.save_state()

    def merge(
        self,
        pull: dict[str, Any],
        *,
        method: str,
        by: str,
        expected_head: str | None = None,
        title: str | None = None,
        message: str | None = None,
    ) -> str:
        """Merge ("merge", "squash", or fast-forward "rebase"); the new head of the base branch."""
        if pull["state"] != "open":
            raise GitHubError(405, "Pull Request is not mergeable")
        head = self.tip(pull, "head")
        if expected_head and expected_head != head:
            raise GitHubError(409, "Head branch was modified. Review and try the merge again.")
        base_ref = self.branch_ref(pull["base_ref"])
        base = self.git.ref_sha(base_ref)
        if base is None:
            raise GitHubError(405, "Base branch does not exist")
        tree = self.git.merged_tree(base, head)
        if tree is None:
            raise GitHubError(405, "Pull Request is not mergeable")
        merger = person(by)
        if method == "merge":
            default_title = f"Merge pull request #{pull['number']} from {self.owner}/{pull['head_ref']}"
            text = f"{title or default_title}\n\n{message or pull['title']}"
            merged = self.git.commit_tree(tree, [base, head], text, merger, merger)
        elif method == "squash":
            text = f"{title or pull['title']} (#{pull['number']})\n\n{message or pull['body'] or ''}".rstrip()
            merged = self.git.commit_tree(tree, [base], text, merger, merger)
        elif method == "rebase" and self.git.is_ancestor(base, head):
            merged = head  # the sandbox rebases only when it is a fast-forward
        else:
            raise GitHubError(405, f"Merge method {method} is not possible for this pull request")
        if not self.git.set_ref(base_ref, merged, base):
            raise GitHubError(409, "Base branch was modified. Review and try the merge again.")
        self.close(pull, head_sha=head, base_sha=base)
        pull.update(merged_at=pull["closed_at"], merged_by=by, merge_commit_sha=merged)
        self.save_state()
        return merged

    # -- labels ---------------------------------------------------------------------------------------

    def new_label(
        self, name: str, color: str = NEW_LABEL_COLOR, description: str | None = None
    ) -> dict[str, Any]:
        return {
            "id": stable_id("label", self.full_name, name.lower()),
            "name": name,
            "color": color.lower(),
            "description": description,
        }

    def ensure_labels(self, names: Iterable[Any]) -> list[str]:
        """Canonical names for `names`, creating repository labels GitHub would create on the fly."""
        canonical: list[str] = []
        for name in names:
            name = name.get("name") if isinstance(name, dict) else name
            if not isinstance(name, str) or not name.strip():
                raise invalid({"resource": "Label", "code": "invalid", "field": "name"})
            label = self.state["labels"].setdefault(name.lower(), self.new_label(name))
            if label["name"] not in canonical:
                canonical.append(label["name"])
        return canonical


# A route of one repository; the emulator finds the repository by the route's owner and repo groups.
RepositoryHandler = Callable[[Repository, Request, Urls], Response]
