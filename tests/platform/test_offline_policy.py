"""`metapipeline plan` and `explain` take the job's op config knobs as flags (an OfflinePolicy)."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

import metapipeline.platform.cli as platform_cli
from metapipeline.cli import main
from metapipeline.mode.snapshot_file import write_snapshot
from metapipeline.platform.cli import OfflinePolicy
from metapipeline.platform.stale import StalePolicy
from metapipeline.platform.unused import Protections
from metapipeline.sandbox.sample import expected_outcomes, expected_unused_models

# The offline commands must not find the runs `make demo` left in the checkout.
pytestmark = pytest.mark.usefixtures("no_kept_runs")

EXPECTED = expected_outcomes()
STALE = set(EXPECTED["stale_reports"])
FILES = ["--manifest", "m.json", "--snapshot", "s.json"]  # not read: run_plan/run_explain are stubbed


def _write_inputs(directory: Path, snapshot, projects, now, manifests: dict[str, dict]) -> list[str]:
    """As test_offline_cli's `inputs`: each project's manifest (or its stand-in) and the snapshot."""
    arguments = []
    for project in projects:
        path = directory / project.name / "manifest.json"
        path.parent.mkdir()
        path.write_text(json.dumps(manifests.get(project.name, project.manifest)))
        arguments += ["--manifest", str(path)]
    write_snapshot(snapshot, directory / "snapshot.json")
    return [*arguments, "--snapshot", str(directory / "snapshot.json"), "--as-of", now.isoformat()]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, snapshot, sample_projects, sample_now) -> list[str]:
    """Both sample projects' manifests and the snapshot, as command-line arguments."""
    return _write_inputs(tmp_path_factory.mktemp("offline"), snapshot, sample_projects, sample_now, {})


@pytest.fixture(scope="module")
def keep_tagged_inputs(tmp_path_factory, snapshot, sample_projects, sample_now) -> list[str]:
    """As `inputs`, but fct_app_funnel (unused, nothing else protects it) is tagged keep."""
    freshcart = next(p for p in sample_projects if p.name == "freshcart")
    manifest = copy.deepcopy(freshcart.manifest)
    node = manifest["nodes"]["model.freshcart.fct_app_funnel"]
    node["tags"] = [*node.get("tags", []), "keep"]
    node.setdefault("config", {})["tags"] = node["tags"]
    directory = tmp_path_factory.mktemp("keep_tagged")
    return _write_inputs(directory, snapshot, sample_projects, sample_now, {"freshcart": manifest})


def _plan(inputs: list[str], out: Path, *flags: str) -> dict:
    assert main(["plan", *inputs, "--out", str(out), *flags]) == 0
    return json.loads((out / "plan.json").read_text())


def _unused(plan: dict) -> set[str]:
    return {m["unique_id"] for m in plan["unused_models"]}


@pytest.fixture
def policies(monkeypatch) -> list[OfflinePolicy | None]:
    """The policy each `plan`/`explain` call hands on, with the analysis itself stubbed out."""
    seen: list[OfflinePolicy | None] = []

    def record(*args, policy=None, **kwargs) -> int:
        seen.append(policy)
        return 0

    monkeypatch.setattr(platform_cli, "run_plan", record)
    monkeypatch.setattr(platform_cli, "run_explain", record)
    return seen


# --------------------------------------------------------------------------- the flags themselves


def test_without_flags_both_commands_use_the_default_policy(policies):
    assert main(["plan", *FILES]) == 0
    assert main(["explain", "dim_stores", *FILES]) == 0
    assert policies == [OfflinePolicy(), OfflinePolicy()]
    assert policies[0].lifecycle.dry_run is True and policies[0].max_share_setting == "--max-share"


@pytest.mark.parametrize("command", [["plan"], ["explain", "dim_stores"]])
def test_every_flag_reaches_the_policy(policies, command):
    flags = [
        *("--no-run-days", "30", "--low-usage-runs", "2", "--low-usage-views", "0"),
        *("--low-usage-min-age-days", "7", "--include-scheduled"),
        *("--protected-space", "Personal", "--protected-space", "a0e4c1d7f2b9"),
        *("--allow-report", "0f9b3d7a5e41"),
        *("--lifecycle-max-share", "0.5", "--max-actions", "0"),
        *("--max-share", "1", "--protect-tag", "ops", "--protect-tag", "finance"),
        *("--protect-meta-key", "retain", "--protect-path", "models/marts/ops/*"),
        *("--protect-id", "model.freshcart.fct_app_funnel"),
    ]
    assert main([*command, *FILES, *flags]) == 0
    assert policies == [
        OfflinePolicy(
            stale=StalePolicy(
                no_run_days=30,
                low_usage_runs=2,
                low_usage_views=0,
                low_usage_min_age_days=7,
                keep_scheduled=False,
                protected_spaces=("Personal", "a0e4c1d7f2b9"),
                allow_list=("0f9b3d7a5e41",),
            ),
            lifecycle=replace(OfflinePolicy().lifecycle, max_share=0.5, max_actions=0),
            protections=Protections(
                tags=("ops", "finance"),
                meta_keys=("retain",),
                path_globs=("models/marts/ops/*",),
                unique_ids=("model.freshcart.fct_app_funnel",),
            ),
            max_share=1.0,
        )
    ]


def test_a_repeated_flag_replaces_the_default_list_and_an_empty_one_clears_it(policies):
    assert main(["plan", *FILES, "--protect-tag", "ops"]) == 0
    assert main(["plan", *FILES, "--protect-tag", "", "--protect-meta-key", ""]) == 0
    assert [p.protections for p in policies] == [
        replace(Protections(), tags=("ops",)),
        replace(Protections(), tags=(), meta_keys=()),
    ]


def _help(command: str, capsys) -> dict[str, str]:
    """Each option's help text, whitespace collapsed, by its flag."""
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    found: dict[str, str] = {}
    flag = None
    for line in capsys.readouterr().out.splitlines():
        option = re.match(r"\s{2}(--[a-z-]+)(?: [A-Z_]+)?(.*)", line)
        if option:
            flag, rest = option.groups()
            found[flag] = rest.strip()
        elif flag and line.startswith(" " * 6):
            found[flag] += " " + line.strip()
        else:
            flag = None
    return found


DEFAULT = OfflinePolicy()
DEFAULTS_NAMED_IN_HELP = {
    "--no-run-days": DEFAULT.stale.no_run_days,
    "--low-usage-runs": DEFAULT.stale.low_usage_runs,
    "--low-usage-views": DEFAULT.stale.low_usage_views,
    "--low-usage-min-age-days": DEFAULT.stale.low_usage_min_age_days,
    "--protected-space": "none" if not DEFAULT.stale.protected_spaces else DEFAULT.stale.protected_spaces,
    "--allow-report": "none" if not DEFAULT.stale.allow_list else DEFAULT.stale.allow_list,
    "--lifecycle-max-share": DEFAULT.lifecycle.max_share,
    "--max-actions": DEFAULT.lifecycle.max_actions,
    "--max-share": DEFAULT.max_share,
    "--protect-tag": ", ".join(DEFAULT.protections.tags),
    "--protect-meta-key": ", ".join(DEFAULT.protections.meta_keys),
    "--protect-path": "none" if not DEFAULT.protections.path_globs else DEFAULT.protections.path_globs,
    "--protect-id": "none" if not DEFAULT.protections.unique_ids else DEFAULT.protections.unique_ids,
}


@pytest.mark.parametrize("command", ["plan", "explain"])
def test_each_flags_help_names_the_policys_own_default(command, capsys):
    helps = _help(command, capsys)
    for flag, default in DEFAULTS_NAMED_IN_HELP.items():
        assert f"default: {default})" in helps[flag], (flag, helps[flag])
    assert DEFAULT.stale.keep_scheduled and "never stale" in helps["--include-scheduled"]


@pytest.mark.parametrize(
    ("flag", "value", "complaint"),
    [
        ("--max-share", "2", "is not a share"),
        ("--max-share", "-0.1", "is not a share"),
        ("--lifecycle-max-share", "nan", "is not a share"),
        ("--lifecycle-max-share", "half", "is not a share"),
        ("--no-run-days", "-1", "is not a count"),
        ("--low-usage-runs", "1.5", "is not a count"),
        ("--low-usage-views", "-3", "is not a count"),
        ("--low-usage-min-age-days", "-1", "is not a count"),
        ("--max-actions", "-1", "is not a count"),
    ],
)
def test_an_invalid_value_is_an_argparse_error_naming_the_flag(policies, capsys, flag, value, complaint):
    with pytest.raises(SystemExit) as exit_:
        main(["plan", *FILES, flag, value])
    assert exit_.value.code == 2
    assert f"argument {flag}: '{value}' {complaint}" in capsys.readouterr().err
    assert policies == []


# --------------------------------------------------------------------------- on the sample platform


def test_a_lower_max_share_refuses_and_names_the_flag(inputs, tmp_path, capsys):
    plan = _plan(inputs, tmp_path, "--max-share", "0.1")
    assert plan["unused_models"] == []
    assert "raise --max-share" in plan["unused_refusal"]
    assert "raise --max-share" in (tmp_path / "plan.md").read_text()
    assert "refused:" in capsys.readouterr().out


def test_a_protected_id_is_kept_out_of_the_unused_models(inputs, tmp_path):
    plan = _plan(inputs, tmp_path, "--protect-id", "model.freshcart.fct_app_funnel")
    # A protected model is kept, and so is int_app_sessions, which only it reads.
    kept = {"model.freshcart.fct_app_funnel", "model.freshcart.int_app_sessions"}
    assert _unused(plan) == set(expected_unused_models()) - kept
    assert plan["protected_models"]["model.freshcart.fct_app_funnel"] == "listed in protected unique ids"


def test_a_protected_path_keeps_the_models_under_it(inputs, tmp_path):
    plan = _plan(inputs, tmp_path, "--protect-path", "models/marts/ops/*")
    assert "model.freshcart.fct_store_ops_daily" not in _unused(plan)
    assert (
        plan["protected_models"]["model.freshcart.fct_store_ops_daily"] == "path matches models/marts/ops/*"
    )


def test_protect_tag_replaces_the_default_keep(keep_tagged_inputs, tmp_path):
    funnel = "model.freshcart.fct_app_funnel"
    by_default = _plan(keep_tagged_inputs, tmp_path / "default")
    assert funnel not in _unused(by_default)
    assert by_default["protected_models"][funnel] == "tagged keep"

    plan = _plan(keep_tagged_inputs, tmp_path / "ops", "--protect-tag", "ops")
    assert funnel in _unused(plan) and funnel not in plan["protected_models"]
    assert plan["protected_models"]["model.freshcart.fct_store_ops_daily"] == "tagged ops"


def test_protect_meta_key_replaces_the_default_keep(inputs, tmp_path):
    meta_kept = {*EXPECTED["protected_models"], *EXPECTED["freshcart_finance"]["protected_models"]}
    plan = _plan(inputs, tmp_path, "--protect-meta-key", "retain", "--max-share", "0.3")
    assert _unused(plan) == set(expected_unused_models()) | meta_kept
    assert not meta_kept & set(plan["protected_models"])


def test_looser_stale_thresholds_make_no_report_stale_and_nothing_cascades(inputs, tmp_path):
    flags = ["--no-run-days", "10000", "--low-usage-runs", "0", "--low-usage-views", "0"]
    plan = _plan(inputs, tmp_path, *flags)
    assert plan["stale_reports"] == []
    assert _unused(plan) == set(expected_unused_models(cascade=False))


def test_an_allowed_report_is_kept_and_keeps_what_it_reads(inputs, tmp_path):
    plan = _plan(inputs, tmp_path, "--allow-report", "0f9b3d7a5e41")  # Store Ops Daily (legacy)
    assert {r["token"] for r in plan["stale_reports"]} == STALE - {"0f9b3d7a5e41"}
    kept = {r["token"]: r["reason"] for r in plan["kept_reports"]}
    assert kept["0f9b3d7a5e41"] == "on the allow list"
    assert "model.freshcart.fct_store_ops_daily" not in _unused(plan)


def test_a_protected_space_keeps_its_reports(inputs, tmp_path):
    plan = _plan(inputs, tmp_path, "--protected-space", "Personal")  # Priya's scratch report
    assert {r["token"] for r in plan["stale_reports"]} == STALE - {"7f3b1d9e5c48"}
    kept = {r["token"]: r["reason"] for r in plan["kept_reports"]}
    assert kept["7f3b1d9e5c48"] == "in the protected space Personal"


@pytest.mark.parametrize(
    ("flags", "refusal"),
    [
        (
            ["--lifecycle-max-share", "0.1"],
            "above the cap of 10%. Review the candidates, then raise --lifecycle-max-share",
        ),
        (["--max-actions", "4"], "above the per-run cap of 4. Raise --max-actions"),
    ],
)
def test_a_lifecycle_cap_refuses_the_archives_and_so_the_cascade(inputs, tmp_path, flags, refusal):
    plan = _plan(inputs, tmp_path, *flags)
    assert refusal in plan["lifecycle_refusal"]
    assert {r["token"] for r in plan["stale_reports"]} == STALE  # still judged stale, not archived
    assert _unused(plan) == set(expected_unused_models(cascade=False))


def test_explain_follows_the_policy(inputs, capsys):
    assert main(["explain", "fct_store_ops_daily", *inputs, "--allow-report", "0f9b3d7a5e41"]) == 0
    out = capsys.readouterr().out
    assert "archived in this run" not in out
    assert "mode.report.0f9b3d7a5e41" in out and "reaches no consumer" not in out
