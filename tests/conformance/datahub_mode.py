"""Conformance of the Mode emulator: DataHub's Mode source ingests the FreshCart sample sandbox.

    .venv/bin/python -m tests.conformance.datahub_mode [--workdir DIR] [--summary FILE]   (make conformance)

DataHub (`acryl-datahub[mode]`, pinned below) installs itself into its own virtualenv,
.conformance/datahub-venv (reused while the pin is unchanged). The sample sandbox starts with
Mode's real rate limit; DataHub reads it over HTTP with a `file` sink. The check fails (exit 1)
when DataHub's source reports a failure, a warning about "No Charts", "No Datasets" or an
"Unrecognized Platform", or when what it emitted differs, object by object, from what the emulator
serves.

What DataHub is expected to find, and why:
- every report (dashboard), archived ones too: `exclude_archived` is off by default;
- every space, the Personal one and the restricted Finance one too: the recipe turns off DataHub's
  defaults that skip personal collections (`exclude_personal_collections`, `space_pattern` deny
  ^Personal$), so the check covers the whole sample and Mode's `filter=all`;
- every query of a report (a dataset of subtype Query), and every chart of those queries, linked
  from its report's dashboard;
- every Mode Dataset (a dataset of subtype Dataset, carrying its SQL), linked from each report that
  imports it. A Dataset's queries are not entities of their own in DataHub, and DataHub never asks
  for a Dataset's charts, so charts on a Dataset's query are counted apart and not expected.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from metapipeline.sandbox.mode_emulator import ModeEmulator
from metapipeline.sandbox.platform import start_sample_sandbox

DATAHUB_REQUIREMENT = "acryl-datahub[mode]==1.7.0.17"
BLOCKING_WARNINGS = ("No Charts", "No Datasets", "Unrecognized Platform")
REPO = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO / ".conformance"
DEFAULT_VENV = CACHE_DIR / "datahub-venv"
RUNNER = Path(__file__).with_name("datahub_ingest.py")
INGEST_TIMEOUT_S = 900


def _dashboard(report_id: int) -> str:
    return f"urn:li:dashboard:(mode,{report_id})"


def _dataset(object_id: int) -> str:
    return f"urn:li:dataset:(urn:li:dataPlatform:mode,{object_id},PROD)"


def _chart(token: str) -> str:
    return f"urn:li:chart:(mode,{token})"


@dataclass
class Census:
    """Mode objects as DataHub names them (URNs), and the links between them."""

    reports: set[str] = field(default_factory=set)
    queries: set[str] = field(default_factory=set)
    charts: set[str] = field(default_factory=set)
    datasets: set[str] = field(default_factory=set)
    report_charts: set[tuple[str, str]] = field(default_factory=set)
    report_imports: set[tuple[str, str]] = field(default_factory=set)
    datasets_with_sql: set[str] = field(default_factory=set)

    def counts(self) -> dict[str, int]:
        return {
            "reports": len(self.reports),
            "queries": len(self.queries),
            "charts": len(self.charts),
            "datasets": len(self.datasets),
            "report->chart links": len(self.report_charts),
            "report->dataset imports": len(self.report_imports),
        }


def expected_census(document: dict[str, Any]) -> tuple[Census, dict[str, int]]:
    """What DataHub should emit for the emulator's workspace document, and figures it leaves out."""
    census = Census()
    dataset_ids = {d["token"]: d["id"] for d in document.get("datasets", [])}
    for report in document["reports"]:
        dashboard = _dashboard(report["id"])
        census.reports.add(dashboard)
        for query in report["queries"]:
            census.queries.add(_dataset(query["id"]))
            for chart in query.get("charts", []):
                census.charts.add(_chart(chart["token"]))
                census.report_charts.add((dashboard, _chart(chart["token"])))
        for token in report.get("imported_datasets", []):
            census.report_imports.add((dashboard, _dataset(dataset_ids[token])))
    census.datasets = {_dataset(i) for i in dataset_ids.values()}
    datasets = document.get("datasets", [])
    left_out = {
        "archived reports (included above)": sum(r["archived"] for r in document["reports"]),
        "queries of Datasets (are the Dataset)": sum(len(d["queries"]) for d in datasets),
        "charts on Datasets (never read)": sum(
            len(q.get("charts", [])) for d in datasets for q in d["queries"]
        ),
    }
    return census, left_out


def _aspects(records: list[dict[str, Any]]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(entity URN, aspect name, aspect) from a file sink's MCEs and MCPs."""
    for record in records:
        if "proposedSnapshot" in record:
            ((_, snapshot),) = record["proposedSnapshot"].items()
            for aspect in snapshot["aspects"]:
                ((kind, value),) = aspect.items()
                name = kind.rsplit(".", 1)[-1]
                yield snapshot["urn"], name[0].lower() + name[1:], value
        else:
            yield record["entityUrn"], record["aspectName"], record["aspect"]["json"]


def found_census(records: list[dict[str, Any]]) -> Census:
    census = Census()
    for urn, aspect_name, aspect in _aspects(records):
        if aspect_name == "dashboardInfo":
            census.reports.add(urn)
            census.report_charts |= {(urn, chart) for chart in aspect.get("charts") or []}
            census.report_imports |= {(urn, dataset) for dataset in aspect.get("datasets") or []}
        elif aspect_name == "chartInfo":
            census.charts.add(urn)
        elif aspect_name == "subTypes" and urn.startswith("urn:li:dataset:"):
            if "Query" in aspect["typeNames"]:
                census.queries.add(urn)
            if "Dataset" in aspect["typeNames"]:
                census.datasets.add(urn)
        elif aspect_name == "viewProperties" and aspect.get("viewLogic"):
            census.datasets_with_sql.add(urn)
    census.datasets_with_sql &= census.datasets
    return census


@dataclass
class Outcome:
    expected: Census
    found: Census
    left_out: dict[str, int]
    warnings: list[str]
    failures: list[str]
    requests: dict[str, int]
    seconds: float

    def problems(self) -> list[str]:
        problems = [f"failure: {failure}" for failure in self.failures]
        problems += [
            f"warning: {w.partition(':')[0]}" for w in self.warnings if any(b in w for b in BLOCKING_WARNINGS)
        ]
        for kind in ("reports", "queries", "charts", "datasets", "report_charts", "report_imports"):
            wanted, got = getattr(self.expected, kind), getattr(self.found, kind)
            if missing := sorted(map(str, wanted - got)):
                problems.append(f"{kind} missing: {', '.join(missing)}")
            if extra := sorted(map(str, got - wanted)):
                problems.append(f"{kind} not in the sample: {', '.join(extra)}")
        if without_sql := sorted(self.found.datasets - self.found.datasets_with_sql):
            problems.append(f"Datasets without their SQL: {', '.join(without_sql)}")
        return problems

    def render(self) -> str:
        found, expected = self.found.counts(), self.expected.counts()
        lines = [f"{'':36}{'DataHub':>8}{'sample':>8}"]
        lines += [f"{kind:36}{found[kind]:>8}{expected[kind]:>8}" for kind in expected]
        lines += [f"{kind:44}{count:>8}" for kind, count in self.left_out.items()]
        lines.append(f"Mode requests: {self.requests}; ingestion {self.seconds:.1f} s")
        lines.append(f"warnings ({len(self.warnings)}):" if self.warnings else "warnings: none")
        lines += [f"  {_shortened(w)}" for w in self.warnings]
        lines.append(f"failures ({len(self.failures)}):" if self.failures else "failures: none")
        lines += [f"  {_shortened(f)}" for f in self.failures]
        problems = self.problems()
        lines.append("FAILED:" if problems else "OK: DataHub found everything the sample holds")
        lines += [f"  {p}" for p in problems]
        return "\n".join(lines)

    def summary(self) -> dict[str, Any]:
        return {
            "found": self.found.counts(),
            "expected": self.expected.counts(),
            "left_out": self.left_out,
            "warnings": self.warnings,
            "failures": self.failures,
            "problems": self.problems(),
        }


def _shortened(line: str, limit: int = 300) -> str:
    return line if len(line) <= limit else line[: limit - 4] + " ..."


def ensure_datahub(venv: Path, say: Callable[[str], None]) -> Path:
    """The interpreter of a virtualenv holding DATAHUB_REQUIREMENT, installed on first use."""
    python = venv / "bin" / "python"
    stamp = venv / "conformance-requirement.txt"
    venv.parent.mkdir(parents=True, exist_ok=True)
    # Engineers share the checkout: one installs while the others wait.
    with (venv.parent / f"{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == DATAHUB_REQUIREMENT:
            return python
        say(f"installing {DATAHUB_REQUIREMENT} into {venv} ...")
        started = time.monotonic()
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                DATAHUB_REQUIREMENT,
            ],
            check=True,
        )
        stamp.write_text(DATAHUB_REQUIREMENT)
        say(f"installed in {time.monotonic() - started:.0f} s")
    return python


def _recipe(env: dict[str, str], sink_file: Path) -> dict[str, Any]:
    return {
        "source": {
            "type": "mode",
            "config": {
                "connect_uri": env["MODE_HOST"],
                "token": env["MODE_TOKEN"],
                "password": env["MODE_SECRET"],
                "workspace": env["MODE_WORKSPACE"],
                # The whole sample: DataHub skips personal collections by default.
                "exclude_personal_collections": False,
                "space_pattern": {"allow": [".*"], "deny": []},
            },
        },
        "sink": {"type": "file", "config": {"filename": str(sink_file)}},
    }


def _entries(structured: list[dict[str, Any]]) -> list[str]:
    """DataHub's structured log entries (title, message, contexts) as one line each."""
    lines = []
    for entry in structured:
        context = "; ".join(entry.get("context") or [])
        lines.append(f"{entry.get('title')}: {entry.get('message')}" + (f" ({context})" if context else ""))
    return lines


def run_check(workdir: Path, venv: Path = DEFAULT_VENV, say: Callable[[str], None] = print) -> Outcome:
    python = ensure_datahub(venv, say)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    recipe, sink_file, report_file, log_file = (
        workdir / name for name in ("recipe.yml", "mces.json", "report.json", "datahub.log")
    )
    with start_sample_sandbox(workdir / "sandbox") as sandbox:
        recipe.write_text(yaml.safe_dump(_recipe(sandbox.env(), sink_file)))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MODE_", "VIRTUAL_ENV"))}
        env |= {"DATAHUB_TELEMETRY_ENABLED": "false", "HOME": str(workdir)}  # keeps ~/.datahub out
        started = time.monotonic()
        with log_file.open("w") as log:
            ran = subprocess.run(
                [str(python), str(RUNNER), str(recipe), str(report_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                timeout=INGEST_TIMEOUT_S,
            )
        seconds = time.monotonic() - started
        mode = sandbox["mode"].emulator
        assert isinstance(mode, ModeEmulator)
        document = mode.document
        requests = sandbox["mode"].stats()
    if ran.returncode != 0 or not report_file.exists():
        tail = log_file.read_text()[-3000:]
        raise RuntimeError(f"DataHub's ingestion exited {ran.returncode}; {log_file} ends with:\n{tail}")
    source_report = json.loads(report_file.read_text())["source"]
    expected, left_out = expected_census(document)
    return Outcome(
        expected=expected,
        found=found_census(json.loads(sink_file.read_text())),
        left_out=left_out,
        warnings=_entries(source_report["warnings"]),
        failures=_entries(source_report["failures"]),
        requests=requests,
        seconds=seconds,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=CACHE_DIR / "last-run", help="recipe, output, logs")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="DataHub's own virtualenv")
    parser.add_argument("--summary", type=Path, help="also write the counts and problems here, as JSON")
    args = parser.parse_args(argv)
    outcome = run_check(args.workdir, args.venv)
    print(outcome.render())
    print(f"(DataHub's log, recipe and output: {args.workdir})")
    if args.summary:
        args.summary.write_text(json.dumps(outcome.summary(), indent=1))
    return 1 if outcome.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
