"""`python -m benchmarks [name ...] [options]`: run every benchmark (or the named ones) and print their figures.

Options after the names go to the benchmark, so they need exactly one name, e.g.
`python -m benchmarks end_to_end --models 2000 --reports 4000 --queries 12000`.
"""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS = (
    "mode_ingestion",
    "lineage",
    "centrality",
    "mesh_plan",
    "warehouse_usage",
    "ui_launch",
    "end_to_end",
    "asset_load",
    "removal_plan",
)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,  # `-h` after one name is that benchmark's help
    )
    parser.add_argument("-h", "--help", action="store_true", help="this help, or a named benchmark's")
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})"
    )
    args, options = parser.parse_known_args()
    if args.help:
        if len(args.names) != 1:
            parser.print_help()
            return
        options = ["--help", *options]
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    if options and len(args.names) != 1:
        parser.error(f"options {' '.join(options)} need exactly one benchmark name before them")
    for name in args.names or BENCHMARKS:
        print(f"== {name}", flush=True)
        importlib.import_module(f"benchmarks.{name}").main(options)


if __name__ == "__main__":
    main()
