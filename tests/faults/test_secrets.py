"""Secrets never leave the environment: a whole run with distinctive tokens, then a search everywhere.

Everywhere is: the Dagster instance (every event of the run, metadata included, and the run's
record, through the instance's API; every file under DAGSTER_HOME: its SQLite storage, compute
logs, run artifacts, the executed notebook), the ledger, the sandbox's data (Mode state, Slack
messages and uploads, the dbt project with its logs), every object in the GitHub repository (pull
request branches and commits) and the emulator's pull requests (bodies), and what the run printed.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path
from unittest import mock

import pytest
from dagster import DagsterInstance
from dagster._serdes import serialize_value
from run_fault_suite import REPO_ROOT, Schedule, execute

TOKENS = {
    "MODE_TOKEN": "mode-token-7f3a9c51e2d04b86",
    "MODE_SECRET": "mode-secret-c4e19a7b3f0d5e28",
    "GITHUB_TOKEN": "ghp_secret9d2b7e4a61c3f508e",
    "SLACK_BOT_TOKEN": "xoxb-secret-5a8c2f6e1b9d4073",
}


def _needles() -> dict[str, bytes]:
    """Each secret, and the forms it travels in (HTTP basic auth is base64 of token:secret)."""
    basic = f"{TOKENS['MODE_TOKEN']}:{TOKENS['MODE_SECRET']}".encode()
    needles = {name: value.encode() for name, value in TOKENS.items()}
    needles["basic auth (base64)"] = base64.b64encode(basic)
    for name, value in TOKENS.items():  # base64 of a secret alone, at each of the three alignments
        for shift in range(3):
            encoded = base64.b64encode(b"\0" * shift + value.encode())[4:-4]
            needles[f"{name} (base64, offset {shift})"] = encoded
    return needles


def _search(haystack: bytes, where: str, found: list[str]) -> None:
    for name, needle in _needles().items():
        if needle in haystack:
            found.append(f"{name} in {where}")


def _search_files(root: Path, found: list[str]) -> int:
    count = 0
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            _search(path.read_bytes(), str(path), found)
            count += 1
    return count


def _search_git(repo: Path, found: list[str]) -> None:
    """Every object in the repository, decompressed: blobs (branch contents), trees, commits."""
    objects = subprocess.run(
        ["git", f"--git-dir={repo}", "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True,
        check=True,
    ).stdout
    assert objects, "the repository has no objects"
    _search(objects, f"the git objects of {repo}", found)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_no_secret_reaches_the_event_log_artifacts_pull_requests_slack_notebook_or_ledger(
    tmp_path, monkeypatch, capfd
):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    monkeypatch.delenv(
        "DBT_MANIFEST_PATH", raising=False
    )  # the real `dbt parse`, with the secrets in its env
    for name in TOKENS:
        monkeypatch.delenv(name, raising=False)

    with mock.patch.dict(os.environ):  # execute() points os.environ at the sandbox; put it back after
        record = execute(Schedule(0, 0, "reference"), tmp_path, tokens=TOKENS, fast_mode=False)
        assert os.environ["MODE_TOKEN"] == TOKENS["MODE_TOKEN"]  # the run really used them
    assert "crash" not in record, record.get("crash")
    assert record["success"], record["failures"]
    assert {p["branch"] for p in record["pulls"]} == {
        "metapipeline/remove-unused-models",
        "metapipeline/mode-exposures",
    }
    assert len(record["slack_messages"]) == 1 and record["notebooks"]

    found: list[str] = []
    # The event log through the instance: every event of the run, serialized with its metadata.
    instance = DagsterInstance.from_config(str(home))
    entries = instance.all_logs(record["run_id"])
    assert len(entries) > 50
    for entry in entries:
        _search(serialize_value(entry).encode(), f"event {entry.dagster_event_type or 'log'}", found)
    _search(serialize_value(instance.get_run_by_id(record["run_id"])).encode(), "the run's record", found)
    # Every file: DAGSTER_HOME (storage, compute logs, artifacts, notebook), ledger, sandbox data.
    searched = _search_files(tmp_path, found)
    assert searched > 100
    for notebook in record["notebooks"]:
        assert Path(notebook).is_relative_to(tmp_path), notebook
    for repository in ("analytics.git", "finance.git"):  # one per sample dbt project
        _search_git(tmp_path / "run-000" / "sandbox" / "github" / repository, found)
    for pull in record["pulls"]:
        _search(pull["body"].encode(), f"the body of pull request {pull['number']}", found)
    for text in record["slack_messages"]:
        _search(text.encode(), "the Slack message", found)
    printed = capfd.readouterr()
    _search((printed.out + printed.err).encode(), "what the run printed", found)
    assert found == [], "secrets leaked:\n" + "\n".join(found)
