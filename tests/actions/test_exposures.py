"""Generated exposures: the sample's expected exposures, hostile text, rules, idempotency, reports
hand-written exposures document, and days on which only usage moved."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import github
import pytest
import yaml
from github import Auth
from github.Repository import Repository

from metapipeline.actions.dbt_changes import plan_removal, read_project
from metapipeline.actions.exposures import (
    GENERATED_FILE,
    ReportRecord,
    documented_reports,
    exposure_changes,
    exposure_type,
    exposures_pr_text,
    maturity,
    plan_exposures,
)
from metapipeline.actions.pull_requests import (
    close_obsolete,
    default_head,
    fetch_file,
    fetch_project,
    publish,
)
from metapipeline.platform.unused import UnusedModel
from metapipeline.sandbox.github_emulator import DEFAULT_REPOSITORY, DEFAULT_TOKEN, GitHubEmulator
from metapipeline.sandbox.harness import EmulatorServer
from metapipeline.sandbox.sample import DBT_PROJECT_DIR, expected_outcomes

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SCORECARD = "9e5a7c3d1b28"  # Company Health Scorecard: live, and no hand-written exposure names it
HOSTILE_TITLE = (
    'Q3 "final" {{ 1/0 }} {% if x %}x{% endif %} {# note #} {% raw %}{% endraw %} '
    "<script>alert(1)</script> **bold** [x](y) it's: - # & done\nsecond line"
)


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    return expected_outcomes()


def _nodes_read(report: dict, workspace: dict, expected: dict) -> set[str]:
    """Its queries' nodes and those of the Datasets it imports."""
    nodes = {n for q in report["queries"] for n in expected["queries"][q["token"]]["nodes"]}
    for dataset in workspace["datasets"]:
        if dataset["token"] in report["imported_datasets"]:
            nodes |= {n for q in dataset["queries"] for n in expected["dataset_queries"][q["token"]]["nodes"]}
    return nodes


@pytest.fixture(scope="module")
def records(sample_workspace, expected) -> list[ReportRecord]:
    """Active, non-stale sample reports with the union of their queries' nodes."""
    users = {u["username"]: u for u in sample_workspace["users"]}
    spaces = {s["token"]: s["name"] for s in sample_workspace["spaces"]}
    inactive = set(expected["stale_reports"]) | set(expected["workspace"]["archived_by_people"])
    found = []
    for report in sample_workspace["reports"]:
        if report["archived"] or report["token"] in inactive:
            continue
        last_run = report["last_run_at"]
        found.append(
            ReportRecord(
                token=report["token"],
                title=report["name"],
                owner_name=users[report["creator"]]["name"],
                owner_email=users[report["creator"]]["email"],
                url=f"https://app.mode.com/freshcart/reports/{report['token']}",
                space=spaces[report["space_token"]],
                last_run_at=datetime.fromisoformat(last_run.replace("Z", "+00:00")) if last_run else None,
                views=report["view_count"],
                runs=report["runs_count"],
                schedules=report["schedules_count"],
                nodes=tuple(sorted(_nodes_read(report, sample_workspace, expected))),
            )
        )
    return found


@pytest.fixture(scope="module")
def sample_files() -> dict[str, str]:
    return read_project(DBT_PROJECT_DIR).files


def hostile(token: str = "feedc0ffee01") -> ReportRecord:
    return ReportRecord(
        token=token,
        title=HOSTILE_TITLE,
        owner_name="O'Brien {{ var('x') }}\n\"Zed\" <b>",
        owner_email="zed@freshcart.example",
        url="https://app.mode.com/freshcart/reports/feedc0ffee01?x={{y}}",
        space="Space {% endraw %} {{",
        last_run_at=NOW,
        views=10,
        runs=1,
        schedules=0,
        nodes=("model.freshcart.fct_orders", "model.freshcart.gone_long_ago"),
    )


def node_ids(manifest: dict[str, Any], generated: dict[str, Any]) -> set[str]:
    """The unique ids `depends_on` names, resolved the way dbt does for this project."""
    by_ref = {
        f"ref('{n['name']}')": uid
        for uid, n in manifest["nodes"].items()
        if n["resource_type"] in ("model", "seed", "snapshot")
    }
    by_source = {
        f"source('{s['source_name']}', '{s['name']}')": uid for uid, s in manifest["sources"].items()
    }
    return {by_ref.get(d) or by_source[d] for d in generated["depends_on"]}


def test_the_expected_exposures_are_generated(records, sample_files, sample_manifest, expected):
    change = plan_exposures(sample_files, sample_manifest, records, now=NOW)
    assert list(change.files) == [GENERATED_FILE] and change.before == {GENERATED_FILE: None}
    text = change.files[GENERATED_FILE]
    assert text is not None and text.startswith("# Generated by metapipeline")
    exposures = yaml.safe_load(text)["exposures"]
    got = {e["name"]: node_ids(sample_manifest, e) for e in exposures}
    assert got == {name: set(nodes) for name, nodes in expected["exposures"].items()}
    assert [e["name"] for e in exposures] == sorted(got)  # deterministic order
    scorecard = next(e for e in exposures if e["name"] == f"mode_{SCORECARD}")
    record = next(r for r in records if r.token == SCORECARD)
    assert scorecard["label"] == "Company Health Scorecard"
    assert scorecard["owner"] == {"name": record.owner_name, "email": record.owner_email}
    assert scorecard["config"]["tags"] == ["mode"]
    # Nothing that moves daily (views, last run): usage alone must not change the file.
    assert scorecard["config"]["meta"] == {"mode_report_token": SCORECARD, "space": record.space}
    assert "select" not in text.lower()  # never SQL


def test_generated_exposures_with_hostile_text_parse_with_dbt(
    records, sample_files, sample_manifest, expected, tmp_path, dbt_parse
):
    change = plan_exposures(sample_files, sample_manifest, [*records, hostile()], now=NOW)
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb"))
    change.apply_to(project)
    manifest = dbt_parse(project)

    parsed = manifest["exposures"]["exposure.freshcart.mode_feedc0ffee01"]
    assert parsed["label"] == " ".join(HOSTILE_TITLE.split())  # dbt rendered it back verbatim
    assert parsed["owner"]["name"] == "O'Brien {{ var('x') }} \"Zed\" <b>"
    assert parsed["config"]["meta"]["space"] == "Space {% endraw %} {{"
    assert parsed["depends_on"]["nodes"] == ["model.freshcart.fct_orders"]  # unresolvable id dropped
    generated = {e["name"] for e in manifest["exposures"].values() if e["name"].startswith("mode_")}
    assert generated == {*expected["exposures"], "mode_feedc0ffee01"}
    assert set(sample_manifest["exposures"]) <= set(manifest["exposures"])  # hand-written ones stay


def test_an_unchanged_file_is_an_empty_change_set(records, sample_files, sample_manifest):
    first = plan_exposures(sample_files, sample_manifest, records, now=NOW)
    files = {**sample_files, GENERATED_FILE: first.files[GENERATED_FILE]}
    assert not plan_exposures(files, sample_manifest, list(reversed(records)), now=NOW)


def test_archived_reports_lose_their_exposure_and_none_left_deletes_the_file(
    records, sample_files, sample_manifest
):
    current = plan_exposures(sample_files, sample_manifest, records, now=NOW).files[GENERATED_FILE]
    files = {**sample_files, GENERATED_FILE: current or ""}
    archived = [replace(r, archived=True) if r.token == SCORECARD else r for r in records]
    change = plan_exposures(files, sample_manifest, archived, now=NOW)
    assert change.summary == [f"remove exposure mode_{SCORECARD}"]
    assert f"mode_{SCORECARD}" not in (change.files[GENERATED_FILE] or "")
    assert plan_exposures(files, sample_manifest, [], now=NOW).files == {GENERATED_FILE: None}


def test_hand_written_exposures_are_never_overwritten(sample_files, sample_manifest, records):
    files = {**sample_files, GENERATED_FILE: "exposures:\n  - name: weekly_kpis\n"}
    with pytest.raises(ValueError, match="hand-written"):
        plan_exposures(files, sample_manifest, records, now=NOW)
    # A hand-written exposure that already uses a generated name keeps it: no duplicate.
    taken = {
        f"exposure.freshcart.mode_{SCORECARD}": {"name": f"mode_{SCORECARD}", "original_file_path": "x.yml"}
    }
    manifest = {**sample_manifest, "exposures": {**sample_manifest["exposures"], **taken}}
    text = plan_exposures(sample_files, manifest, records, now=NOW).files[GENERATED_FILE]
    assert text is not None and f"mode_{SCORECARD}" not in text


@pytest.mark.parametrize(
    ("views", "runs", "schedules", "days_ago", "kind", "level"),
    [
        (10, 100, 1, 400, "dashboard", "high"),  # a schedule: people rely on it
        (300, 50, 0, 3, "dashboard", "high"),
        (300, 50, 0, 60, "dashboard", "medium"),
        (5, 40, 0, 60, "analysis", "medium"),
        (30, 3, 0, 200, "dashboard", "low"),
        (1, 2, 0, None, "analysis", "low"),
    ],
)
def test_type_and_maturity_rules(views, runs, schedules, days_ago, kind, level):
    last_run = NOW - timedelta(days=days_ago) if days_ago is not None else None
    report = replace(hostile(), views=views, runs=runs, schedules=schedules, last_run_at=last_run)
    assert (exposure_type(report), maturity(report, NOW)) == (kind, level)


def test_the_pull_request_text_shows_hostile_titles_as_text(sample_manifest):
    report = replace(hostile(), title=HOSTILE_TITLE + " | extra | cells")
    title, body = exposures_pr_text(exposure_changes(sample_manifest, [report]))
    assert title == "Sync dbt exposures with Mode (1 added)"
    (row,) = [line for line in body.splitlines() if "feedc0ffee01" in line]
    assert len(re.split(r"(?<!\\)\|", row)) == 6  # four cells: the title's pipes are escaped
    assert "<script>" not in body and "\n# " not in body


def test_a_first_sync_of_thousands_of_reports_fits_a_pull_request_body():
    changes = [
        {
            "exposure": f"mode_{i:012x}",
            "change": "add",
            "label": f"Weekly report {i}",
            "depends_on": ["fct_orders"],
        }
        for i in range(20_000)
    ]
    title, body = exposures_pr_text(changes)
    assert title == "Sync dbt exposures with Mode (20000 added)"
    assert len(body) < 60_000
    shown = [line for line in body.splitlines() if line.startswith("| mode\\_")]
    assert 100 < len(shown) < 20_000 and f"| ... and {20_000 - len(shown)} more |" in body
    assert body.rstrip().endswith("never touched.")


def test_reports_hand_written_exposures_document_get_no_twin_and_the_body_names_them(
    records, sample_files, sample_manifest, expected
):
    documented = documented_reports(sample_manifest, records)
    assert {d.token: {"exposure": d.exposure, "missing": list(d.missing)} for d in documented} == expected[
        "documented_by_hand"
    ]
    assert {d.file for d in documented} == {"models/exposures/_exposures.yml"}
    text = plan_exposures(sample_files, sample_manifest, records, now=NOW).files[GENERATED_FILE]
    assert text is not None and not any(f"mode_{token}" in text for token in expected["documented_by_hand"])
    _, body = exposures_pr_text(exposure_changes(sample_manifest, records), documented=documented)
    (weekly,) = [line for line in body.splitlines() if "weekly\\_kpis" in line]
    assert "Weekly KPIs" in weekly and "ref('dim\\_stores')" in weekly
    assert "Already documented by hand" in body


def _hand_written(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "original_file_path": "models/exposures/_exposures.yml",
        "depends_on": {"nodes": ["model.freshcart.fct_orders"]},
        **fields,
    }


@pytest.mark.parametrize(
    "fields",
    [
        {
            "url": f"HTTPS://app.mode.com/freshcart/reports/{SCORECARD}/?tab=1#top"
        },  # the same URL, written otherwise
        {"url": f"https://mode.example.com/acme/reports/{SCORECARD}/viz"},  # its token, another host
        {"config": {"meta": {"mode_report_token": SCORECARD}}},  # a generated one copied by hand
        {"meta": {"mode_report_token": SCORECARD}},
    ],
)
def test_a_report_is_documented_by_its_url_or_token(fields, records, sample_manifest):
    manifest = {
        **sample_manifest,
        "exposures": {"exposure.freshcart.scorecard": _hand_written("scorecard", **fields)},
    }
    (documented,) = documented_reports(manifest, records)
    assert (documented.token, documented.exposure) == (SCORECARD, "scorecard")
    assert "ref('fct_orders')" not in documented.missing and "ref('fct_payments')" in documented.missing
    assert f"mode_{SCORECARD}" not in {c["exposure"] for c in exposure_changes(manifest, records)}


def test_a_longer_token_or_another_report_url_is_no_match(records, sample_manifest):
    others = {
        "a": _hand_written("a", url=f"https://app.mode.com/freshcart/reports/{SCORECARD}ff"),
        "b": _hand_written("b", url=f"https://app.mode.com/freshcart/spaces/{SCORECARD}"),
    }
    assert documented_reports({**sample_manifest, "exposures": others}, records) == []


def test_a_day_on_which_only_usage_moved_leaves_the_file_as_it_is(records, sample_files, sample_manifest):
    first = plan_exposures(sample_files, sample_manifest, records, now=NOW)
    files = {**sample_files, GENERATED_FILE: first.files[GENERATED_FILE] or ""}
    tomorrow = NOW + timedelta(days=1)
    # Reports run lately are run and viewed again: as many more runs as views, so that no report
    # crosses a type or maturity threshold.
    used = [
        replace(r, views=r.views + 5, runs=r.runs + 5, last_run_at=tomorrow - timedelta(hours=2))
        if r.last_run_at is not None and NOW - r.last_run_at < timedelta(days=25)
        else r
        for r in records
    ]
    assert used != records
    assert not plan_exposures(files, sample_manifest, used, now=tomorrow)
    # Crossing one (250 views within 30 days) is a real change: the maturity moves, nothing else.
    rising = next(
        r
        for r in used
        if r.last_run_at == tomorrow - timedelta(hours=2) and maturity(r, tomorrow) == "medium"
    )
    busy = [replace(r, views=10_000) if r is rising else r for r in used]
    moved = plan_exposures(files, sample_manifest, busy, now=tomorrow)
    assert moved.summary == ["refresh titles, owners, type or maturity of generated exposures"]
    assert "maturity: high" in moved.diff()


# -- a project in a repository sub-directory: every pull request flow ------------------------------

SUBDIRECTORY = "analytics/dbt"
EXPOSURES_BRANCH, REMOVAL_BRANCH = "metapipeline/mode-exposures", "metapipeline/remove-unused-models"


@pytest.fixture
def nested_repo(tmp_path) -> Iterator[tuple[Repository, GitHubEmulator, Path]]:
    """The GitHub emulator serving a repository whose dbt project lives in `analytics/dbt`."""
    seed = tmp_path / "seed"
    ignored = shutil.ignore_patterns("target", "logs", "*.duckdb")
    shutil.copytree(DBT_PROJECT_DIR, seed / SUBDIRECTORY, ignore=ignored)
    (seed / "README.md").write_text("FreshCart analytics: the dbt project is in analytics/dbt.\n")
    repo_dir = tmp_path / "analytics.git"
    emulator = GitHubEmulator(repo_dir, seed_dir=seed)
    server = EmulatorServer(emulator)
    server.start()
    client = github.Github(
        base_url=server.base_url,
        auth=Auth.Token(DEFAULT_TOKEN),
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    yield client.get_repo(DEFAULT_REPOSITORY), emulator, repo_dir
    server.stop()


def _parse_branch(repo_dir: Path, branch: str, checkout: Path, dbt_parse) -> dict[str, Any]:
    """A real `dbt parse` of the project in a clone of `branch`, as a reviewer's CI would run it."""
    subprocess.run(["git", "clone", "--quiet", "--branch", branch, str(repo_dir), str(checkout)], check=True)
    return dbt_parse(checkout / SUBDIRECTORY)


def _publish_exposures(
    repo: Repository, manifest: dict[str, Any], reports: list[ReportRecord], now: datetime
):
    head = default_head(repo)
    target = f"{SUBDIRECTORY}/{GENERATED_FILE}"
    current = fetch_file(repo, target, ref=head)
    change = plan_exposures(
        {} if current is None else {target: current}, manifest, reports, SUBDIRECTORY, now=now
    )
    title, body = exposures_pr_text(
        exposure_changes(manifest, reports), documented=documented_reports(manifest, reports)
    )
    return change, publish(
        repo,
        change,
        branch=EXPOSURES_BRANCH,
        title=title,
        body=body,
        labels=[],
        dry_run=False,
        now=now,
        base=head,
    )


def test_every_pull_request_flow_works_with_the_project_in_a_sub_directory(
    nested_repo, records, sample_manifest, expected, tmp_path, dbt_parse
):
    repo, emulator, repo_dir = nested_repo
    # Day 1: the exposures pull request adds the file inside the project, and is merged.
    change, opened = _publish_exposures(repo, sample_manifest, records, NOW)
    assert opened.action == "opened" and list(change.files) == [f"{SUBDIRECTORY}/{GENERATED_FILE}"]
    emulator.merge_pull(1)
    manifest = _parse_branch(repo_dir, "main", tmp_path / "main", dbt_parse)
    generated = {e["name"] for e in manifest["exposures"].values() if e["name"].startswith("mode_")}
    assert generated == set(expected["exposures"])

    # Day 2: the manifest now holds the generated exposures (paths relative to the project), and
    # only usage moved: nothing to change, none of them is taken for hand-written.
    tomorrow = NOW + timedelta(days=1)
    used = [replace(r, views=r.views + 5, runs=r.runs + 5) for r in records]
    assert exposure_changes(manifest, used) == []
    assert documented_reports(manifest, used) == documented_reports(sample_manifest, records)
    change, unchanged = _publish_exposures(repo, manifest, used, tomorrow)
    assert (change.files, unchanged.action) == ({}, "no_change")
    # A report archived: exactly its exposure goes.
    archived = [replace(r, archived=True) if r.token == SCORECARD else r for r in used]
    assert [(c["exposure"], c["change"]) for c in exposure_changes(manifest, archived)] == [
        (f"mode_{SCORECARD}", "remove")
    ]

    # The removal pull request: files read and written under the sub-directory, dbt parses the branch.
    head = default_head(repo)
    project = fetch_project(repo, SUBDIRECTORY, ref=head)
    removed = sorted(expected["warehouse"]["still_unused"])
    nodes = manifest["nodes"]
    candidates = [
        UnusedModel(uid, nodes[uid]["name"], nodes[uid]["original_file_path"], None, ()) for uid in removed
    ]
    removal = plan_removal(project.files, manifest, candidates, SUBDIRECTORY, symlinks=project.symlinks)
    assert removal and all(path.startswith(f"{SUBDIRECTORY}/") for path in removal.files)
    opened = publish(
        repo,
        removal,
        branch=REMOVAL_BRANCH,
        title="Remove unused models",
        body="Why.",
        labels=[],
        dry_run=False,
    )
    assert opened.action == "opened"
    parsed = _parse_branch(repo_dir, REMOVAL_BRANCH, tmp_path / "removal", dbt_parse)
    assert not set(removed) & set(parsed["nodes"])
    assert {e["name"] for e in parsed["exposures"].values() if e["name"].startswith("mode_")} == generated

    # The candidates are gone (used again): the removal pull request is closed, saying why.
    closed = close_obsolete(repo, branch=REMOVAL_BRANCH, comment="Nothing is left to remove.", dry_run=False)
    assert closed.action == "closed" and closed.url == repo.get_pull(2).html_url
    assert [c.body for c in repo.get_pull(2).get_issue_comments()] == ["Nothing is left to remove."]
