"""The whole job on the sandbox: pull requests in a real git repository, the notebook, Slack."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import matplotlib.image
import pytest
import requests
import yaml
from dagster import DagsterEventType, NotebookMetadataValue, execute_job, instance_for_test, reconstructable

from metapipeline.definitions import metapipeline_job
from metapipeline.orchestration.demo import load_run_history
from metapipeline.sandbox.platform import install_dbt_packages, start_sample_sandbox
from metapipeline.sandbox.sample import (
    DBT_PROJECT_DIR,
    FINANCE_PROJECT_DIR,
    expected_outcomes,
    expected_unused_models,
)

EXPECTED = expected_outcomes()
IN_PROCESS: dict[str, Any] = {"execution": {"config": {"in_process": {}}}}
REMOVAL, EXPOSURES = "metapipeline/remove-unused-models", "metapipeline/mode-exposures"
DRY_RUN = {
    "mode": {"ops": {"mode_lifecycle": {"config": {"dry_run": True}}}},
    "github": {
        "ops": {
            "removal_pull_request": {"config": {"dry_run": True}},
            "exposures_pull_request": {"config": {"dry_run": True}},
        }
    },
    "report": {"ops": {"meta_analysis": {"config": {"post_to_slack": False}}}},
}
UNUSED = expected_unused_models(warehouse=True)
FRESHCART_UNUSED = [m for m in UNUSED if m.startswith("model.freshcart.")]
CHARTS = {"models_run_per_day", "top_models_by_importance", "optimisation_quadrant"}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={repo}", *args], capture_output=True, text=True, check=True
    ).stdout


def _dbt_parse(
    repo: Path, branch: str, checkout: Path, project: Path = DBT_PROJECT_DIR
) -> subprocess.CompletedProcess[str]:
    """A real `dbt parse` of a branch (its packages installed first, as a reviewer's CI would)."""
    subprocess.run(["git", "clone", "--quiet", "--branch", branch, str(repo), str(checkout)], check=True)
    shutil.copy(project / "profiles.yml", checkout / "profiles.yml")
    if (checkout / "packages.yml").exists():
        install_dbt_packages(checkout)
    dbt = Path(sys.executable).parent / "dbt"
    return subprocess.run(
        [str(dbt), "parse", "--quiet", "--project-dir", str(checkout), "--profiles-dir", str(checkout)],
        capture_output=True,
        text=True,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )


def _by_project(outcomes) -> dict:
    return {outcome.project: outcome for outcome in outcomes}


def _model_files() -> dict[str, str]:
    """unique id -> file of every sample model, from the project's own layout."""
    files = {}
    for path in (DBT_PROJECT_DIR / "models").rglob("*"):
        if path.suffix in {".sql", ".py"}:
            files[f"model.freshcart.{path.stem}"] = path.relative_to(DBT_PROJECT_DIR).as_posix()
    return files


def _lineage_parses(result) -> dict[str, int]:
    """How the lineage batches got their references: parsed now, or from the ledger's cache."""
    totals = {"parsed": 0, "from the cache": 0}
    for event in result.all_node_events:
        if event.is_successful_output and event.step_key.startswith("lineage.resolve_lineage_batch"):
            for key in totals:
                totals[key] += event.step_output_data.metadata[key].value
    return totals


def _pull_requests(env: dict[str, str], repository: str) -> dict[str, dict]:
    """The repository's pull requests by branch, as GitHub lists them."""
    pulls = requests.get(
        f"{env['GITHUB_API_URL']}/repos/{repository}/pulls?state=all",
        headers={"Authorization": f"token {env['GITHUB_TOKEN']}"},
        timeout=10,
    ).json()
    return {p["head"]["ref"]: p for p in pulls}


def _untouched_view(env: dict[str, str], served: dict[str, Path]) -> dict[tuple[str, str], tuple]:
    """What a quiet day must leave as it is: each open pull request's head, commits, title, body and
    last update."""
    return {
        (repository, branch): (
            pull["head"]["sha"],
            _git(served[repository], "rev-list", "--count", f"main..{branch}"),
            pull["title"],
            pull["body"],
            pull["updated_at"],
        )
        for repository in served
        for branch, pull in _pull_requests(env, repository).items()
        if pull["state"] == "open"
    }


def _run(instance, as_of: datetime, ops: dict | None = None):
    run_config = {**IN_PROCESS, "resources": {"clock": {"config": {"as_of": as_of.isoformat()}}}}
    return execute_job(
        reconstructable(metapipeline_job), instance=instance, run_config=run_config | {"ops": ops or {}}
    )


@pytest.mark.slow
def test_sandbox_runs_open_exactly_the_expected_pull_requests_and_post_the_charts_once(tmp_path, monkeypatch):
    now = datetime.now(UTC)
    with start_sample_sandbox(tmp_path / "sandbox", mode_rate_limit="off", now=now) as sandbox:
        env = sandbox.env()
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("METAPIPELINE_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
        repo = tmp_path / "sandbox" / "github" / "analytics.git"
        finance_repo = tmp_path / "sandbox" / "github" / "finance.git"
        finance = EXPECTED["freshcart_finance"]
        slack = tmp_path / "sandbox" / "slack"
        assert load_run_history() > 0
        with instance_for_test() as instance:
            # A dry run first: the same plan, pull requests written to the run's files, nothing changed.
            with _run(instance, now, DRY_RUN) as dry:
                assert dry.success
                removals = _by_project(dry.output_for_node("github", "removal"))
                assert {p: o.action for p, o in removals.items()} == {
                    "freshcart": "dry_run",
                    "freshcart_finance": "dry_run",
                }
                assert dry.output_for_node("mode", "lifecycle").dry_run
                dry_files = Path(instance.storage_directory()) / dry.run_id
            for served in (repo, finance_repo):
                assert _git(served, "branch", "--format=%(refname:short)").split() == ["main"]
            dry_plan = json.loads((dry_files / "plan" / "plan.json").read_text())
            # The sandbox reads the warehouse's access history: its reverse-ETL model is used.
            assert {m["unique_id"] for m in dry_plan["unused_models"]} == set(UNUSED)
            assert dry_plan["evidence"]["warehouse usage complete"] is True
            dry_removal = dry_files / "pull_requests" / "removal"
            dry_diff = (dry_removal / "freshcart" / "change.diff").read_text()
            assert "--- a/models/marts/marketing/fct_app_funnel.sql\n+++ /dev/null" in dry_diff
            assert (
                f"metapipeline found {len(FRESHCART_UNUSED)} dbt models with no path to any live consumer"
                in (dry_removal / "freshcart" / "body.md").read_text()
            )
            assert (
                "models/marts/fct_vat_return_quarterly.sql"
                in (dry_removal / "freshcart_finance" / "change.diff").read_text()
            )
            assert not (slack / "messages.jsonl").exists()

            with _run(instance, now) as first:
                assert first.success
                removals = _by_project(first.output_for_node("github", "removal"))
                exposures = _by_project(first.output_for_node("github", "exposures"))
                archived = first.output_for_node("mode", "lifecycle").archived_now()
                notebooks = [
                    value.path
                    for record in instance.all_logs(
                        first.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
                    )
                    for value in record.asset_materialization.metadata.values()
                    if isinstance(value, NotebookMetadataValue)
                ]
            assert archived == set(EXPECTED["stale_reports"])  # the dry run archived nothing
            # One removal pull request per project, each in its own repository; Mode reads no
            # finance model, so the finance project gets no generated exposures.
            assert {p: (o.repository, o.action) for p, o in removals.items()} == {
                "freshcart": ("freshcart/analytics", "opened"),
                "freshcart_finance": ("freshcart/finance", "opened"),
            }
            assert {p: o.action for p, o in exposures.items()} == {
                "freshcart": "opened",
                "freshcart_finance": "no_change",
            }
            removal = removals["freshcart"]

            # The removal branch deletes exactly the unused models' files and only deletes lines.
            changed = _git(repo, "diff", "--name-status", "main", REMOVAL).splitlines()
            deleted = {path for status, path in (line.split("\t") for line in changed) if status == "D"}
            files = _model_files()
            assert {files[m] for m in FRESHCART_UNUSED} <= deleted
            diff = _git(repo, "diff", "main", REMOVAL)
            added = [
                line for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")
            ]
            assert added == []
            kept = set(files) - set(FRESHCART_UNUSED)
            assert files["model.freshcart.fct_basket_affinity"] not in deleted  # HIGHTOUCH_SYNC reads it
            assert all(files[m] not in deleted for m in kept)

            # The exposures branch adds one generated file with exactly the expected exposures.
            assert _git(repo, "diff", "--name-status", "main", EXPOSURES).split() == [
                "A",
                "models/exposures/mode/_mode__exposures.yml",
            ]
            generated = yaml.safe_load(
                _git(repo, "show", f"{EXPOSURES}:models/exposures/mode/_mode__exposures.yml")
            )
            assert sorted(e["name"] for e in generated["exposures"]) == sorted(EXPECTED["exposures"])

            for branch in (REMOVAL, EXPOSURES):
                parsed = _dbt_parse(repo, branch, tmp_path / branch.replace("/", "_"))
                assert parsed.returncode == 0, parsed.stdout + parsed.stderr

            # The finance branch deletes the expected files, keeps v2 of the versioned model, parses.
            changed = _git(finance_repo, "diff", "--name-status", "main", REMOVAL).splitlines()
            by_status: dict[str, set[str]] = {}
            for status, path in (line.split("\t") for line in changed):
                by_status.setdefault(status, set()).add(path)
            assert by_status == {
                "D": set(finance["removal"]["deleted"]),
                "M": set(finance["removal"]["edited"]),
            }
            parsed = _dbt_parse(finance_repo, REMOVAL, tmp_path / "finance_removal", FINANCE_PROJECT_DIR)
            assert parsed.returncode == 0, parsed.stdout + parsed.stderr

            # One Slack message carrying the three charts, each a real picture; the notebook ran.
            messages = [json.loads(line) for line in (slack / "messages.jsonl").read_text().splitlines()]
            assert len(messages) == 1
            said = json.dumps(messages[0])
            assert (
                "Remove unused models in freshcart_finance" in said
                and removals["freshcart_finance"].url in said
            )
            uploads = [json.loads(line) for line in (slack / "files.jsonl").read_text().splitlines()]
            assert {Path(u["name"]).stem for u in uploads} == CHARTS
            for picture in (slack / "files").iterdir():
                height, width, _ = matplotlib.image.imread(picture).shape
                assert width >= 600 and height >= 300, picture
            assert len(notebooks) == 1 and Path(notebooks[0]).exists()
            # The executed notebook is the report: each chart shown in it, and no warning or stderr
            # text (this run does not quiet libraries as `make demo` does: the notebook must itself).
            executed = json.loads(Path(notebooks[0]).read_text())
            outputs = [output for cell in executed["cells"] for output in cell.get("outputs", [])]
            assert sum("image/png" in output.get("data", {}) for output in outputs) == len(CHARTS)
            assert [o for o in outputs if o.get("name") == "stderr" or o["output_type"] == "error"] == []
            assert "Warning" not in json.dumps(outputs)
            html = Path(notebooks[0]).with_suffix(".html").read_text()  # beside it, readable without Jupyter
            assert html.count('src="data:image/png;base64,') == len(CHARTS)

            # The next day only usage moved (more views and runs, run again this morning): no new
            # pull request, the open ones are left as they were (no commit, no body edit).
            served = {"freshcart/analytics": repo, "freshcart/finance": finance_repo}
            before = _untouched_view(env, served)
            assert len(before) == 3  # both removals and freshcart's exposures
            ran_at = (now + timedelta(days=1) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            live = [name.removeprefix("mode_") for name in EXPECTED["exposures"]]
            sandbox["mode"].emulator.use_reports(live, views=5, runs=5, ran_at=ran_at)
            with _run(instance, now + timedelta(days=1)) as second:
                assert second.success
                left = _by_project(second.output_for_node("github", "removal"))
                for project, first_day in removals.items():
                    assert (left[project].action, left[project].files) == ("unchanged", first_day.files)
                    assert left[project].reason.startswith("planned from the same project")  # not re-planned
                assert _by_project(second.output_for_node("github", "exposures"))["freshcart"].action == (
                    "unchanged"
                )
                assert _lineage_parses(second) == {
                    "parsed": 0,
                    "from the cache": len(EXPECTED["queries"]) + len(EXPECTED["dataset_queries"]) + 3,
                }
            assert _untouched_view(env, served) == before

            # A maintainer protects fct_app_funnel (and so its parent): the same pull request moves.
            keep = {"protect_unique_ids": ["model.freshcart.fct_app_funnel"]}
            ops = {"platform": {"ops": {"find_unused_models": {"config": keep}}}}
            with _run(instance, now + timedelta(days=2), ops) as third:
                assert third.success
                moved = _by_project(third.output_for_node("github", "removal"))["freshcart"]
                assert (moved.action, moved.url) == ("updated", removal.url)
            still_deleted = _git(repo, "diff", "--name-only", "--diff-filter=D", "main", REMOVAL).split()
            assert files["model.freshcart.fct_app_funnel"] not in still_deleted
            assert files["model.freshcart.int_app_sessions"] not in still_deleted
            assert files["model.freshcart.fct_courier_shifts"] in still_deleted
            assert len(_pull_requests(env, env["GITHUB_REPOSITORY"])) == 2
            assert list(_pull_requests(env, "freshcart/finance")) == [REMOVAL]

            # Every freshcart candidate is protected: nothing is left to remove there, so its removal
            # pull request is closed with a comment saying why; finance's and the exposures stay.
            before = _untouched_view(env, served)
            keep_all = {"protect_unique_ids": FRESHCART_UNUSED}
            ops = {"platform": {"ops": {"find_unused_models": {"config": keep_all}}}}
            with _run(instance, now + timedelta(days=3), ops) as fourth:
                assert fourth.success
                left = _by_project(fourth.output_for_node("github", "removal"))
                assert (left["freshcart"].action, left["freshcart"].url) == ("closed", removal.url)
                assert left["freshcart_finance"].action == "unchanged"
                exposures_pr = _by_project(fourth.output_for_node("github", "exposures"))["freshcart"]
                assert exposures_pr.action == "unchanged"
            closed = _pull_requests(env, env["GITHUB_REPOSITORY"])[REMOVAL]
            assert (closed["state"], closed["merged_at"]) == ("closed", None)
            comments = requests.get(
                closed["comments_url"], headers={"Authorization": f"token {env['GITHUB_TOKEN']}"}, timeout=10
            ).json()
            assert [c["body"] for c in comments] == [
                "metapipeline closes this pull request: nothing is left to propose, since no model of "
                "`freshcart` is unused any more (each is read, protected or gone). The branch stays for "
                "the record; a new pull request opens if there is something to propose again."
            ]
            still_open = {
                key: view for key, view in before.items() if key != ("freshcart/analytics", REMOVAL)
            }
            assert _untouched_view(env, served) == still_open
