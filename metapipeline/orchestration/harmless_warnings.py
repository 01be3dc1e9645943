"""Warnings the libraries of the notebook op give that say nothing about the run, filtered where
people read output: the demo's terminal and the executed notebook (whose outputs are the report).
A deployment's op processes keep them in their logs."""

from __future__ import annotations

import re
import warnings

from dagster import BetaWarning

# Each: the start of the message, and its category.
#  - dagstermill as a whole is beta: importing it, defining and running its op, its IO manager
#    and the context it builds in the notebook's kernel each say so, once per process.
#  - Dagster's job context ends by running `loop.shutdown_asyncgens()` on a fresh event loop; in
#    the kernel (dagstermill rebuilds the context there) a loop is already running, so that call
#    raises before it awaits the coroutine Dagster just made, which then warns when collected
#    (dagster/_core/execution/context_creation_job.py, the `finally` of its context manager).
#  - dagstermill's output-notebook IO manager still calls a method Dagster deprecated.
_DAGSTERMILL_BETA = [
    ("Class", "Manager"),
    ("Class", "DagstermillExecutionContext"),
    ("Class", "ConfigurableLocalOutputNotebookIOManager"),
    ("Function", "define_dagstermill_op"),
    ("Function", "execute_notebook"),
    ("Function", "get_papermill_parameters"),
    ("Function", "replace_parameters"),
]
HARMLESS_WARNINGS: tuple[tuple[str, type[Warning]], ...] = (
    *((f"{kind} `{name}` is currently in beta", BetaWarning) for kind, name in _DAGSTERMILL_BETA),
    ("coroutine 'BaseEventLoop.shutdown_asyncgens' was never awaited", RuntimeWarning),
    ("`OutputContext.get_run_scoped_output_identifier` is deprecated", UserWarning),
)


def ignore_harmless_warnings() -> None:
    """Filter HARMLESS_WARNINGS in this process (the notebook's kernel calls it first thing)."""
    for message, category in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(message), category=category)
