"""The platform graph's files: GraphML that networkx reads back as it reads its own, JSON, CSV."""

from __future__ import annotations

import json

import networkx as nx
import pandas as pd

from metapipeline.platform.export import _scalars, write_graph, write_graphml


def _tricky() -> nx.DiGraph:
    graph = nx.DiGraph(name="platform & co")
    graph.add_node("model.shop.a<b>", kind="model", name='say "hi" & <bye>\nnext\tline', tags=("keep", "x"))
    graph.add_node("mode.report.r1", kind="mode_report", archived=False, view_count=3, score=0.25, owner=None)
    graph.add_node("mode.query.q1", kind="mode_query", meta={"owner": "ana"}, archived=True, name="")
    graph.add_node("lonely")
    graph.add_edge("model.shop.a<b>", "mode.query.q1", how="parsed")
    graph.add_edge("mode.query.q1", "mode.report.r1", how="mode", weight=2)
    graph.add_edge("mode.report.r1", "lonely")
    return graph


def _networkx_way(graph: nx.DiGraph) -> nx.DiGraph:
    """What the writer promises: networkx's own writer over the same scalar attributes."""
    safe = nx.DiGraph(**_scalars(graph.graph))
    safe.add_nodes_from((node, _scalars(attrs)) for node, attrs in graph.nodes(data=True))
    safe.add_edges_from((u, v, _scalars(attrs)) for u, v, attrs in graph.edges(data=True))
    return safe


def test_graphml_reads_back_as_networkx_own_writer_does(tmp_path):
    graph = _tricky()
    write_graphml(graph, tmp_path / "fast.graphml")
    nx.write_graphml(_networkx_way(graph), tmp_path / "networkx.graphml")
    ours, theirs = nx.read_graphml(tmp_path / "fast.graphml"), nx.read_graphml(tmp_path / "networkx.graphml")
    assert dict(ours.nodes(data=True)) == dict(theirs.nodes(data=True))
    assert list(ours.edges(data=True)) == list(theirs.edges(data=True))
    assert ours.graph == theirs.graph
    assert ours.nodes["mode.report.r1"] == {
        "kind": "mode_report",
        "archived": False,
        "view_count": 3,
        "score": 0.25,
    }
    assert json.loads(ours.nodes["model.shop.a<b>"]["tags"]) == ["keep", "x"]
    assert ours.nodes["model.shop.a<b>"]["name"] == 'say "hi" & <bye>\nnext\tline'


def test_write_graph_writes_graphml_node_link_json_and_a_nodes_table(tmp_path):
    paths = write_graph(_tricky(), tmp_path / "out")
    assert nx.read_graphml(paths["graphml"]).number_of_edges() == 3
    linked = nx.node_link_graph(json.loads(paths["json"].read_text()), edges="links")
    assert set(linked) == set(_tricky()) and linked.number_of_edges() == 3
    nodes = pd.read_csv(paths["nodes"], index_col="node")
    assert nodes.loc["mode.query.q1", "upstream"] == 1 and nodes.loc["mode.query.q1", "downstream"] == 1
