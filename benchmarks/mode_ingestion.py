"""Ingestion of a generated Mode workspace through the emulator: cold, then warm.

The emulator allows `--rate` requests/s and adds `--latency-ms` to every answer. The bound is
requests / rate (no client can beat it); the sequential baseline is the same client with one
worker. Targets: a cold run within 1.15x of the bound; a warm re-run with 1% of the reports
edited sends at most 5% of the cold run's requests.
"""

from __future__ import annotations

import argparse
import time

from metapipeline.mode.snapshot import WorkspaceSnapshot, take_snapshot
from metapipeline.sandbox.faults import FaultSettings
from metapipeline.sandbox.harness import EmulatorServer
from metapipeline.sandbox.mode_emulator import ModeEmulator, mode_client
from metapipeline.sandbox.synthetic import synthetic_workspace
from metapipeline.store.ledger import CachedReport

TARGET_RATIO_TO_BOUND = 1.15
TARGET_WARM_SHARE = 0.05


def _ingest(
    server: EmulatorServer, rate: float, workers: int, cached: dict[str, CachedReport] | None = None
) -> tuple[WorkspaceSnapshot, float, int]:
    client = mode_client(server, requests_per_second=rate)
    started = time.monotonic()
    snapshot = take_snapshot(client, max_workers=workers, cached=cached, progress=lambda _: None)
    return snapshot, time.monotonic() - started, client.requests_sent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reports", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second the emulator allows")
    parser.add_argument("--latency-ms", type=int, default=25)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--skip-sequential", action="store_true", help="skip the slow one-worker baseline")
    args = parser.parse_args(argv)

    document = synthetic_workspace(args.reports, seed=1)
    emulator = ModeEmulator(document, rate_limit=(int(args.rate), 1.0))
    server = EmulatorServer(emulator, FaultSettings(latency_ms=args.latency_ms))
    server.start()
    try:
        print(
            f"workspace: {args.reports} reports, {sum(len(r['queries']) for r in document['reports'])} queries"
        )
        print(f"emulator: {args.rate:g} requests/s allowed, {args.latency_ms} ms latency", flush=True)
        snapshot, wall, sent = _ingest(server, args.rate, args.workers)
        bound = sent / args.rate
        ratio = wall / bound
        verdict = "meets" if ratio <= TARGET_RATIO_TO_BOUND else "MISSES"
        print(
            f"concurrent ({args.workers} workers): {wall:7.1f} s for {sent} requests ({sent / wall:5.1f}/s)"
        )
        print(
            f"bound (requests / rate):       {bound:7.1f} s  -> {ratio:.2f}x the bound, {verdict} {TARGET_RATIO_TO_BOUND}x"
        )
        print(f"snapshot complete: {snapshot.complete}; counts: {snapshot.counts()}")
        print(f"emulator saw: {server.stats()}")

        edited = [r["token"] for r in document["reports"][:: max(1, 100)]]  # 1% of the reports
        emulator.edit_reports(edited)
        cache = {entry.token: entry for entry in snapshot.cache_entries()}
        warm, warm_wall, warm_sent = _ingest(server, args.rate, args.workers, cache)
        share = warm_sent / sent
        verdict = "meets" if share <= TARGET_WARM_SHARE else "MISSES"
        print(
            f"warm re-run ({len(edited)} reports edited): {warm_wall:5.1f} s, {warm_sent} requests = {share:.1%} "
            f"of the cold run, {verdict} {TARGET_WARM_SHARE:.0%}; {warm.reports_reused} reports reused"
        )
        assert warm.counts()["queries"] == snapshot.counts()["queries"], "the warm snapshot lost queries"
        if not args.skip_sequential:
            server.reset_stats()
            _, sequential_wall, _ = _ingest(server, args.rate, 1)
            print(
                f"sequential (1 worker):         {sequential_wall:7.1f} s  -> concurrent is {sequential_wall / wall:.1f}x faster"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
