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

from metapipeline.run_files import SNAPSHOT, dagster_home, newest, newest_manifests

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

    return run_plan(*_offline_files(args), args.out, args.as_of)


def _run_explain(args: argparse.Namespace) -> int:
    from metapipeline.platform.cli import run_explain

    return run_explain(args.node, *_offline_files(args), args.as_of)


def _run_refs(args: argparse.Namespace) -> int:
    from metapipeline.lineage.cli import run_refs

    manifests = args.manifest or _newest_runs_manifests()  # none kept: tables only
    return run_refs(sys.stdin, sys.stdout, manifests)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
