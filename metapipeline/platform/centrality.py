"""Centrality of the platform graph, and which models to optimise first.

`centrality_table` gives every node networkx's degree, in-degree, out-degree, closeness,
betweenness and PageRank, with networkx's definitions and normalisation, plus a composite
`importance`. The graph stays a networkx `DiGraph`; the O(V·E) measures (betweenness,
closeness) run in igraph (C) and PageRank is a numpy power iteration run to a much tighter
tolerance than networkx's default, so the numbers agree with networkx's own functions to 1e-9
(the tests check it) at a fraction of the cost. igraph, unlike rustworkx, only touches the nodes
a source reaches: on a platform of 94k nodes, most of which reach nothing beyond their own
report, betweenness takes 0.1 s there against 4 s in rustworkx.

`optimisation_priority` weighs each model's importance by its recent run time.
`betweenness_centrality` is a drop-in for `nx.betweenness_centrality(graph)` on its own.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np
import numpy.typing as npt
import pandas as pd

if TYPE_CHECKING:
    import igraph

MEASURES = ("degree", "in_degree", "out_degree", "closeness", "betweenness", "pagerank")

# Weights of the importance composite (see `centrality_table`). They sum to 1.
IMPORTANCE_WEIGHTS: Mapping[str, float] = {
    "betweenness": 0.30,
    "out_degree": 0.20,
    "pagerank": 0.20,
    "degree": 0.10,
    "in_degree": 0.10,
    "closeness": 0.10,
}

PAGERANK_ALPHA = 0.85
# networkx stops at an L1 change below n·1e-6, which leaves errors near 1e-6; the tables promise
# networkx's numbers to 1e-9, so iterate until the L1 change is below this (absolute) bound. The
# iteration contracts by alpha, so the remaining error is below 1e-13·alpha/(1-alpha) < 1e-12.
PAGERANK_TOLERANCE = 1e-13
PAGERANK_MAX_ITER = 1000

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


def centrality_table(graph: nx.DiGraph) -> pd.DataFrame:
    """One row per node (index: node id), sorted by `importance`, highest first.

    Columns, each as the networkx function with its default arguments computes it:

    - `kind`, `name`, `owner`: the node's attributes (None when missing).
    - `degree`, `in_degree`, `out_degree`: `nx.degree_centrality` / `in_` / `out_`: the degree
      divided by n - 1 (1.0 on a one-node graph, as networkx does).
    - `closeness`: `nx.closeness_centrality`: on a DiGraph it uses *incoming* distances (how
      near the node is to everything upstream of it), Wasserman-Faust improved (`wf_improved`),
      so nodes reached from few others score low; 0 for a node nothing reaches.
    - `betweenness`: `nx.betweenness_centrality`, directed, normalised by (n-1)(n-2).
    - `pagerank`: `nx.pagerank` with alpha 0.85, uniform teleport and dangling redistribution,
      edge attribute `weight` (default 1); converged far past networkx's tolerance.

    `importance` is a weighted mean of the measures' percentile ranks (`IMPORTANCE_WEIGHTS`):
    betweenness 0.30, out-degree 0.20, PageRank 0.20, degree, in-degree and closeness 0.10 each.
    Ranks, not raw values, because the measures live on different scales and are heavy-tailed
    (one hub's betweenness would drown everything else); tied nodes share their average rank, so
    a measure on which every node ties moves no one. Edges follow the data, so out-degree and
    betweenness say how much depends on a node (its slowness or breakage reaches those
    consumers: 0.5 together), while PageRank, closeness and in-degree say how much of the
    platform flows into it (0.4); degree (0.1) counts both. The score lies in (0, 1].
    """
    nodes, sources, targets, weights = _edge_arrays(graph)
    n = len(nodes)
    in_degree = np.bincount(targets, minlength=n) / max(n - 1, 1)
    out_degree = np.bincount(sources, minlength=n) / max(n - 1, 1)
    degree = in_degree + out_degree
    if n == 1:  # networkx's convention: a lone node has every degree centrality 1
        degree = in_degree = out_degree = np.ones(1)
    fast = _igraph(n, sources, targets)
    table = pd.DataFrame(
        {
            "kind": [graph.nodes[node].get("kind") for node in nodes],
            "name": [graph.nodes[node].get("name") for node in nodes],
            "owner": [graph.nodes[node].get("owner") for node in nodes],
            "degree": degree,
            "in_degree": in_degree,
            "out_degree": out_degree,
            "closeness": _closeness(fast),
            "betweenness": _betweenness(fast),
            "pagerank": _pagerank(n, sources, targets, weights),
        },
        index=pd.Index(nodes, name="node", dtype=object),
    )
    table["importance"] = _importance(table)
    return table.sort_values("importance", ascending=False, kind="stable")


def optimisation_priority(table: pd.DataFrame, run_seconds: Mapping[str, float]) -> pd.DataFrame:
    """The models of `table` (a `centrality_table`) with `recent_run_seconds` and `priority`,
    highest priority first.

    `run_seconds` maps a model's unique id to its run time over the recent window the caller
    chose (e.g. the sum over the last week); a model without history gets 0 seconds. The rule:
    `priority = importance × recent_run_seconds`, i.e. the seconds an optimisation could save,
    counted more the more the platform leans on the model: halving a slow model that every mart
    reads beats halving an equally slow one nobody reads, and a model that costs nothing has
    nothing to save (priority 0). Ties keep the importance order.
    """
    models = table[table["kind"] == "model"].copy()
    models["recent_run_seconds"] = [float(run_seconds.get(node, 0.0)) for node in models.index]
    models["priority"] = models["importance"] * models["recent_run_seconds"]
    # The stable sort keeps `table`'s importance order among equal priorities.
    return models.sort_values("priority", ascending=False, kind="stable")


OPTIMISE_FIRST = 5  # models the daily report asks people to optimise


def optimise_first(
    priorities: pd.DataFrame, leave_out: Collection[str] = (), count: int = OPTIMISE_FIRST
) -> pd.DataFrame:
    """The `count` models of `priorities` (an `optimisation_priority` table) to optimise first:
    highest priority, with run time to save, and not in `leave_out` (the unique ids of models
    proposed for removal: removing beats optimising). The Slack list and the models the chart
    marks are both this table, so they cannot disagree."""
    kept = priorities[~priorities.index.isin(list(leave_out)) & (priorities["priority"] > 0)]
    return kept.sort_values("priority", ascending=False, kind="stable").head(count)


def importance_explained() -> str:
    """The composite in one line, from the weights themselves."""
    labels = {"out_degree": "out-degree", "in_degree": "in-degree", "pagerank": "PageRank"}
    parts = [f"{labels.get(m, m)} {w:.0%}" for m, w in IMPORTANCE_WEIGHTS.items()]
    return "importance: weighted mean of percentile ranks (1 = top on every measure): " + ", ".join(parts)


def betweenness_centrality(graph: nx.DiGraph) -> dict[Hashable, float]:
    """`nx.betweenness_centrality(graph)` (normalised, directed, unweighted), computed by igraph."""
    nodes, sources, targets, _ = _edge_arrays(graph)
    return dict(zip(nodes, _betweenness(_igraph(len(nodes), sources, targets)).tolist(), strict=True))


def _edge_arrays(graph: nx.DiGraph) -> tuple[list[Hashable], Ints, Ints, Floats]:
    """The nodes in graph order, and each edge as (source position, target position, weight)."""
    nodes = list(graph)
    index = {node: i for i, node in enumerate(nodes)}
    # A read known only through a parameter of unknown values (`how="ambiguous"`) keeps a model
    # from removal but is not evidence of importance.
    edges = [
        (u, v, w)
        for u, v, w in graph.edges(data="weight", default=1.0)
        if graph.edges[u, v].get("how") != "ambiguous"
    ]
    sources = np.fromiter((index[u] for u, _, _ in edges), dtype=np.int64, count=len(edges))
    targets = np.fromiter((index[v] for _, v, _ in edges), dtype=np.int64, count=len(edges))
    weights = np.fromiter((w for _, _, w in edges), dtype=np.float64, count=len(edges))
    return nodes, sources, targets, weights


def _igraph(n: int, sources: Ints, targets: Ints) -> igraph.Graph:
    """The same graph in igraph, whose vertex ids are our positions 0..n-1."""
    import igraph  # here, not at the top: it loads matplotlib (~1 s), which most processes never need

    return igraph.Graph(n=n, edges=np.column_stack((sources, targets)).tolist(), directed=True)


def _closeness(fast: igraph.Graph) -> Floats:
    """networkx's directed closeness: over the k nodes that reach a node, at total distance d,
    (k / d) · (k / (n - 1)) (Wasserman-Faust), and 0 when nothing reaches it."""
    n = fast.vcount()
    if n <= 1:
        return np.zeros(n)
    reached_from = np.array(fast.neighborhood_size(order=n, mode="in", mindist=1), dtype=np.float64)
    # Unnormalised, igraph gives 1 / d over the reachable nodes only (NaN when there are none).
    inverse_distance = np.nan_to_num(np.array(fast.closeness(mode="in", normalized=False), dtype=np.float64))
    return inverse_distance * reached_from * reached_from / (n - 1)


def _betweenness(fast: igraph.Graph) -> Floats:
    """Directed betweenness normalised by (n - 1)(n - 2), as networkx does (0 below 3 nodes)."""
    n = fast.vcount()
    raw = np.array(fast.betweenness(directed=True), dtype=np.float64)
    return raw / ((n - 1) * (n - 2)) if n > 2 else np.zeros(n)


def _pagerank(n: int, sources: Ints, targets: Ints, weights: Floats) -> Floats:
    """networkx's PageRank (its scipy formulation) by sparse power iteration with `bincount`:
    each node passes alpha of its rank along its out-edges in proportion to their weight; dangling
    nodes (no out-weight) spread theirs uniformly, as does the (1 - alpha) teleport."""
    if n == 0:
        return np.zeros(0)
    out_weight = np.bincount(sources, weights=weights, minlength=n)
    dangling = out_weight == 0
    # The share of a node's rank each of its edges carries; dangling nodes have no edges.
    edge_share = weights / np.where(dangling, 1.0, out_weight)[sources]
    rank = np.full(n, 1.0 / n)
    for _ in range(PAGERANK_MAX_ITER):
        spread = (PAGERANK_ALPHA * rank[dangling].sum() + 1.0 - PAGERANK_ALPHA) / n
        new = PAGERANK_ALPHA * np.bincount(targets, weights=rank[sources] * edge_share, minlength=n) + spread
        change = np.abs(new - rank).sum()
        rank = new
        if change < PAGERANK_TOLERANCE:
            return rank
    raise nx.PowerIterationFailedConvergence(PAGERANK_MAX_ITER)


def _importance(table: pd.DataFrame) -> pd.Series:
    """The weighted mean of percentile ranks documented in `centrality_table`."""
    ranks = table[list(IMPORTANCE_WEIGHTS)].rank(pct=True, method="average")
    return ranks.mul(pd.Series(IMPORTANCE_WEIGHTS)).sum(axis=1) / sum(IMPORTANCE_WEIGHTS.values())
