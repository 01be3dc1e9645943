"""The platform graph written out for people and other tools: GraphML, node-link JSON, a nodes table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd


def nodes_frame(graph: nx.DiGraph) -> pd.DataFrame:
    """One row per node (index: node id) with its attributes and degrees."""
    frame = pd.DataFrame.from_dict(dict(graph.nodes(data=True)), orient="index")
    frame.index.name = "node"
    frame["upstream"] = pd.Series(dict(graph.in_degree()))
    frame["downstream"] = pd.Series(dict(graph.out_degree()))
    return frame.sort_index()


def write_graph(graph: nx.DiGraph, directory: Path) -> dict[str, Path]:
    """`platform.graphml`, `platform.json` (node-link) and `nodes.csv` in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "graphml": directory / "platform.graphml",
        "json": directory / "platform.json",
        "nodes": directory / "nodes.csv",
    }
    nx.write_graphml(_graphml_safe(graph), paths["graphml"])
    with paths["json"].open("w") as out:
        json.dump(nx.node_link_data(graph, edges="links"), out, default=str, sort_keys=True)
    nodes_frame(graph).to_csv(paths["nodes"])
    return paths


def _graphml_safe(graph: nx.DiGraph) -> nx.DiGraph:
    """GraphML holds only scalars: None is left out, tuples and dicts become JSON text."""
    safe = nx.DiGraph()
    safe.add_nodes_from((node, _scalars(attrs)) for node, attrs in graph.nodes(data=True))
    safe.add_edges_from((u, v, _scalars(attrs)) for u, v, attrs in graph.edges(data=True))
    return safe


def _scalars(attrs: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value if isinstance(value, str | int | float | bool) else json.dumps(value, default=str)
        for key, value in attrs.items()
        if value is not None
    }
