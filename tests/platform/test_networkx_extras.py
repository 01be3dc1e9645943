"""A user's networkx works on the exported platform graph: `networkx[default]` brings scipy, numpy,
pandas and matplotlib, so `nx.pagerank` (scipy underneath) runs instead of raising ModuleNotFoundError."""

from __future__ import annotations

import json

import networkx as nx
import pytest

from metapipeline.platform.export import write_graph


def test_pagerank_runs_on_the_exported_platform_graph(graph, tmp_path):
    paths = write_graph(graph, tmp_path / "platform")
    from_graphml = nx.read_graphml(paths["graphml"])
    from_json = nx.node_link_graph(json.loads(paths["json"].read_text()), edges="links")
    ranks = [nx.pagerank(from_graphml), nx.pagerank(from_json)]
    for rank in ranks:
        assert set(rank) == set(graph)
        assert sum(rank.values()) == pytest.approx(1.0)
        assert all(value > 0 for value in rank.values())
    assert ranks[0] == pytest.approx(ranks[1])
