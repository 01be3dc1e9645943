"""The fault suite: the whole `metapipeline` job, many times, against emulators that misbehave.

    .venv/bin/python -m tests.faults.run_fault_suite --runs 50 --seed 1 [--workers 3] [--outages 4]

Run 0 is the fault-free reference. Runs 1..N each get a random fault schedule: in each of Mode,
GitHub and Slack 10% of requests answer with a 429 (with Retry-After), a 5xx, a dropped connection
or a truncated body, in proportions drawn from the run's seed (and the emulators' dice are seeded
from it too). `--outages` adds runs where one part of one API is down for the whole run (one
report's queries or one space's listing in Mode, pull requests on GitHub, file uploads on Slack), so
the incomplete-evidence and clear-failure paths are exercised as well, not just hoped for, and a run
where every answer to a Slack post or upload completion is lost. Slack's shares are delayed in
every run (the emulator's default, as on Slack).

Every run gets a fresh sandbox (Mode state, git repository, Slack files), a fresh ledger (with the
sample's dbt run history and one report metapipeline archived 40 days ago, so deletes happen too)
and is checked on its own:

- it succeeded with the reference's plan (plan.json minus its timestamp), the same pull request
  diffs, titles and bodies, the same Mode actions and the same Slack message; or it failed and the
  failure names the step and the service; or (Mode outages) it succeeded and refused to act;
- no archive or delete, and no removal or exposures pull request, when the snapshot had failures;
- at most one pull request ever per branch; each report archived (and deleted) at most once, in
  Mode's history and in the ledger, and the two agree; exactly one Slack message when the run
  succeeded, at most one when it failed, and each chart shared once.

Each run executes in a Python process of its own, `--workers` at a time (the dbt manifest is
parsed once for all of them); a run still going after RUN_TIMEOUT_S is killed and reported as a
crash with the end of its log.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as day_start
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SERVICES = ("mode", "github", "slack")
FAULT_KINDS = ("429", "5xx", "drop", "malformed")
FAULT_RATE = 0.10
REMOVAL, EXPOSURES = "metapipeline/remove-unused-models", "metapipeline/mode-exposures"
BRANCHES = (REMOVAL, EXPOSURES)
# Reported archived by metapipeline 40 days before NOW (in Mode it is archived): runs delete it.
GRACE_EXPIRED_REPORT = "5f0c8a3e6b19"
# Which service a step talks to, by the step key's graph (the notebook posts to Slack).
STEP_SERVICES = {"mode": "mode", "github": "github", "report.meta_analysis": "slack"}
SERVICE_WORDS = {"mode": r"\bmode\b", "github": r"github", "slack": r"slack"}

# Parts of an API that misbehave for a whole run, and what the run must then do.
OUTAGES: tuple[tuple[str, str, str, str], ...] = (
    # (name, service, FaultSettings spec, expected: "refused" = succeeds without acting, "failed",
    # "same" = succeeds like the fault-free run)
    ("mode: one report's queries down", "mode", r"outage_pattern=/reports/3f1c9a2e7b40/queries", "refused"),
    (
        "mode: one space's reports down",
        "mode",
        r"outage_pattern=/(spaces|collections)/5c8e2f1a9d30/reports",
        "refused",
    ),
    ("github: pull requests down", "github", r"outage_pattern=/pulls$", "failed"),
    ("slack: file uploads down", "slack", r"outage_pattern=/api/files\.completeUploadExternal", "failed"),
    (
        "slack: answers to posts lost",
        "slack",
        r"path_pattern=chat\.postMessage|files\.completeUploadExternal,rate_malformed=1.0",
        "same",
    ),
)


@dataclass
class Schedule:
    run: int
    seed: int
    kind: str  # "reference", "random" or "outage"
    faults: dict[str, str] = field(default_factory=dict)  # service -> FaultSettings spec
    outage: str = ""  # what is down, for outage runs
    expect: str = "same"  # "same" (succeed like the reference or fail clearly), "refused", "failed"


def schedules(runs: int, seed: int, outages: int) -> list[Schedule]:
    """The reference, `runs` random schedules and `outages` outage runs, all derived from `seed`."""
    result = [Schedule(0, seed, "reference")]
    for run in range(1, runs + 1):
        run_seed = seed * 100_003 + run
        rng = random.Random(run_seed)
        faults = {}
        for number, service in enumerate(SERVICES):
            weights = [rng.random() for _ in FAULT_KINDS]
            rates = {
                kind: FAULT_RATE * w / sum(weights) for kind, w in zip(FAULT_KINDS, weights, strict=True)
            }
            faults[service] = ",".join(
                [f"rate_{kind}={rate:.4f}" for kind, rate in rates.items()]
                + ["retry_after_s=1", f"seed={run_seed * 10 + number}"]
            )
        result.append(Schedule(run, run_seed, "random", faults))
    for number in range(outages):
        name, service, spec, expect = OUTAGES[number % len(OUTAGES)]
        run = runs + 1 + number
        run_seed = seed * 100_003 + run
        result.append(Schedule(run, run_seed, "outage", {service: spec}, name, expect))
    return result


# -- one run (in a worker process) ---------------------------------------------------------------


def start_sandbox(data_dir: Path, faults: dict[str, str], tokens: dict[str, str] | None = None) -> Any:
    """`start_sample_sandbox`, with the emulators' credentials chosen by the caller."""
    from metapipeline.sandbox.faults import FaultSettings
    from metapipeline.sandbox.harness import Sandbox
    from metapipeline.sandbox.mode_emulator import ModeEmulator
    from metapipeline.sandbox.platform import prepare_sample_files, sample_github
    from metapipeline.sandbox.sample import materialize_workspace
    from metapipeline.sandbox.slack_emulator import SlackEmulator

    tokens = tokens or {}
    data_dir.mkdir(parents=True, exist_ok=True)
    files_env = prepare_sample_files(data_dir, NOW)
    anchor = datetime.combine(NOW.date(), day_start.min, tzinfo=UTC)
    document = materialize_workspace(anchor)
    credentials = None
    if "MODE_TOKEN" in tokens:
        user = document["users"][0]["username"]
        credentials = {tokens["MODE_TOKEN"]: (tokens["MODE_SECRET"], user)}
    mode = ModeEmulator(document, rate_limit=None, data_dir=data_dir, credentials=credentials)
    github_options = {"token": tokens["GITHUB_TOKEN"]} if "GITHUB_TOKEN" in tokens else {}
    github = sample_github(data_dir, **github_options)
    slack_options = {"token": tokens["SLACK_BOT_TOKEN"]} if "SLACK_BOT_TOKEN" in tokens else {}
    slack = SlackEmulator(data_dir, **slack_options)
    settings = {service: FaultSettings.parse(spec) for service, spec in faults.items()}
    sandbox = Sandbox([mode, github, slack], faults=settings, extra_env=files_env)
    return sandbox.start()


def prepare_ledger(url: str) -> None:
    """The sample's dbt run history, and one report metapipeline archived past the grace period."""
    from metapipeline.dbt.history.files import RunResultsFiles
    from metapipeline.store.ledger import Action, Ledger

    with closing(Ledger(url)) as store:
        location = os.environ["DBT_RUN_RESULTS_DIR"]
        store.record_node_runs(run for found in RunResultsFiles(location).invocations() for run in found.runs)
        store.record_actions(
            [
                Action(
                    workspace=os.environ["MODE_WORKSPACE"],
                    report_token=GRACE_EXPIRED_REPORT,
                    report_name="Courier Shift Planner",
                    action="archive",
                    reason="no run for 130 days",
                    run_id="before-the-suite",
                    at=NOW - timedelta(days=40),
                    dry_run=False,
                )
            ]
        )


def run_config(**extra_resources: Any) -> dict[str, Any]:
    resources: dict[str, Any] = {"clock": {"config": {"as_of": NOW.isoformat()}}}
    resources |= extra_resources
    return {
        "execution": {"config": {"in_process": {}}},
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        "resources": resources,
    }


# The suite's runs ask Mode faster than the production default (4/s): the emulator has no limit,
# and the faults' Retry-After still holds the client back. Secrets stay names of variables.
FAST_MODE = {
    "config": {
        "workspace": {"env": "MODE_WORKSPACE"},
        "token": {"env": "MODE_TOKEN"},
        "secret": {"env": "MODE_SECRET"},
        "requests_per_second": 25.0,
    }
}


def _error_text(error: Any) -> str:
    """A SerializableErrorInfo's message and its causes' (class names included), one line each."""
    parts = []
    while error is not None:
        message = error.message.strip()
        # Dagster's message repeats the class, qualified: "a.b.SomeError: text"
        message = re.sub(rf"^[\w.]*\b{re.escape(error.cls_name or '')}: ", "", message)
        parts.append(f"{error.cls_name}: {message}")
        error = error.cause or getattr(error, "context", None)
    return "\n".join(parts)


def _service_of(step_key: str) -> str | None:
    for prefix, service in STEP_SERVICES.items():
        if step_key == prefix or step_key.startswith(prefix + "."):
            return service
    return None


def _git(repo: Path, *args: str) -> str | None:
    done = subprocess.run(["git", f"--git-dir={repo}", *args], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else None


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def execute(
    schedule: Schedule, workdir: Path, *, tokens: dict[str, str] | None = None, fast_mode: bool = True
) -> dict[str, Any]:
    """Run the job once on a fresh sandbox; return what the checks need (JSON-able).

    Sets the sandbox's variables in `os.environ` (callers in a shared process restore it).
    `tokens` chooses the emulators' credentials; `fast_mode=False` keeps the resources' defaults."""
    import requests
    from dagster import (
        DagsterEventType,
        DagsterInstance,
        NotebookMetadataValue,
        execute_job,
        reconstructable,
    )

    from metapipeline.definitions import metapipeline_job
    from metapipeline.sandbox.faults import FaultSettings
    from metapipeline.store.ledger import Ledger

    data_dir = workdir / f"run-{schedule.run:03d}"
    shutil.rmtree(data_dir, ignore_errors=True)
    sandbox = start_sandbox(data_dir / "sandbox", schedule.faults, tokens)
    record: dict[str, Any] = {"schedule": asdict(schedule)}
    try:
        env = sandbox.env()
        ledger_url = f"sqlite:///{data_dir / 'ledger.sqlite'}"
        os.environ.update(env)
        os.environ["METAPIPELINE_DATABASE_URL"] = ledger_url
        prepare_ledger(ledger_url)
        instance = DagsterInstance.get()
        started = time.monotonic()
        config = run_config(mode=FAST_MODE) if fast_mode else run_config()
        with execute_job(reconstructable(metapipeline_job), instance=instance, run_config=config) as result:
            record["seconds"] = round(time.monotonic() - started, 1)
            record["success"] = result.success
            record["run_id"] = run_id = result.run_id
            record["dagster_home"] = instance.root_directory
            record["notebooks"] = [
                value.path
                for event in result.all_events
                if event.event_type == DagsterEventType.ASSET_MATERIALIZATION
                for value in event.event_specific_data.materialization.metadata.values()
                if isinstance(value, NotebookMetadataValue)
            ]
            record["failures"] = [
                {
                    "step": event.step_key,
                    "service": _service_of(event.step_key or ""),
                    "error": _error_text(event.step_failure_data.error),
                }
                for event in result.all_events
                if event.is_step_failure
            ]
            record["retries"] = [
                event.step_key for event in result.all_events if event.event_type_value == "STEP_UP_FOR_RETRY"
            ]
            if not result.success and not record["failures"]:
                record["failures"] = [
                    {"step": "(run)", "service": None, "error": event.message or event.event_type_value}
                    for event in result.all_events
                    if event.event_type == DagsterEventType.RUN_FAILURE
                ]
        record["faults_injected"] = {
            name: {kind: server.stats().get(f"fault_{kind}", 0) for kind in FAULT_KINDS}
            | {"requests": server.stats().get("requests", 0)}
            for name, server in sandbox.servers.items()
        }
        for server in sandbox.servers.values():  # the checks below read through the APIs
            server.faults.configure(FaultSettings())

        storage = Path(instance.storage_directory()) / run_id
        plan_file = storage / "plan" / "plan.json"
        record["plan"] = (
            json.loads(normalize(plan_file.read_text(), sandbox, data_dir)) if plan_file.exists() else None
        )
        snapshot_file = storage / "mode" / "snapshot.json"
        if snapshot_file.exists():
            snapshot = json.loads(snapshot_file.read_text())
            record["snapshot_failures"] = [f"{f['what']}: {f['error']}" for f in snapshot["failures"]]
        else:
            record["snapshot_failures"] = None  # the snapshot step never finished

        with closing(Ledger(ledger_url)) as store:
            actions = store.actions(env["MODE_WORKSPACE"])
        record["ledger_actions"] = [
            {"action": a.action, "report": a.report_token, "run_id": a.run_id, "dry_run": a.dry_run}
            for a in actions
            if a.run_id == run_id
        ]
        record["mode_history"] = list(sandbox["mode"].emulator.history)

        # Every repository the sample serves (one per dbt project): "where" is repository and branch.
        github = sandbox["github"].emulator
        record["pulls"], record["branches"] = [], {}
        for repository in github.full_names:
            pulls = requests.get(
                f"{env['GITHUB_API_URL']}/repos/{repository}/pulls",
                params={"state": "all", "per_page": 100},
                headers={"Authorization": f"token {env['GITHUB_TOKEN']}"},
                timeout=30,
            ).json()
            record["pulls"] += [
                {
                    "number": p["number"],
                    "repository": repository,
                    "branch": p["head"]["ref"],
                    "where": f"{repository} {p['head']['ref']}",
                    "state": p["state"],
                    "title": p["title"],
                    "body": normalize(p["body"] or "", sandbox),
                    "labels": sorted(label["name"] for label in p["labels"]),
                }
                for p in pulls
            ]
            repo = github.repository(repository).repo_dir
            record["branches"] |= {
                f"{repository} {branch}": _git(repo, "diff", "main", f"refs/heads/{branch}")
                for branch in BRANCHES
                if _git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}")
            }
        record["repositories"] = github.full_names
        slack = data_dir / "sandbox" / "slack"
        messages = _jsonl(slack / "messages.jsonl")
        record["slack_messages"] = [
            normalize(m["text"], sandbox) for m in {(m["channel"], m["ts"]): m for m in messages}.values()
        ]
        # A later line for the same file is a later state of it (shared by a message); private
        # uploads of a failed try are shared nowhere.
        files = {f["id"]: f for f in _jsonl(slack / "files.jsonl")}
        record["slack_files"] = sorted(f["name"] for f in files.values() if f["channel"])
    except Exception:
        record["crash"] = traceback.format_exc()
    finally:
        sandbox.stop()
    return record


def normalize(text: str, sandbox: Any, data_dir: Path | None = None) -> str:
    """Without what differs between sandboxes by construction: ports, pull request numbers, and
    the run's own folder (the warehouse reads file the plan's evidence names)."""
    for name, server in sandbox.servers.items():
        text = text.replace(server.base_url, f"<{name}>")
    if data_dir is not None:
        text = text.replace(str(data_dir), "<run>")
    return re.sub(r"/pull/\d+", "/pull/N", text)


# -- checks ------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    run: int
    seed: int
    kind: str
    faults: dict[str, dict[str, int]]
    result: str  # "ok", "refused", "failed (clear)", or "VIOLATION: ..."
    failed: str  # failed step(s) and the first line of the error
    retries: int
    plan_equal: bool | None
    prs_equal: bool | None
    duplicates: dict[str, int]
    destructive_on_incomplete: int
    problems: list[str]
    seconds: float


def _strip_plan(plan: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if plan is None else {k: v for k, v in plan.items() if k != "as_of"}


def _prs(record: dict[str, Any]) -> dict[str, Any]:
    return {
        p["where"]: {k: p[k] for k in ("state", "title", "body", "labels")}
        | {"diff": record["branches"].get(p["where"])}
        for p in record["pulls"]
    }


def _mode_actions(record: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((a["action"], a["report"]) for a in record["ledger_actions"])


def _error_lines(error: str) -> str:
    """What an error says, without its traceback: the `SomeError: message` lines (file paths and code
    mention "slack" or "github" too, which would make any failure look clear)."""
    return "\n".join(line for line in error.splitlines() if re.match(r"[A-Za-z_][\w.]*: ", line))


def _headline(error: str, service: str | None) -> str:
    """The line of an error a person needs: the first that names the service, else the deepest."""
    lines = _error_lines(error).splitlines() or error.splitlines()[:1]
    named = [line for line in lines if service and re.search(SERVICE_WORDS[service], line, re.IGNORECASE)]
    line = (named or lines)[-1]
    return line[:220]


def check(record: dict[str, Any], reference: dict[str, Any]) -> Outcome:
    """Judge one run on its own record, against the reference run's plan, pull requests and post."""
    schedule = Schedule(**record["schedule"])
    problems: list[str] = []
    if "crash" in record:
        problems.append("the suite itself crashed: " + record["crash"].strip().splitlines()[-1])
        return Outcome(
            schedule.run, schedule.seed, schedule.kind, {}, "VIOLATION: suite crash", "", 0,
            None, None, {}, 0, problems, record.get("seconds", 0.0),
        )  # fmt: skip

    # Duplicates: pull requests per branch, archives and deletes per report, Slack messages.
    per_branch = Counter(p["where"] for p in record["pulls"])
    duplicate_prs = sum(n - 1 for n in per_branch.values() if n > 1)
    changed = Counter((h["action"], h["report"]) for h in record["mode_history"] if h["changed"])
    recorded = Counter((a["action"], a["report"]) for a in record["ledger_actions"])
    # Each report changes state in Mode at most once per action, and the ledger records it once.
    duplicate_archives = sum(n - 1 for (action, _), n in (changed | recorded).items() if action == "archive")
    duplicate_deletes = sum(n - 1 for (action, _), n in (changed | recorded).items() if action == "delete")
    duplicate_slack = max(0, len(record["slack_messages"]) - 1)
    duplicates = {"prs": duplicate_prs, "archives": duplicate_archives, "deletes": duplicate_deletes}
    duplicates["slack"] = duplicate_slack
    for what, n in duplicates.items():
        if n:
            problems.append(f"{n} duplicate {what}")
    if len(record["slack_files"]) != len(set(record["slack_files"])):
        problems.append(f"a chart was shared twice: {record['slack_files']}")
    if record["success"] and len(record["slack_messages"]) != 1:
        problems.append(f"{len(record['slack_messages'])} Slack messages, expected one")

    # The ledger tells the truth: what changed in Mode is recorded (a delete as a delete), and back.
    done_in_mode = {key for key in changed if key[0] in {"archive", "delete"}}
    in_ledger = {key for key in recorded if key[0] in {"archive", "delete"}}
    if done_in_mode != in_ledger:
        problems.append(
            f"ledger and Mode disagree: only in Mode {sorted(done_in_mode - in_ledger)}, "
            f"only in the ledger {sorted(in_ledger - done_in_mode)}"
        )

    # Nothing destructive on incomplete evidence.
    destructive = 0
    incomplete = bool(record["snapshot_failures"])
    if incomplete:
        destructive += sum(1 for h in record["mode_history"] if h["action"] in {"archive", "delete"})
        destructive += sum(1 for a in record["ledger_actions"] if a["action"] in {"archive", "delete"})
        destructive += sum(1 for p in record["pulls"] if p["branch"] in BRANCHES)
        destructive += len(record["branches"])
        if destructive:
            problems.append(f"{destructive} destructive action(s) on an incomplete snapshot")

    # Outcome: like the reference, a refusal (Mode outage), or a failure that names step and service.
    plan_equal = prs_equal = None
    failed = ""
    if record["plan"] is not None and reference.get("plan") is not None:
        plan_equal = _strip_plan(record["plan"]) == _strip_plan(reference["plan"])
    if record["success"]:
        prs_equal = _prs(record) == _prs(reference)
    if not record["success"]:
        unclear = []
        for failure in record["failures"]:
            service = failure["service"]
            words = [service] if service else list(SERVICES)
            said = _error_lines(failure["error"])
            if not any(re.search(SERVICE_WORDS[w], said, re.IGNORECASE) for w in words):
                unclear.append(failure["step"])
        first = record["failures"][-1] if record["failures"] else {"step": "?", "error": "no failure event"}
        failed = f"{first['step']}: {_headline(first['error'], first['service'])}"
        if unclear:
            problems.append(f"failure names no service: {', '.join(unclear)}")
        elif not record["failures"]:
            problems.append("the run failed without a step failure")
        result = "failed (clear)"
        if schedule.expect == "refused":
            problems.append("a Mode outage must not fail the run: it must refuse to act")
    elif schedule.expect == "failed":
        result = "ok"
        problems.append(f"the run succeeded although {schedule.outage}")
    elif schedule.expect == "refused":
        result = "refused"
        plan_equal = prs_equal = None  # refusing changes the plan and opens nothing, by design
        plan = record["plan"] or {}
        if not incomplete:
            problems.append("the snapshot is complete although part of Mode was down")
        if not (plan.get("lifecycle_refusal") and plan.get("unused_refusal")):
            problems.append("the plan does not refuse on an incomplete snapshot")
    else:
        result = "ok"
        if not plan_equal:
            problems.append("the plan differs from the fault-free run's")
        if not prs_equal:
            problems.append("the pull requests differ from the fault-free run's")
        if _mode_actions(record) != _mode_actions(reference):
            problems.append(f"Mode actions differ: {_mode_actions(record)} vs {_mode_actions(reference)}")
        if record["slack_messages"] != reference["slack_messages"]:
            problems.append("the Slack message differs from the fault-free run's")
        if sorted(record["slack_files"]) != sorted(reference["slack_files"]):
            problems.append(f"the charts differ: {record['slack_files']}")
    if problems:
        result = "VIOLATION"
    return Outcome(
        run=schedule.run,
        seed=schedule.seed,
        kind=schedule.outage or schedule.kind,
        faults={s: {k: v for k, v in counts.items()} for s, counts in record["faults_injected"].items()},
        result=result,
        failed=failed,
        retries=len(record["retries"]),
        plan_equal=plan_equal,
        prs_equal=prs_equal,
        duplicates=duplicates,
        destructive_on_incomplete=destructive,
        problems=problems,
        seconds=record["seconds"],
    )


def check_reference(reference: dict[str, Any]) -> list[str]:
    """The fault-free run must be a full, acting run: otherwise comparing against it proves nothing."""
    problems = []
    if "crash" in reference:
        return ["the reference run crashed: " + reference["crash"]]
    if not reference["success"]:
        problems.append(f"the fault-free run failed: {reference['failures']}")
    if reference["snapshot_failures"]:
        problems.append(f"the fault-free snapshot is incomplete: {reference['snapshot_failures']}")
    # A removal in every project's repository; exposures only where Mode reads the project (freshcart).
    primary, *others = reference["repositories"]
    expected = {f"{primary} {branch}" for branch in BRANCHES} | {f"{other} {REMOVAL}" for other in others}
    if {p["where"] for p in reference["pulls"]} != expected:
        problems.append(f"the fault-free run opened {[p['where'] for p in reference['pulls']]}")
    if not any(a["action"] == "archive" for a in reference["ledger_actions"]):
        problems.append("the fault-free run archived nothing")
    if ("delete", GRACE_EXPIRED_REPORT) not in _mode_actions(reference):
        problems.append(f"the fault-free run did not delete {GRACE_EXPIRED_REPORT}")
    if len(reference["slack_messages"]) != 1:
        problems.append(f"the fault-free run posted {len(reference['slack_messages'])} Slack messages")
    return problems


# -- the table ---------------------------------------------------------------------------------------


def _faults_cell(counts: dict[str, int]) -> str:
    return "/".join(str(counts.get(kind, 0)) for kind in FAULT_KINDS) + f" of {counts.get('requests', 0)}"


def table(outcomes: Sequence[Outcome]) -> str:
    header = (
        "run", "seed", "schedule", "mode 429/5xx/drop/bad", "github", "slack", "result", "retries",
        "plan=", "PRs=", "dup pr/arch/del/slack", "s", "failed step: error / problems",
    )  # fmt: skip
    rows = [header]
    for o in outcomes:
        note = "; ".join([o.failed, *o.problems] if o.failed else o.problems)
        rows.append(
            (
                str(o.run),
                str(o.seed),
                o.kind,
                *(_faults_cell(o.faults.get(s, {})) for s in SERVICES),
                o.result,
                str(o.retries),
                {True: "yes", False: "NO", None: "-"}[o.plan_equal],
                {True: "yes", False: "NO", None: "-"}[o.prs_equal],
                "/".join(str(o.duplicates.get(k, 0)) for k in ("prs", "archives", "deletes", "slack")),
                f"{o.seconds:.0f}",
                note,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append(" | ".join([*cells, row[-1]]).rstrip())
        if row is header:
            lines.append("-+-".join("-" * w for w in widths) + "-+-" + "-" * 30)
    return "\n".join(lines)


@dataclass
class SuiteReport:
    outcomes: list[Outcome]
    reference_problems: list[str]
    seconds: float

    @property
    def totals(self) -> dict[str, int]:
        counts = Counter(o.result for o in self.outcomes)
        return {
            "runs": len(self.outcomes),
            "ok": counts["ok"],
            "refused (Mode outage)": counts["refused"],
            "failed clearly": counts["failed (clear)"],
            "violations": counts["VIOLATION"],
            "destructive actions on incomplete evidence": sum(
                o.destructive_on_incomplete for o in self.outcomes
            ),
            "duplicate pull requests": sum(o.duplicates.get("prs", 0) for o in self.outcomes),
            "duplicate archives": sum(o.duplicates.get("archives", 0) for o in self.outcomes),
            "duplicate deletes": sum(o.duplicates.get("deletes", 0) for o in self.outcomes),
            "duplicate Slack posts": sum(o.duplicates.get("slack", 0) for o in self.outcomes),
        }

    @property
    def violations(self) -> list[str]:
        found = [f"reference: {p}" for p in self.reference_problems]
        found += [f"run {o.run}: {p}" for o in self.outcomes for p in o.problems]
        return found

    def render(self) -> str:
        lines = [table(self.outcomes), ""]
        lines += [f"{name}: {n}" for name, n in self.totals.items()]
        lines.append(f"wall time: {self.seconds:.0f} s")
        if self.violations:
            lines += ["", "VIOLATIONS:", *(f"  {v}" for v in self.violations)]
        return "\n".join(lines)


# -- workers and the suite ---------------------------------------------------------------------------


def parse_manifest(directory: Path) -> Path:
    """One `dbt parse` of the sample project for every run (DBT_MANIFEST_PATH)."""
    from metapipeline.sandbox.sample import DBT_PROJECT_DIR

    project = directory / "dbt_project"
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb"))
    dbt = Path(sys.executable).parent / "dbt"
    done = subprocess.run(
        [str(dbt), "parse", "--quiet", "--profiles-dir", str(project), "--project-dir", str(project)],
        capture_output=True,
        text=True,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )
    if done.returncode:
        raise RuntimeError(f"dbt parse failed:\n{done.stdout}{done.stderr}")
    return project / "target" / "manifest.json"


RUN_TIMEOUT_S = 900  # a run that takes longer is hung: killed and reported with its log


def _run_in_subprocess(schedule: Schedule, workdir: Path, manifest: Path) -> dict[str, Any]:
    """One run in a fresh Python process of its own (own DAGSTER_HOME, own log file).

    A process per run can be killed, with the notebook kernel it started: a run that hangs becomes
    a crash record carrying its log instead of a suite that never ends."""
    run_dir = workdir / f"process-{schedule.run:03d}"  # `execute` owns run-NNN and starts it afresh
    run_dir.mkdir(parents=True, exist_ok=True)
    home = run_dir / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    task, record_file, log_file = run_dir / "task.json", run_dir / "record.json", run_dir / "run.log"
    task.write_text(json.dumps(asdict(schedule)))
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DBT_MANIFEST_PATH": str(manifest),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    command = [sys.executable, str(Path(__file__).resolve()), "--one", str(task), "--workdir", str(workdir)]
    started = time.monotonic()
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            process.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the run and everything it started
            process.wait()
    if record_file.exists():
        record: dict[str, Any] = json.loads(record_file.read_text())
        return record
    seconds = round(time.monotonic() - started, 1)
    ending = "hung: killed" if process.returncode == -signal.SIGKILL else f"exited {process.returncode}"
    tail = log_file.read_text(errors="replace")[-4000:]
    return {
        "schedule": asdict(schedule),
        "crash": f"{ending} after {seconds} s; its log ends:\n{tail}",
        "seconds": seconds,
    }


def _run_one(task: Path, workdir: Path) -> None:
    """`--one`: execute one schedule in this process and write its record beside the task."""
    schedule = Schedule(**json.loads(task.read_text()))
    try:
        record = execute(schedule, workdir)
    except Exception:
        record = {"schedule": asdict(schedule), "crash": traceback.format_exc(), "seconds": 0.0}
    (task.parent / "record.json").write_text(json.dumps(record, default=str))


def run_suite(
    runs: int,
    seed: int,
    *,
    outages: int = 0,
    workers: int = 3,
    workdir: Path | None = None,
    progress: Any = print,
) -> SuiteReport:
    started = time.monotonic()
    workdir = Path(workdir or tempfile.mkdtemp(prefix="metapipeline-faults-"))
    workdir.mkdir(parents=True, exist_ok=True)
    progress(f"fault suite: {runs} random runs, {outages} outage runs, seed {seed}, in {workdir}")
    manifest = parse_manifest(workdir)
    plan = schedules(runs, seed, outages)
    # Outage runs wait out retries: start them first so they do not finish last.
    plan.sort(key=lambda s: (s.kind != "reference", s.kind != "outage", s.run))
    records: dict[int, dict[str, Any]] = {}
    with ThreadPoolExecutor(workers) as pool:
        running = [pool.submit(_run_in_subprocess, schedule, workdir, manifest) for schedule in plan]
        for done in as_completed(running):
            record = done.result()
            run = record["schedule"]["run"]
            records[run] = record
            state = "crash" if "crash" in record else ("ok" if record["success"] else "failed")
            progress(
                f"  run {run:>3} {state:<6} in {record.get('seconds', 0):>5.0f} s "
                f"({len(records)}/{len(plan)}, {time.monotonic() - started:.0f} s so far)"
            )
    reference = records[0]
    outcomes = [check(records[run], reference) for run in sorted(records) if run != 0]
    report = SuiteReport(outcomes, check_reference(reference), time.monotonic() - started)
    (workdir / "records.json").write_text(json.dumps(records, indent=1, default=str))
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50, help="random fault schedules (default 50)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--outages", type=int, default=len(OUTAGES), help="outage runs (default 4)")
    parser.add_argument("--workers", type=int, default=3, help="runs in parallel (default 3)")
    parser.add_argument("--workdir", type=Path, help="keep every run's files here (default: a temp dir)")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # one run, in a process of its own
    args = parser.parse_args(argv)
    if args.one:
        _run_one(args.one, args.workdir)
        return 0
    report = run_suite(args.runs, args.seed, outages=args.outages, workers=args.workers, workdir=args.workdir)
    print()
    print(report.render())
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
