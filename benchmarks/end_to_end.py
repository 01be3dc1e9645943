"""The whole `metapipeline` job, end to end: the sample, then a large synthetic platform; cold, then warm.

Each platform runs in the sandbox (Mode at `--rate` requests/s with `--latency-ms` per answer,
GitHub, Slack), served from a child process so the job's process holds only what the job holds.
The job runs in this process with the in-process executor, in a fresh DAGSTER_HOME and with a
fresh SQLite ledger per platform. The warm run comes the next day (the run's clock one day
later) after `--changed` of the reports were edited (`synthetic.mutate` + `apply_changes`; on
the sample, `ModeEmulator.edit_reports`).

Per stage (the job's graphs: dbt, mode, lineage, platform, github, report, summarize): the summed
wall time of its op steps, from the event log's STEP_START and STEP_SUCCESS timestamps (they
include loading inputs and storing outputs), and the peak memory while its steps ran. Memory is the
resident set of this process plus its descendants (the notebook kernel, dbt), sampled from /proc
every 0.2 s; the kernel's own high-water marks (`getrusage` RUSAGE_SELF and RUSAGE_CHILDREN, over
the benchmark's whole life) are printed beside it. Beside the stages, the naive baselines of the
stage benchmarks, projected to this platform's size: a one-worker Mode client
(`mode_ingestion`), plain sqlglot on one core and no cache (`lineage`), networkx's centrality
functions fitted as c·n·m (`centrality`).

Targets (for the large platform): the cold run within 10 minutes, peak memory under 4 GB, the warm
run at most 30% of the cold run's time.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import multiprocessing
import os
import resource
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

TARGET_COLD_SECONDS = 600.0
TARGET_PEAK_BYTES = 4 * 1024**3
TARGET_WARM_SHARE = 0.30
STAGES = ("dbt", "mode", "lineage", "platform", "github", "report", "summarize")
SAMPLE_INTERVAL_S = 0.2
_PAGE = os.sysconf("SC_PAGE_SIZE")


# -- the sandbox, in a child process ------------------------------------------------------------------


@dataclass(frozen=True)
class PlatformSpec:
    name: str
    slug: str  # its directory under the benchmark's temporary root
    synthetic: tuple[int, int, int] | None  # (models, reports, queries); None: the FreshCart sample
    seed: int = 0


def _serve_sandbox(
    conn: Connection, spec: PlatformSpec, data_dir: str, now: datetime, rate: float, latency_ms: int
) -> None:
    """The child process: start the sandbox, send its environment, then obey ("edit", share) and ("stop",)."""
    from metapipeline.sandbox.platform import start_sample_sandbox, start_synthetic_sandbox
    from metapipeline.sandbox.synthetic import apply_changes, mutate, synthetic_platform

    rate_limit = f"{rate:g}/1"
    if spec.synthetic is None:
        sandbox = start_sample_sandbox(
            Path(data_dir), faults=[f"mode:latency_ms={latency_ms}"], mode_rate_limit=rate_limit, now=now
        )
    else:
        sandbox = start_synthetic_sandbox(
            Path(data_dir), *spec.synthetic, seed=spec.seed, mode_rate_limit=rate_limit,
            latency_ms=latency_ms, now=now,
        )  # fmt: skip
    conn.send(sandbox.env())
    try:
        while True:
            command = conn.recv()
            if command[0] == "stop":
                break
            share, edit_seed = command[1], command[2]
            emulator: Any = sandbox["mode"].emulator
            if spec.synthetic is None:
                reports = [r["token"] for r in emulator.document["reports"] if not r["archived"]]
                chosen = reports[: max(1, round(share * len(reports)))]
                emulator.edit_reports(chosen)
                conn.send(len(chosen))
            else:
                # The same arguments give the same platform: regenerate it to know what to edit.
                anchor = datetime.combine(now.date(), datetime.min.time(), tzinfo=UTC)
                platform = synthetic_platform(*spec.synthetic, seed=spec.seed, now=anchor)
                conn.send(apply_changes(emulator.document, mutate(platform, share, seed=edit_seed)))
    finally:
        sandbox.stop()
        conn.send("stopped")


@contextlib.contextmanager
def sandbox_process(
    spec: PlatformSpec, data_dir: Path, now: datetime, rate: float, latency_ms: int
) -> Iterator[tuple[dict[str, str], Connection, int]]:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=_serve_sandbox, args=(child, spec, str(data_dir), now, rate, latency_ms), daemon=True
    )
    process.start()
    try:
        if not parent.poll(600):
            raise RuntimeError("the sandbox did not start within 10 minutes")
        yield parent.recv(), parent, process.pid or 0
    finally:
        with contextlib.suppress(BrokenPipeError, EOFError, OSError):
            parent.send(("stop",))
            parent.poll(30) and parent.recv()
        process.join(30)
        if process.is_alive():
            process.terminate()


# -- memory --------------------------------------------------------------------------------------------


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(p) for p in handle.read().split()]
    return found


class MemorySampler:
    """RSS of this process and its descendants (except `exclude`'s tree), sampled in a thread."""

    def __init__(self, exclude: int = 0, interval: float = SAMPLE_INTERVAL_S):
        self.exclude = exclude
        self.interval = interval
        self.samples: list[tuple[float, int, int]] = []  # (time.time(), own RSS, descendants' RSS)
        self.loads: list[tuple[float, float]] = []  # (time.time(), 1-minute load average)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = os.getpid()
        while True:
            pending, descendants = [p for p in _children(me) if p != self.exclude], 0
            while pending:
                pid = pending.pop()
                descendants += _rss(pid)
                pending += _children(pid)
            now = time.time()
            self.samples.append((now, _rss(me), descendants))
            self.loads.append((now, os.getloadavg()[0]))
            if self._stop.wait(self.interval):
                return

    def load(self, start: float, end: float) -> float:
        """The mean 1-minute load average between two moments: other work on the machine shows here."""
        inside = [load for moment, load in self.loads if start <= moment <= end]
        return sum(inside) / len(inside) if inside else 0.0

    def peak(self, start: float = 0.0, end: float = float("inf")) -> tuple[int, int]:
        """(highest own + descendants RSS, highest own RSS) between two time.time() moments."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if not inside:  # a step shorter than the sampling interval: the nearest sample before it
            inside = [max((s for s in self.samples if s[0] <= start), default=(0.0, 0, 0))]
        return max(own + kids for _, own, kids in inside), max(own for _, own, _ in inside)


@contextlib.contextmanager
def _stderr_to(path: Path | None) -> Iterator[None]:
    """Send file descriptor 2 (papermill's progress bars, the kernel's warnings) to `path` meanwhile."""
    if path is None:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with path.open("a") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


# -- one run -------------------------------------------------------------------------------------------


@dataclass
class StepTiming:
    key: str
    start: float
    end: float

    @property
    def stage(self) -> str:
        return self.key.split(".", 1)[0].split("[", 1)[0]

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class RunFigures:
    label: str
    success: bool
    wall: float
    steps: list[StepTiming]
    peak_total: int
    peak_own: int
    stage_peaks: dict[str, int]
    load: float
    outputs: dict[str, Any] = field(default_factory=dict)  # what the baselines need

    def stage_seconds(self) -> dict[str, float]:
        totals = dict.fromkeys(STAGES, 0.0)
        for step in self.steps:
            totals[step.stage] = totals.get(step.stage, 0.0) + step.seconds
        return totals


def _step_timings(instance: Any, run_id: str) -> list[StepTiming]:
    from dagster import DagsterEventType

    starts: dict[str, float] = {}
    steps = []
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or record.step_key is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            starts[record.step_key] = record.timestamp
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            begun = starts.pop(record.step_key, record.timestamp)
            steps.append(StepTiming(record.step_key, begun, record.timestamp))
    return steps


def run_job(
    label: str,
    as_of: datetime,
    rate: float,
    sampler: MemorySampler,
    *,
    profile: Path | None,
    stderr: Path | None,
) -> RunFigures:
    """One run of the job in this process; its timings from the event log, its memory from `sampler`."""
    from dagster import DagsterInstance, execute_job, reconstructable

    from metapipeline.definitions import metapipeline_job

    run_config: dict[str, Any] = {
        "execution": {"config": {"in_process": {}}},
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        "resources": {
            "clock": {"config": {"as_of": as_of.isoformat()}},
            "mode": {  # as fast as the emulator allows (the default, 4/s, is Mode's own limit)
                "config": {
                    "requests_per_second": rate,
                    **{key: {"env": f"MODE_{key.upper()}"} for key in ("workspace", "token", "secret")},
                }
            },
        },
    }
    instance = DagsterInstance.get()
    profiler = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
    gc.collect()
    began = time.time()
    started = time.monotonic()
    outputs: dict[str, Any] = {}
    if profiler is not None:
        profiler.enable()
    try:
        with (
            _stderr_to(stderr),
            execute_job(
                reconstructable(metapipeline_job), instance=instance, run_config=run_config
            ) as result,
        ):
            wall = time.monotonic() - started
            success = result.success
            run_id = result.run_id
            if success:
                snapshot = result.output_for_node("mode", "snapshot")
                outputs["requests"] = snapshot.requests_sent
                outputs["queries"] = sum(len(r.queries) for r in snapshot.reports)
                outputs["items"] = _lineage_inputs(snapshot)
                outputs["report_token"] = next((r.token for r in snapshot.reports if r.queries), None)
                joined = result.output_for_node("platform", "platform")
                outputs["graph"] = (joined.number_of_nodes(), joined.number_of_edges())
                del joined, snapshot
            else:
                for event in result.all_events:
                    if event.is_failure:
                        print(f"  FAILED {event.step_key}: {event.message}", flush=True)
                if stderr is not None:
                    print(f"  the run's stderr: {stderr} (kept with --keep; or rerun with --verbose)")
    finally:
        if profiler is not None and profile is not None:
            profiler.disable()
            profile.parent.mkdir(parents=True, exist_ok=True)
            profiler.dump_stats(str(profile))
            print(f"  profile written to {profile}")
    ended = time.time()
    steps = _step_timings(instance, run_id)
    peak_total, peak_own = sampler.peak(began, ended)
    stage_peaks: dict[str, int] = {}
    for step in steps:
        total, _ = sampler.peak(step.start, step.end)
        stage_peaks[step.stage] = max(stage_peaks.get(step.stage, 0), total)
    load = sampler.load(began, ended)
    return RunFigures(label, success, wall, steps, peak_total, peak_own, stage_peaks, load, outputs)


def _lineage_inputs(snapshot: Any) -> list[Any]:
    from metapipeline.lineage.workspace import workspace_items

    items = workspace_items(snapshot)
    step = max(1, len(items) // 1000)
    return [item.input for item in items[::step]]


# -- baselines -----------------------------------------------------------------------------------------


@dataclass
class Baselines:
    """Naive figures of the stage benchmarks, projected to this platform (seconds; None: not measured)."""

    mode_bound: float | None = None  # requests / rate: no client can beat it
    mode_sequential: float | None = None  # one worker, requests x its measured round trip
    lineage_plain: float | None = None  # plain sqlglot, one core, no cache
    lineage_sqllineage: float | None = None  # sqllineage, one core, no cache
    centrality_networkx: float | None = None  # networkx's six functions, c·n·m fitted
    notes: list[str] = field(default_factory=list)


def measure_baselines(env: dict[str, str], cold: RunFigures, rate: float) -> Baselines:
    baselines = Baselines()
    requests = cold.outputs.get("requests")
    if requests:
        baselines.mode_bound = requests / rate
        token = cold.outputs.get("report_token")
        if token:
            per_request = _sequential_round_trip(env, token, rate)
            baselines.mode_sequential = requests * per_request
            baselines.notes.append(
                f"mode: {requests:,} requests; one worker takes {per_request * 1000:.1f} ms a request "
                f"(measured, 100 requests) -> {_secs(baselines.mode_sequential)}; bound {_secs(baselines.mode_bound)}"
            )
    inputs = cold.outputs.get("items") or []
    if inputs:
        rendered = _rendered(inputs)
        total = cold.outputs["queries"]
        rate_qps = _plain_sqlglot_rate(rendered)
        baselines.lineage_plain = total / rate_qps
        baselines.notes.append(
            f"lineage: plain sqlglot parse_one + find_all(Table), one core: {rate_qps:.0f} queries/s "
            f"(on {len(rendered)} of the rendered queries) -> {_secs(baselines.lineage_plain)} for {total:,}"
        )
        sample = rendered[:: max(1, len(rendered) // 20)][:20]
        slow_qps = _sqllineage_rate(sample)
        if slow_qps:
            baselines.lineage_sqllineage = total / slow_qps
            baselines.notes.append(
                f"lineage: sqllineage LineageRunner.source_tables, one core: {slow_qps:.1f} queries/s "
                f"(on {len(sample)} of them) -> {_secs(baselines.lineage_sqllineage)} for {total:,}"
            )
    graph = cold.outputs.get("graph")
    if graph:
        per_unit = _networkx_fit()
        nodes, edges = graph
        baselines.centrality_networkx = per_unit * nodes * edges
        baselines.notes.append(
            f"platform: networkx's centrality table fitted as t = {per_unit:.3g}·n·m at 500-2,000 nodes, "
            f"extrapolated to {nodes:,} nodes and {edges:,} edges -> {_secs(baselines.centrality_networkx)}"
        )
    return baselines


def _sequential_round_trip(env: dict[str, str], report_token: str, rate: float, count: int = 100) -> float:
    from metapipeline.mode.client import ModeClient

    client = ModeClient(
        env["MODE_HOST"], env["MODE_WORKSPACE"], env["MODE_TOKEN"], env["MODE_SECRET"],
        requests_per_second=rate,
    )  # fmt: skip
    path = client.workspace_path("reports", report_token, "queries")
    client.list_embedded(path, "queries")  # connect
    started = time.perf_counter()
    for _ in range(count):
        client.list_embedded(path, "queries")
    return (time.perf_counter() - started) / count


def _rendered(inputs: list[Any]) -> list[tuple[str, str]]:
    """(rendered SQL, sqlglot dialect) of the queries whose templates render."""
    from metapipeline.lineage.dialects import dialect_for_adapter
    from metapipeline.lineage.templates import TemplateError, render

    rendered = []
    for q in inputs:
        with contextlib.suppress(TemplateError):
            rendered.append((render(q.raw_sql, q.definitions), dialect_for_adapter(q.adapter)))
    return rendered


def _plain_sqlglot_rate(rendered: list[tuple[str, str]]) -> float:
    """Queries per CPU-second over three passes (as the lineage benchmark measures it)."""
    from benchmarks.lineage import _cpu_rates, _plain_sqlglot

    over_all_passes, _best_pass = _cpu_rates({"plain": (lambda: _plain_sqlglot(rendered), len(rendered))}, 3)[
        "plain"
    ]
    return over_all_passes


def _sqllineage_rate(rendered: list[tuple[str, str]]) -> float | None:
    """Queries per second of sqllineage (a dev dependency: None without it)."""
    try:
        from benchmarks.lineage import _sqllineage
    except ImportError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        try:
            _sqllineage(rendered)
        except ImportError:
            return None
        return len(rendered) / (time.perf_counter() - started)


_NETWORKX_FIT: list[float] = []


def _networkx_fit() -> float:
    """Seconds per n·m of networkx's centrality table (the centrality benchmark's --quick sizes)."""
    if not _NETWORKX_FIT:
        from benchmarks.centrality import generate_platform, networkx_table

        points = []
        for size in (500, 1000, 2000):
            sample = generate_platform(size // 4, size - size // 4, seed=3)
            started = time.perf_counter()
            networkx_table(sample)
            points.append(
                (sample.number_of_nodes() * sample.number_of_edges(), time.perf_counter() - started)
            )
        _NETWORKX_FIT.append(sum(w * t for w, t in points) / sum(w * w for w, _ in points))
    return _NETWORKX_FIT[0]


# -- printing ------------------------------------------------------------------------------------------


def _gb(size: int) -> str:
    return f"{size / 1024**3:5.2f} GB"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _secs(seconds: float) -> str:
    return f"{seconds:,.1f} s" if seconds < 100 else f"{seconds:,.0f} s"


def _baseline_text(stage: str, baselines: Baselines, cold: RunFigures | None) -> str:
    if stage == "mode" and baselines.mode_sequential is not None and baselines.mode_bound is not None:
        if cold is not None:  # a warm run: the naive client re-reads every report
            return f"re-read everything with one worker: {_secs(baselines.mode_sequential)} (projected)"
        return f"one-worker client: {_secs(baselines.mode_sequential)} (projected; bound {_secs(baselines.mode_bound)})"
    if stage == "lineage" and baselines.lineage_plain is not None:
        text = f"plain sqlglot, one core, no cache: {_secs(baselines.lineage_plain)} (projected)"
        if baselines.lineage_sqllineage is not None:
            text += f"; sqllineage {_secs(baselines.lineage_sqllineage)}"
        if cold is not None:
            text += f"; this platform's cold run: {_secs(cold.stage_seconds()['lineage'])}"
        return text
    if stage == "platform" and baselines.centrality_networkx is not None:
        return f"networkx centrality alone: {_secs(baselines.centrality_networkx)} (projected)"
    return ""


def print_run(run: RunFigures, baselines: Baselines, *, cold: RunFigures | None, targets: bool) -> None:
    kind = "warm" if cold is not None else "cold"
    print(
        f"\n{run.label}, {kind} run: {'succeeded' if run.success else 'FAILED'} "
        f"(machine load: 1-minute load average {run.load:.1f} on {len(os.sched_getaffinity(0))} cores, mean over the run)"
    )
    seconds = run.stage_seconds()
    counts: dict[str, int] = {}
    for step in run.steps:
        counts[step.stage] = counts.get(step.stage, 0) + 1
    print(
        f"  {'stage':<11}{'steps':>5} {'wall s':>8} {'share':>6} {'peak RSS':>10}   naive baseline (stage benchmarks)"
    )
    for stage, spent in seconds.items():
        peak = run.stage_peaks.get(stage, 0)
        share = spent / run.wall if run.wall else 0.0
        text = _baseline_text(stage, baselines, cold)
        print(f"  {stage:<11}{counts.get(stage, 0):>5} {spent:8.1f} {share:6.0%} {_gb(peak):>10}   {text}")
    between = run.wall - sum(seconds.values())
    print(
        f"  {'(outside)':<16} {between:8.1f} {between / run.wall:6.0%}              run start and end, between steps"
    )
    ok_wall = run.wall <= TARGET_COLD_SECONDS
    ok_peak = run.peak_total < TARGET_PEAK_BYTES
    tail = "" if targets else "   (the targets are for the large platform)"
    if cold is None:
        print(
            f"  total wall {run.wall:8.1f} s    target <= {TARGET_COLD_SECONDS:.0f} s: {_verdict(ok_wall)}{tail}"
        )
    else:
        share = run.wall / cold.wall
        print(
            f"  total wall {run.wall:8.1f} s = {share:.0%} of the cold run    target <= {TARGET_WARM_SHARE:.0%}: "
            f"{_verdict(share <= TARGET_WARM_SHARE)}{tail}"
        )
    print(
        f"  peak memory {_gb(run.peak_total)} (this process + descendants, sampled; this process alone "
        f"{_gb(run.peak_own).strip()})    target < {_gb(TARGET_PEAK_BYTES).strip()}: {_verdict(ok_peak)}{tail}"
    )
    slowest = sorted(run.steps, key=lambda s: s.seconds, reverse=True)[:6]
    print("  slowest steps: " + ", ".join(f"{s.key} {s.seconds:.1f} s" for s in slowest))


# -- a platform: cold, edit, warm -------------------------------------------------------------------------


def bench_platform(spec: PlatformSpec, args: argparse.Namespace, root: Path) -> tuple[RunFigures, RunFigures]:
    home = root / spec.slug / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    now = datetime.now(UTC).replace(microsecond=0)
    started = time.monotonic()
    with sandbox_process(spec, root / spec.slug / "sandbox", now, args.rate, args.latency_ms) as (
        env,
        conn,
        pid,
    ):
        print(f"\n== {spec.name}: sandbox ready in {time.monotonic() - started:.1f} s", flush=True)
        saved = dict(os.environ)
        os.environ.update(env)
        os.environ["DAGSTER_HOME"] = str(home)
        os.environ["METAPIPELINE_DATABASE_URL"] = f"sqlite:///{root / spec.slug / 'ledger.sqlite'}"
        try:
            if "DBT_RUN_RESULTS_DIR" in env:
                from metapipeline.orchestration.demo import load_run_history

                print(f"dbt run history: {load_run_history()} node runs loaded into the ledger")
            profile = args.profile
            stderr = None if args.verbose else root / f"{spec.slug}-stderr.log"
            with MemorySampler(exclude=pid) as sampler:
                cold = run_job(
                    spec.name, now, args.rate, sampler,
                    profile=profile / f"{spec.slug}-cold.prof" if profile else None, stderr=stderr,
                )  # fmt: skip
                baselines = measure_baselines(env, cold, args.rate) if cold.success else Baselines()
                print_run(cold, baselines, cold=None, targets=spec.synthetic is not None)
                conn.send(("edit", args.changed, 1))
                edited = conn.recv()
                print(f"\n{edited} reports edited ({args.changed:.0%}); the warm run's clock is a day later")
                warm = run_job(
                    spec.name, now + timedelta(days=1), args.rate, sampler,
                    profile=profile / f"{spec.slug}-warm.prof" if profile else None, stderr=stderr,
                )  # fmt: skip
                print_run(warm, baselines, cold=cold, targets=spec.synthetic is not None)
            for note in baselines.notes:
                print(f"  baseline {note}")
        finally:
            os.environ.clear()
            os.environ.update(saved)
    return cold, warm


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--reports", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s the Mode emulator allows")
    parser.add_argument("--latency-ms", type=int, default=5, help="added to every Mode answer")
    parser.add_argument(
        "--changed", type=float, default=0.01, help="share of reports edited before the warm run"
    )
    parser.add_argument("--skip-sample", action="store_true", help="only the large platform")
    parser.add_argument("--skip-large", action="store_true", help="only the sample")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of each run into this directory")
    parser.add_argument("--verbose", action="store_true", help="leave the runs' stderr on the terminal")
    parser.add_argument("--keep", action="store_true", help="keep the sandbox and DAGSTER_HOME directories")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")  # dagstermill's BetaWarnings and deprecations, not figures

    specs = []
    if not args.skip_sample:
        specs.append(PlatformSpec("sample (FreshCart)", "sample", None))
    if not args.skip_large:
        sizes = (args.models, args.reports, args.queries)
        name = f"synthetic {args.models:,} models, {args.reports:,} reports, {args.queries:,} queries"
        specs.append(PlatformSpec(name, "large", sizes, args.seed))
    cores = len(os.sched_getaffinity(0))
    print(
        f"{cores} cores; Mode emulator {args.rate:g} requests/s, {args.latency_ms} ms latency; "
        f"in-process executor; memory sampled every {SAMPLE_INTERVAL_S} s",
        flush=True,
    )
    root = Path(tempfile.mkdtemp(prefix="metapipeline-e2e-"))
    try:
        for spec in specs:
            bench_platform(spec, args, root)
    finally:
        self_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        children_max = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        print(
            f"\ngetrusage high-water marks over the whole benchmark: this process {_gb(self_max).strip()}, "
            f"largest waited-for child {_gb(children_max).strip()} (the sandbox process included)"
        )
        if args.keep:
            print(f"kept {root}")
        else:
            import shutil

            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
