"""Which Mode reports are stale, and why; and which look stale but must be kept, and why."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from metapipeline.mode.models import Report, parse_mode_timestamp


@dataclass(frozen=True)
class StalePolicy:
    """The original pipeline's thresholds plus the exclusions users of such tools expect."""

    no_run_days: int = 100  # stale after more than this many days without a run
    low_usage_runs: int = 5  # low usage: fewer runs than this,
    low_usage_views: int = 5  # and fewer views than this,
    low_usage_min_age_days: int = 60  # and created more than this many days ago (younger ones are new)
    keep_scheduled: bool = True
    protected_spaces: tuple[str, ...] = ()  # space tokens or names
    allow_list: tuple[str, ...] = ()  # report tokens


@dataclass(frozen=True)
class ReportVerdict:
    token: str
    name: str
    stale: bool
    reason: str  # why it is stale, or why it is kept although its numbers say stale; "" for healthy ones


def judge_reports(
    reports: Iterable[Report],
    policy: StalePolicy,
    now: datetime,
    *,
    datasets: Iterable[Report] = (),
    space_names: Mapping[str, str] | None = None,
    exposure_backed: Mapping[str, str] | None = None,
) -> list[ReportVerdict]:
    """A verdict for every report and Dataset that is not archived already.

    `exposure_backed` maps report tokens to the dbt exposure of maturity high that names them.
    A Dataset that a live report (neither archived nor stale now) imports is never stale.
    """
    space_names = space_names or {}
    exposure_backed = exposure_backed or {}
    protected_spaces = set(policy.protected_spaces)

    def verdict(report: Report, imported_by: list[Report]) -> ReportVerdict:
        why_stale = _why_stale(report, policy, now)
        why_kept = None
        if why_stale and imported_by:
            names = ", ".join(f"{r.token} ({r.name})" for r in imported_by)
            why_kept = f"imported by the live report{'s' * (len(imported_by) > 1)} {names}"
        elif why_stale:
            why_kept = _why_kept(report, policy, now, space_names, protected_spaces, exposure_backed)
        return ReportVerdict(
            report.token, report.name, bool(why_stale and not why_kept), why_kept or why_stale or ""
        )

    reports = [r for r in reports if not r.archived]
    verdicts = [verdict(report, []) for report in reports]
    stale = {v.token for v in verdicts if v.stale}
    importers: dict[str, list[Report]] = {}
    for report in reports:
        if report.token not in stale:
            for token in report.imported_datasets:
                importers.setdefault(token, []).append(report)
    verdicts += [verdict(d, importers.get(d.token, [])) for d in datasets if not d.archived]
    return verdicts


def _age_days(timestamp: str | None, now: datetime) -> float | None:
    moment = parse_mode_timestamp(timestamp)
    return None if moment is None else (now - moment) / timedelta(days=1)


def _why_stale(report: Report, policy: StalePolicy, now: datetime) -> str:
    age = _age_days(report.created_at, now)
    # A report never run counts from its creation.
    idle = _age_days(report.last_run_at or report.created_at, now)
    if idle is not None and idle > policy.no_run_days:
        return f"no run for {int(idle)} days"
    if report.runs_count < policy.low_usage_runs and report.view_count < policy.low_usage_views:
        age_text = "unknown age" if age is None else f"{int(age)} days old"
        return f"low usage ({report.runs_count} runs, {report.view_count} views, {age_text})"
    return ""


def _why_kept(
    report: Report,
    policy: StalePolicy,
    now: datetime,
    space_names: Mapping[str, str],
    protected_spaces: set[str],
    exposure_backed: Mapping[str, str],
) -> str | None:
    age = _age_days(report.created_at, now)
    if report.token in policy.allow_list:
        return "on the allow list"
    if report.token in exposure_backed:
        return f"backs the exposure {exposure_backed[report.token]} (maturity high)"
    if policy.keep_scheduled and report.schedules_count:
        return f"scheduled ({report.schedules_count} schedule{'s' * (report.schedules_count > 1)})"
    if report.space_token in protected_spaces or space_names.get(report.space_token) in protected_spaces:
        return f"in the protected space {space_names.get(report.space_token, report.space_token)}"
    if age is None:
        return "no creation date: cannot tell its age"
    if age <= policy.low_usage_min_age_days and not _idle_too_long(report, policy, now):
        return f"created {int(age)} days ago"
    return None


def _idle_too_long(report: Report, policy: StalePolicy, now: datetime) -> bool:
    idle = _age_days(report.last_run_at or report.created_at, now)
    return idle is not None and idle > policy.no_run_days
