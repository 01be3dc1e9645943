"""`metapipeline ...` commands: the sandbox, the demo, the dev UI."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metapipeline.run_files import SNAPSHOT, WAREHOUSE_USAGE, dagster_home, newest, newest_manifests

if TYPE_CHECKING:
    from metapipeline.platform.cli import OfflinePolicy

DEFAULT_DATA_DIR = Path(".sandbox")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="metapipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    sandbox = commands.add_parser("sandbox", help="start the loopback emulators and print their environment")
    _sandbox_options(sandbox)
    sandbox.add_argument("--env-file", type=Path, help="also write the environment to this file")

    demo = commands.add_parser("demo", help="run the metapipeline job on the sample platform, offline")
    _sandbox_options(demo)

    dev = commands.add_parser("dev", help="open the Dagster UI on the sandbox")
    _sandbox_options(dev)
    dev.add_argument("--port", type=int, default=3000)

    refs = commands.add_parser(
        "refs",
        help="read JSON lines {sql, dialect, default_database, default_schema} on stdin, "
        "write the tables (and dbt nodes) each reads",
    )
    refs.add_argument(
        "--manifest",
        action="append",
        default=[],
        type=Path,
        help="a dbt manifest (.json or .json.gz) to resolve tables to nodes (repeatable; default: the "
        "newest run's, when a run kept one; else tables only)",
    )

    plan = commands.add_parser(
        "plan", help="the whole analysis offline, from manifests and a saved Mode snapshot: writes the plan"
    )
    _offline_inputs(plan)
    plan.add_argument("--out", type=Path, default=Path("metapipeline-plan"), help="where plan.json/.md go")

    explain = commands.add_parser("explain", help="why a node is or is not a consumer, and its paths to them")
    explain.add_argument("node", help="a node id (model.shop.fct_orders), a report token or a unique name")
    _offline_inputs(explain)

    args = parser.parse_args(argv)
    run = {
        "sandbox": _run_sandbox,
        "demo": _run_demo,
        "dev": _run_dev,
        "refs": _run_refs,
        "plan": _run_plan,
        "explain": _run_explain,
    }[args.command]
    return run(args)


def _offline_inputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--manifest",
        action="append",
        type=Path,
        help="a dbt manifest.json(.gz) (repeatable; default: the newest run's, under $DAGSTER_HOME "
        "or else ./.dagster_home)",
    )
    parser.add_argument(
        "--snapshot",
        type=Path,
        help="a saved Mode snapshot: mode/snapshot.json among a run's files (default: the newest run's)",
    )
    parser.add_argument("--as-of", type=_timestamp, help="judge staleness as of this ISO time (default: now)")
    parser.add_argument(
        "--warehouse-usage",
        type=Path,
        help="the warehouse's access history: a run's warehouse/usage.json, or a reads file (.csv or "
        ".jsonl: time, user, relations or query_text) read with the job's defaults (default: the "
        "newest run's, when it kept one; else direct readers are not seen)",
    )
    _policy_options(parser)


def _policy_options(parser: argparse.ArgumentParser) -> None:
    """The job's op config knobs, so a run's decisions can be reproduced offline. Every default is
    None: `_offline_policy` keeps OfflinePolicy's own default for whatever is not given (the help
    texts name those defaults; tests/platform/test_offline_policy.py checks they agree)."""
    stale = parser.add_argument_group("stale reports (the stale_reports op's config)")
    stale.add_argument(
        "--no-run-days",
        type=_count,
        metavar="DAYS",
        help="stale after more than this many days without a run (default: 100)",
    )
    stale.add_argument(
        "--low-usage-runs",
        type=_count,
        metavar="N",
        help="low usage: fewer runs than this... (default: 5)",
    )
    stale.add_argument(
        "--low-usage-views",
        type=_count,
        metavar="N",
        help="...and fewer views than this... (default: 5)",
    )
    stale.add_argument(
        "--low-usage-min-age-days",
        type=_count,
        metavar="DAYS",
        help="...and created more than this many days ago (default: 60)",
    )
    stale.add_argument(
        "--include-scheduled",
        action="store_true",
        help="judge scheduled reports too (keep_scheduled off; default: a scheduled report is never stale)",
    )
    stale.add_argument(
        "--protected-space",
        action="append",
        dest="protected_spaces",
        metavar="SPACE",
        help="a space token or name whose reports are never stale (repeatable; default: none)",
    )
    stale.add_argument(
        "--allow-report",
        action="append",
        dest="allow_list",
        metavar="TOKEN",
        help="a report token never called stale (repeatable; default: none)",
    )

    lifecycle = parser.add_argument_group(
        "archiving (the mode_lifecycle op's config; offline is always a dry run)"
    )
    lifecycle.add_argument(
        "--lifecycle-max-share",
        type=_share,
        metavar="SHARE",
        help="refuse to archive anything when more than this share of active reports would be "
        "archived at once: the op's max_share (default: 0.2)",
    )
    lifecycle.add_argument(
        "--max-actions",
        type=_count,
        metavar="N",
        help="refuse to archive anything when more archives than this are planned (default: 500)",
    )

    unused = parser.add_argument_group("unused models (the find_unused_models op's config)")
    unused.add_argument(
        "--max-share",
        type=_share,
        metavar="SHARE",
        help="propose no model when more than this share of models look unused (default: 0.2)",
    )
    unused.add_argument(
        "--protect-tag",
        action="append",
        dest="protect_tags",
        metavar="TAG",
        help="a dbt tag that keeps a model (repeatable, replaces the default; '' for none; default: keep)",
    )
    unused.add_argument(
        "--protect-meta-key",
        action="append",
        dest="protect_meta_keys",
        metavar="KEY",
        help="a meta key that keeps a model when true (repeatable, replaces the default; '' for none; "
        "default: keep)",
    )
    unused.add_argument(
        "--protect-path",
        action="append",
        dest="protect_paths",
        metavar="GLOB",
        help="a glob of model files (their path in the repository, e.g. 'models/marts/finance/*') "
        "always kept (repeatable; default: none)",
    )
    unused.add_argument(
        "--protect-id",
        action="append",
        dest="protect_unique_ids",
        metavar="UNIQUE_ID",
        help="a model's unique_id always kept (repeatable; default: none)",
    )


def _share(text: str) -> float:
    try:
        share = float(text)
    except ValueError:
        share = float("nan")
    if not 0 <= share <= 1:  # NaN too
        raise argparse.ArgumentTypeError(f"{text!r} is not a share: give a number from 0 to 1")
    return share


def _count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count: give a whole number, 0 or more")
    return count


def _offline_policy(args: argparse.Namespace) -> OfflinePolicy:
    """OfflinePolicy from the policy flags; its own defaults for those not given (dry_run stays on)."""
    from dataclasses import replace

    from metapipeline.platform.cli import OfflinePolicy

    def given(**values: Any) -> dict[str, Any]:
        return {name: value for name, value in values.items() if value is not None}

    def listed(values: list[str] | None) -> tuple[str, ...] | None:
        return None if values is None else tuple(value for value in values if value)

    default = OfflinePolicy()
    return replace(
        default,
        stale=replace(
            default.stale,
            **given(
                no_run_days=args.no_run_days,
                low_usage_runs=args.low_usage_runs,
                low_usage_views=args.low_usage_views,
                low_usage_min_age_days=args.low_usage_min_age_days,
                keep_scheduled=False if args.include_scheduled else None,
                protected_spaces=listed(args.protected_spaces),
                allow_list=listed(args.allow_list),
            ),
        ),
        lifecycle=replace(
            default.lifecycle, **given(max_share=args.lifecycle_max_share, max_actions=args.max_actions)
        ),
        protections=replace(
            default.protections,
            **given(
                tags=listed(args.protect_tags),
                meta_keys=listed(args.protect_meta_keys),
                path_globs=listed(args.protect_paths),
                unique_ids=listed(args.protect_unique_ids),
            ),
        ),
        **given(max_share=args.max_share),
    )


def _newest_runs(relative: str) -> Path | None:
    """The newest run's copy of a file (run_files), named on stderr so the reader knows what was read."""
    found = newest(relative)
    if found is not None:
        print(f"# the newest run's {relative}: {found}", file=sys.stderr)
    return found


def _newest_runs_manifests() -> list[Path]:
    """The newest run's dbt manifests (one per project), named on stderr."""
    found = newest_manifests()
    for path in found:
        print(f"# the newest run's dbt manifest: {path}", file=sys.stderr)
    return found


def _no_run_kept(flag: str) -> SystemExit:
    return SystemExit(
        f"No {flag} given and no run kept one under {dagster_home() / 'storage'}: "
        f"run the job first (`make demo`), set DAGSTER_HOME to its instance, or pass the file."
    )


def _offline_files(args: argparse.Namespace) -> tuple[list[Path], Path]:
    manifests = args.manifest or _newest_runs_manifests()
    if not manifests:
        raise _no_run_kept("--manifest")
    snapshot = args.snapshot or _newest_runs(SNAPSHOT)
    if snapshot is None:
        raise _no_run_kept("--snapshot")
    return manifests, snapshot


def _warehouse_file(args: argparse.Namespace) -> Path | None:
    return args.warehouse_usage or _newest_runs(WAREHOUSE_USAGE)


def _timestamp(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _sandbox_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"where the sandbox keeps its state (default {DEFAULT_DATA_DIR}, "
        f"{DEFAULT_DATA_DIR}/synthetic-M-R-Q-seedS with --synthetic)",
    )
    parser.add_argument(
        "--faults",
        action="append",
        default=[],
        metavar="EMULATOR:SETTINGS",
        help="fault injection, e.g. mode:latency_ms=25,rate_429=0.2,rate_5xx=0.1 (repeatable)",
    )
    parser.add_argument(
        "--mode-rate-limit",
        default=None,
        metavar="N/SECONDS",
        help="Mode's per-user limit (default 40/10, 200/1 with --synthetic); 'off' disables it",
    )
    parser.add_argument(
        "--synthetic",
        type=_synthetic_spec,
        metavar="MODELS:REPORTS:QUERIES",
        help="serve a generated platform instead of the sample, e.g. 10k:20k:60k "
        "(the manifest is exported as DBT_MANIFEST_PATH)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the synthetic platform's seed")
    parser.add_argument(
        "--mode-latency-ms",
        type=int,
        default=5,
        help="latency the Mode emulator adds to each answer with --synthetic (default 5)",
    )


def _synthetic_spec(text: str) -> tuple[int, int, int]:
    from metapipeline.sandbox.synthetic import parse_spec

    try:
        return parse_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _start_sandbox(args: argparse.Namespace):
    from metapipeline.sandbox.platform import start_sample_sandbox, start_synthetic_sandbox

    if args.synthetic:
        models, reports, queries = args.synthetic
        if args.data_dir is None:
            args.data_dir = DEFAULT_DATA_DIR / f"synthetic-{models}-{reports}-{queries}-seed{args.seed}"
        return start_synthetic_sandbox(
            args.data_dir,
            models,
            reports,
            queries,
            seed=args.seed,
            faults=args.faults,
            mode_rate_limit=args.mode_rate_limit or "200/1",
            latency_ms=args.mode_latency_ms,
            progress=lambda message: print(f"# {message}", file=sys.stderr, flush=True),
        )
    args.data_dir = args.data_dir or DEFAULT_DATA_DIR
    return start_sample_sandbox(
        args.data_dir, faults=args.faults, mode_rate_limit=args.mode_rate_limit or "40/10"
    )


def _run_sandbox(args: argparse.Namespace) -> int:
    with _start_sandbox(args) as sandbox:
        exports = "\n".join(f"export {key}={value}" for key, value in sorted(sandbox.env().items()))
        if args.env_file:
            args.env_file.write_text(exports + "\n")
        print(exports, flush=True)
        print("# sandbox running; Ctrl-C stops it", file=sys.stderr, flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from metapipeline.orchestration.demo import quiet_libraries, run_demo

    quiet_libraries()  # before the job's libraries are imported and the notebook's kernel starts
    with _start_sandbox(args) as sandbox:
        os.environ.update(sandbox.env())
        exit_code, summary = run_demo(sandbox_dir=args.data_dir, sandbox_env=sandbox.env())
    # Once the run has ended and the sandbox has stopped: nothing prints among the summary.
    sys.stderr.flush()
    print(f"\n{summary}", flush=True)
    return exit_code


def _run_dev(args: argparse.Namespace) -> int:
    workspace = str(_workspace_file())
    with _start_sandbox(args) as sandbox:
        env = {**os.environ, **sandbox.env()}
        dagster = str(Path(sys.executable).parent / "dagster")  # the one installed beside us
        command = [dagster, "dev", "-w", workspace, "-h", "127.0.0.1", "-p", str(args.port)]
        print(f"Dagster UI on http://127.0.0.1:{args.port} (Ctrl-C stops it and the sandbox)", flush=True)
        # Started from a background shell we inherit SIGINT ignored, and dagster dev would then
        # ignore SIGTERM too (it copies SIGINT's handler): give the child default handling.
        process = subprocess.Popen(command, env=env, preexec_fn=_default_sigint)
        # Ctrl-C reaches dagster dev through the terminal; a SIGTERM to us must be passed on,
        # or dagster dev and its daemon outlive the sandbox they depend on.
        signal.signal(signal.SIGTERM, lambda *_: process.terminate())
        try:
            return process.wait()
        except KeyboardInterrupt:
            return process.wait()


def _workspace_file() -> Path:
    """The repository's workspace.yaml: the UI, its daemon and `dagster job backfill -w workspace.yaml`
    must all know the code location by the one name it gives."""
    workspace = Path(__file__).resolve().parents[1] / "workspace.yaml"
    if not workspace.is_file():
        raise SystemExit(f"metapipeline dev runs from a clone of the repository: no {workspace}")
    return workspace


def _run_plan(args: argparse.Namespace) -> int:
    from metapipeline.platform.cli import run_plan

    return run_plan(
        *_offline_files(args),
        args.out,
        args.as_of,
        policy=_offline_policy(args),
        warehouse=_warehouse_file(args),
    )


def _run_explain(args: argparse.Namespace) -> int:
    from metapipeline.platform.cli import run_explain

    return run_explain(
        args.node,
        *_offline_files(args),
        args.as_of,
        policy=_offline_policy(args),
        warehouse=_warehouse_file(args),
    )


def _run_refs(args: argparse.Namespace) -> int:
    from metapipeline.lineage.cli import run_refs

    manifests = args.manifest or _newest_runs_manifests()  # none kept: tables only
    return run_refs(sys.stdin, sys.stdout, manifests)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
