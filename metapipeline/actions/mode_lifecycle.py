"""Archive stale Mode reports; delete them after a grace period unless someone restored them.

`plan_lifecycle` is pure: it turns a snapshot, the stale verdicts, the ledger's memory and what
Mode says now of each report metapipeline archived (`read_archived_by_us`) into a plan, or a
refusal that says why nothing may happen. `apply_plan` carries a plan out through the
Mode API (or, in a dry run, only records it) and writes every step to the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from metapipeline.mode.client import ModeAPIError, ModeClient, ModeNotFound
from metapipeline.mode.models import ModePayloadError, Report
from metapipeline.mode.snapshot import WorkspaceSnapshot
from metapipeline.platform.stale import ReportVerdict
from metapipeline.store.ledger import Action, Ledger

ActionKind = Literal["archive", "delete", "restored", "gone"]


@dataclass(frozen=True)
class LifecycleSettings:
    grace_days: int = 30
    max_share: float = 0.2  # refuse when more than this share of active reports would be archived at once
    max_actions: int = 500  # a hard per-run cap on archives plus deletes
    dry_run: bool = False
    # How a user raises each cap where these settings come from, named in the refusal.
    max_share_setting: str = "max_share in the mode_lifecycle op config"
    max_actions_setting: str = "max_actions in the mode_lifecycle op config"


@dataclass(frozen=True)
class PlannedAction:
    report_token: str
    report_name: str
    action: ActionKind
    reason: str


@dataclass
class LifecyclePlan:
    actions: list[PlannedAction] = field(default_factory=list)
    waiting: list[PlannedAction] = field(default_factory=list)  # archived by us, grace period not over
    spared: list[PlannedAction] = field(default_factory=list)  # stale, but a person restored it before
    refusal: str | None = None  # set when nothing may be archived or deleted, saying why

    def of_kind(self, kind: ActionKind) -> list[PlannedAction]:
        return [a for a in self.actions if a.action == kind]


@dataclass
class ArchivedReads:
    """What `GET /reports/{token}` says now of each report metapipeline archived. Whether Mode's
    listings show archived reports is not documented, so a listing never decides a delete."""

    found: dict[str, Report] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)  # 404
    unreadable: dict[str, str] = field(default_factory=dict)  # token -> error


def read_archived_by_us(client: ModeClient, history: Mapping[str, Action]) -> ArchivedReads:
    reads = ArchivedReads()
    for token, last in sorted(history.items()):
        if last.action != "archive":
            continue
        try:
            payload = client.get(client.workspace_path("reports", token))
            reads.found[token] = Report.from_api(payload, str(payload.get("space_token") or ""))
        except ModeNotFound:
            reads.gone.add(token)
        except (ModeAPIError, ModePayloadError) as exc:
            reads.unreadable[token] = str(exc)
    return reads


def plan_lifecycle(
    snapshot: WorkspaceSnapshot,
    verdicts: Iterable[ReportVerdict],
    history: Mapping[str, Action],
    settings: LifecycleSettings,
    now: datetime,
    reads: ArchivedReads,
) -> LifecyclePlan:
    """`history` is the ledger's `lifecycle_history`: what metapipeline last did to each report;
    `reads` what Mode says now of those it archived."""
    plan = LifecyclePlan()
    if not snapshot.complete:
        plan.refusal = (
            f"The Mode snapshot is incomplete ({snapshot.incomplete_because()}). "
            "Nothing is archived or deleted on partial evidence; the next complete run will act."
        )
        return plan

    grace = timedelta(days=settings.grace_days)
    # A restore we noticed, or an unarchive recorded by hand: either way, hands off.
    restored = {token for token, last in history.items() if last.action in {"restored", "unarchive"}}
    for token, last in sorted(history.items()):
        if last.action != "archive":
            continue
        if token in reads.gone:
            plan.actions.append(PlannedAction(token, last.report_name, "gone", "no longer in Mode"))
            continue
        report = reads.found.get(token)
        if report is None:
            error = reads.unreadable.get(token, "not read")
            plan.waiting.append(
                PlannedAction(
                    token, last.report_name, "delete", f"could not read it back from Mode ({error})"
                )
            )
            continue
        if not report.archived:
            # Someone unarchived it: their decision stands, now and in later runs.
            plan.actions.append(
                PlannedAction(token, report.name, "restored", "unarchived in Mode by someone")
            )
            restored.add(token)
            continue
        archived_days = (now - last.at) / timedelta(days=1)
        step = PlannedAction(
            token,
            report.name,
            "delete",
            f"archived by metapipeline {int(archived_days)} days ago ({last.reason})",
        )
        (plan.actions if now - last.at >= grace else plan.waiting).append(step)

    for verdict in verdicts:
        if not verdict.stale:
            continue
        step = PlannedAction(verdict.token, verdict.name, "archive", verdict.reason)
        if verdict.token in restored:
            plan.spared.append(
                replace(step, reason=f"{verdict.reason}; restored by someone after we archived it")
            )
        elif verdict.token not in history or history[verdict.token].action != "archive":
            plan.actions.append(step)

    active = sum(not r.archived for r in (*snapshot.reports, *snapshot.datasets))
    to_archive = len(plan.of_kind("archive"))
    destructive = to_archive + len(plan.of_kind("delete"))
    if active and to_archive / active > settings.max_share:
        plan.refusal = (
            f"{to_archive} of {active} active reports ({to_archive / active:.0%}) would be archived at once, "
            f"above the cap of {settings.max_share:.0%}. Review the candidates, then raise "
            f"{settings.max_share_setting} or tighten the stale policy."
        )
    elif destructive > settings.max_actions:
        plan.refusal = (
            f"{destructive} archives and deletes planned, above the per-run cap of {settings.max_actions}. "
            f"Raise {settings.max_actions_setting} after reviewing the plan."
        )
    if plan.refusal:
        # Bookkeeping (restored, gone) is still safe and keeps the ledger truthful.
        plan.actions = [a for a in plan.actions if a.action in {"restored", "gone"}]
    return plan


@dataclass
class LifecycleOutcome:
    done: list[Action] = field(default_factory=list)
    failed: list[tuple[PlannedAction, str]] = field(default_factory=list)
    dry_run: bool = False
    refusal: str | None = None  # why nothing was archived or deleted, when the plan refused

    def archived_now(self) -> set[str]:
        """Tokens of the reports archived in this run (would-be archives in a dry run)."""
        return {a.report_token for a in self.done if a.action == "archive"}

    def count(self, kind: str) -> int:
        return sum(a.action == kind for a in self.done)


def apply_plan(
    plan: LifecyclePlan,
    client: ModeClient,
    ledger: Ledger,
    *,
    run_id: str,
    now: datetime,
    dry_run: bool,
    progress: Callable[[str], None] = lambda _: None,
) -> LifecycleOutcome:
    """Carry out the plan (writes to Mode only when not a dry run) and record every step."""
    outcome = LifecycleOutcome(dry_run=dry_run, refusal=plan.refusal)
    for step in plan.actions:
        kind = step.action
        try:
            if not dry_run and kind == "archive":
                client.request("PATCH", client.workspace_path("reports", step.report_token, "archive"))
            elif not dry_run and kind == "delete":
                client.request("DELETE", client.workspace_path("reports", step.report_token))
        except ModeNotFound as missing:
            # Deleted by someone between the snapshot and now; unless our own delete did it on an
            # earlier attempt whose answer was lost (then the ledger must say "delete", not "gone").
            kind = "delete" if kind == "delete" and missing.retried else "gone"
        except ModeAPIError as exc:
            outcome.failed.append((step, str(exc)))
            progress(f"could not {step.action} {step.report_token} ({step.report_name}): {exc}")
            continue
        action = Action(
            workspace=client.workspace,
            report_token=step.report_token,
            report_name=step.report_name,
            action=kind,
            reason=step.reason,
            run_id=run_id,
            at=now,
            dry_run=dry_run,
        )
        ledger.record_actions([action])  # one by one: a crash mid-run never forgets what reached Mode
        outcome.done.append(action)
        progress(
            f"{'would ' if dry_run else ''}{kind} {step.report_token} ({step.report_name}): {step.reason}"
        )
    return outcome
