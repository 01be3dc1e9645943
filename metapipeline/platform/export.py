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
    write_graphml(graph, paths["graphml"])
    # dumps, not dump: only the one-shot encoder is the C one (4x faster on 100,000 nodes).
    text = json.dumps(nx.node_link_data(graph, edges="links"), default=str, sort_keys=True)
    paths["json"].write_text(text)
    nodes_frame(graph).to_csv(paths["nodes"])
    return paths


_GRAPHML_HEADER = (
    "<?xml version='1.0' encoding='utf-8'?>\n"
    '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
    'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n'
)
# networkx's names for the Python types (bool before int: a bool is an int).
_GRAPHML_TYPES = ((bool, "boolean"), (int, "long"), (float, "double"), (str, "string"))
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ATTRIBUTE_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#09;"}
)


def write_graphml(graph: nx.DiGraph, path: Path) -> None:
    """The graph as GraphML, the way `nx.write_graphml` writes it (`nx.read_graphml` reads back the
    same nodes, edges and attributes), in a fraction of the time: no element tree is built.

    GraphML holds only scalars: None is left out, tuples and dicts become JSON text. As in networkx,
    a key is one attribute name of one type (str, int, float, bool) on nodes, edges or the graph."""
    keys: dict[tuple[str, str, str], str] = {}

    def data(scope: str, attrs: dict[str, Any]) -> str:
        parts = []
        for name, value in _scalars(attrs).items():
            xml_type = next(t for kind, t in _GRAPHML_TYPES if isinstance(value, kind))
            key = keys.setdefault((scope, str(name), xml_type), f"d{len(keys)}")
            parts.append(f'<data key="{key}">{str(value).translate(_TEXT_ESCAPES)}</data>')
        return "".join(parts)

    body = [f'  <graph edgedefault="{"directed" if graph.is_directed() else "undirected"}">']
    if graph.graph:
        body.append(f"    {data('graph', graph.graph)}")
    for node, attrs in graph.nodes(data=True):
        body.append(f'    <node id="{_attribute(node)}">{data("node", attrs)}</node>')
    for u, v, attrs in graph.edges(data=True):
        body.append(
            f'    <edge source="{_attribute(u)}" target="{_attribute(v)}">{data("edge", attrs)}</edge>'
        )
    body.append("  </graph>\n</graphml>\n")
    declarations = [
        f'  <key id="{key}" for="{scope}" attr.name="{_attribute(name)}" attr.type="{xml_type}" />'
        for (scope, name, xml_type), key in keys.items()
    ]
    with path.open("w", encoding="utf-8") as out:
        out.write(_GRAPHML_HEADER)
        out.write("\n".join([*declarations, *body]))


def _attribute(value: Any) -> str:
    return str(value).translate(_ATTRIBUTE_ESCAPES)


def _scalars(attrs: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value if isinstance(value, str | int | float | bool) else json.dumps(value, default=str)
        for key, value in attrs.items()
        if value is not None
    }
