"""Editing YAML by deleting whole lines, so everything else in a file stays byte-identical.

A file is loaded as ruamel.yaml's round-trip containers (built from libyaml's node graph where it
can: `_composed`), entries are deleted by (container, key), and the text is rendered by cutting out
the lines the containers give for them (comments, order, quoting and blank lines stay). What stays
keeps what belongs to it: comments heading the next entry, the blank line separating sections, an
anchor a removed entry defined (moved with its node's text to the first kept alias). Only where
whole lines cannot be cut (a flow-style container like `[a, b]`, siblings sharing a line, an
anchored node that cannot move as lines) is the document re-emitted by ruamel's round-trip dumper.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import pickle
import re
import time
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import ruamel.yaml
import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    Event,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamStartEvent,
)
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.util import load_yaml_guess_indent

from metapipeline.actions.dbt_changes.changeset import RemovalError
from metapipeline.unpickling import collector_paused


class _GuessOnly:
    """Stands in for the loader `load_yaml_guess_indent` calls: its guess reads only the text, and
    loading there would parse the file a second time."""

    @staticmethod
    def load(_text: str) -> None:
        return None


def _guess_indent(text: str) -> tuple[int | None, int | None]:
    _, sequence_indent, offset = load_yaml_guess_indent(text, yaml=_GuessOnly())
    return sequence_indent, offset


def _round_trip_yaml(indent: tuple[int | None, int | None]) -> YAML:
    sequence_indent, offset = indent
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long descriptions
    offset = offset or 0
    yaml.indent(mapping=offset or 2, sequence=sequence_indent or 2, offset=offset)
    return yaml


# Anchor and alias names run to a space or a flow indicator. A `&` or `*` inside a string can look
# like one: then the file is dumped rather than cut, which is still correct.
_ANCHOR = re.compile(r"&([^\s,\[\]{}]+)")


def _alias(anchor: str) -> re.Pattern[str]:
    return re.compile(rf"\*{re.escape(anchor)}(?![^\s,\[\]{{}}])")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_comment_or_blank(line: str) -> bool:
    return not line.strip() or line.lstrip().startswith("#")


# (indentation guess, document, whether ruamel's round trip loaded it: else `_composed`, whose
# document has the same containers and positions but which `YamlFile._dump` cannot re-emit).
Parsed = tuple[tuple[int | None, int | None], Any, bool]


def _parse(text: str) -> Parsed:
    indentation = _guess_indent(text)  # can fail on odd text too: same error as a bad load
    composed = _composed(text)
    if composed is not None:
        return indentation, composed, False
    return indentation, _round_trip_yaml(indentation).load(text), True


# An explicit tag (`!!set`, `!ref`) or a directive (`%YAML 1.1`): their meaning is ruamel's to give.
_TAG = re.compile(r"(?:^|[\s\[{,])!|^%", re.MULTILINE)
_MERGE = "tag:yaml.org,2002:merge"
_STRING = "tag:yaml.org,2002:str"


def _composed(text: str) -> Any | None:
    """The document as ruamel's round trip loads it (CommentedMap and CommentedSeq, keys' and
    items' lines and columns, flow style, an alias the same object as its anchor) built from
    libyaml's node graph, about fifty times faster. Scalars are resolved as YAML 1.2, like ruamel
    (`yes` stays a string). None where ruamel must load it: explicit tags, merge keys (`<<`),
    duplicate or non-scalar keys, several documents, no libyaml."""
    loader_class = getattr(yaml, "CSafeLoader", None)
    if loader_class is None or _TAG.search(text):
        return None
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError:
        return None  # ruamel's load gives the error to report
    finally:
        loader.dispose()
    built: dict[int, Any] = {}  # id(node) -> object: an alias is the node it names

    def build(node: yaml.Node) -> Any:
        if id(node) in built:
            return built[id(node)]
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node)
        if isinstance(node, yaml.SequenceNode):
            seq = built[id(node)] = CommentedSeq()
            _place(seq, node)
            for index, item in enumerate(node.value):
                seq.append(build(item))
                seq.lc.add_kv_line_col(index, [item.start_mark.line, item.start_mark.column])
            return seq
        if not isinstance(node, yaml.MappingNode):
            raise _NeedsRoundTrip
        mapping = built[id(node)] = CommentedMap()
        _place(mapping, node)
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE:
                raise _NeedsRoundTrip
            key = _scalar(key_node)
            if key in mapping:
                raise _NeedsRoundTrip  # ruamel refuses duplicate keys
            mapping[key] = build(value_node)
            mapping.lc.add_kv_line_col(
                key,
                [
                    key_node.start_mark.line,
                    key_node.start_mark.column,
                    value_node.start_mark.line,
                    value_node.start_mark.column,
                ],
            )
        return mapping

    try:
        return None if root is None else build(root)
    except _NeedsRoundTrip:
        return None


class _NeedsRoundTrip(Exception):
    pass


def _place(container: CommentedMap | CommentedSeq, node: yaml.CollectionNode) -> None:
    container.lc.line, container.lc.col = node.start_mark.line, node.start_mark.column
    if not node.value:
        return  # ruamel leaves an empty collection's style unset
    if node.flow_style:
        container.fa.set_flow_style()
    else:
        container.fa.set_block_style()


_SAFE = YAML(typ="safe", pure=True)  # ruamel's YAML 1.2 resolution and scalar constructors


def _scalar(node: yaml.ScalarNode) -> Any:
    if node.style:  # quoted or a block scalar: always a string
        return node.value
    tag = str(_SAFE.resolver.resolve(ScalarNode, node.value, (True, False)))
    if tag == _STRING:
        return node.value
    constructor = _SAFE.constructor
    return constructor.yaml_constructors[tag](constructor, ScalarNode(tag, node.value))


class ParseCache:
    """Round-trip parses of YAML files, on local disk by the digest of their text.

    ruamel's round-trip loader is pure Python (about 250 KB/s: 9 s for the 2 MB of property files
    of a 10,000-model project; `_composed` spares most files it, not those with tags or merge
    keys) and most property files are the same from one day to the next; an unpickled parse takes
    a few milliseconds. Entries are pickles, so the directory must be one
    only this deployment writes (DAGSTER_HOME's storage), never a shared store. An entry that
    cannot be read is parsed again; one unused for `keep_days` is removed by `prune`.
    """

    FORMAT = 2  # bump when what `_parse` returns changes

    def __init__(self, directory: Path, keep_days: int = 30):
        self.directory = directory
        self.keep_days = keep_days
        self.hits = self.misses = self.unreadable = self.unsaved = 0

    def load(self, text: str) -> Parsed | None:
        path = self._path(text)
        try:
            payload = zlib.decompress(path.read_bytes())
            with collector_paused():
                parsed = pickle.loads(payload)
            os.utime(path)  # still in use: `prune` keeps it
        except FileNotFoundError:
            self.misses += 1
            return None
        except Exception:  # a torn or foreign file: parse again, and overwrite it
            self.unreadable += 1
            return None
        self.hits += 1
        return parsed

    def save(self, text: str, parsed: Parsed) -> None:
        path = self._path(text)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(zlib.compress(pickle.dumps(parsed, pickle.HIGHEST_PROTOCOL), 1))
            os.replace(partial, path)  # readers never see half a file
        except OSError:  # a full or read-only disk costs the next plan a parse, nothing more
            self.unsaved += 1
            partial.unlink(missing_ok=True)

    def prune(self) -> int:
        """Remove entries unused for `keep_days`; the number removed."""
        cutoff = time.time() - self.keep_days * 86400
        removed = 0
        for path in self.directory.glob("*.parse"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # another run pruned it first
                pass
        return removed

    def _path(self, text: str) -> Path:
        key = f"{self.FORMAT}\0{ruamel.yaml.__version__}\0{text}"
        return self.directory / f"{hashlib.sha256(key.encode()).hexdigest()}.parse"


class YamlFile:
    """A YAML file loaded round-trip, with deletions recorded and rendered at the end."""

    def __init__(self, path: str, text: str, cache: ParseCache | None = None):
        self.path = path
        self.text = text
        parsed = cache.load(text) if cache is not None else None
        if parsed is None:
            try:
                parsed = _parse(text)
            except Exception as error:  # ruamel raises many types; all mean "cannot edit this safely"
                raise RemovalError(f"{path} is not valid YAML: {error}") from error
            if cache is not None:
                cache.save(text, parsed)
        self.indentation, self.doc, self._round_trip = parsed
        self.lines = text.splitlines(keepends=True)
        self._deleted: list[tuple[CommentedMap | CommentedSeq, Any]] = []
        self._dumped: str | None = None  # a dump mutates the document: render once, edit no more
        self._rendered: str | None = None  # render() until the next delete()

    def is_deleted(self, container: CommentedMap | CommentedSeq, key: Any) -> bool:
        return any(c is container and k == key for c, k in self._deleted)

    def remaining(self, container: CommentedMap | CommentedSeq) -> list[Any]:
        keys = range(len(container)) if isinstance(container, CommentedSeq) else list(container)
        return [k for k in keys if not self.is_deleted(container, k)]

    def delete(self, container: CommentedMap | CommentedSeq, key: Any) -> None:
        if self._dumped is not None:
            raise RuntimeError(f"{self.path}: edited after it was rendered")
        if not self.is_deleted(container, key):
            self._deleted.append((container, key))
            self._rendered = None

    @property
    def changed(self) -> bool:
        return bool(self._deleted)

    @property
    def deleted_nodes(self) -> list[Any]:
        return [container[key] for container, key in self._deleted]

    def render(self) -> str:
        if self._rendered is None:
            self._rendered = self._render()
        return self._rendered

    def _render(self) -> str:
        if not self._deleted:
            return self.text
        if self._dumped is not None or any(self._needs_dump(c, k) for c, k in self._deleted):
            self._dumped = self._dumped if self._dumped is not None else self._dump()
            return self._dumped
        dropped: set[int] = set()
        for container, key in self._deleted:
            dropped.update(range(*self._line_range(container, key)))
        dropped |= self._doubled_separators(dropped)
        kept = "".join(line for number, line in enumerate(self.lines) if number not in dropped)
        kept += _block_scalar_end(self.lines, dropped)
        cut = "".join(self.lines[number] for number in sorted(dropped))
        if any(_alias(anchor).search(kept) for anchor in _ANCHOR.findall(cut)):
            moved = anchors_moved_to_their_first_kept_alias(self.lines, dropped)
            if moved is not None and self._loads_as_edited(moved):
                return moved + _block_scalar_end(self.lines, dropped)
            # An anchored node whose text cannot be moved (flow style, nested anchors): re-emitted,
            # ruamel expands or re-anchors the content where it is used.
            self._dumped = self._dump()
            return self._dumped
        return kept

    def _doubled_separators(self, dropped: set[int]) -> set[int]:
        """Blank lines above a cut that now meet the blank line (or the end of the file) below it:
        the separator of entries that are all gone goes with them."""
        extra: set[int] = set()
        for start, end in _runs(dropped):
            if end < len(self.lines) and self.lines[end].strip():
                continue
            above = start
            while above > 0 and not self.lines[above - 1].strip() and above - 1 not in dropped:
                above -= 1
            if above < start and not _ends_a_keeping_block_scalar(self.lines, above):
                extra.update(range(above, start))
        return extra

    def _loads_as_edited(self, text: str) -> bool:
        """Whether `text` loads to the document less the deleted entries (an edit of anchors by
        text is checked against the parse before it is trusted)."""
        try:
            loaded = yaml.load(text, Loader=_SafeLoader)
        except yaml.YAMLError:
            return False
        return bool(loaded == _without(self.doc, self._deleted))

    def _position(self, container: CommentedMap | CommentedSeq, key: Any) -> tuple[int, int]:
        return container.lc.item(key) if isinstance(container, CommentedSeq) else container.lc.key(key)

    def _needs_dump(self, container: CommentedMap | CommentedSeq, key: Any) -> bool:
        """Flow style, or siblings sharing a line: whole lines cannot be cut out."""
        if container.fa.flow_style():
            return True
        keys = list(range(len(container))) if isinstance(container, CommentedSeq) else list(container)
        lines = [self._position(container, k)[0] for k in keys]
        return len(set(lines)) != len(lines)

    def _line_range(self, container: CommentedMap | CommentedSeq, key: Any) -> tuple[int, int]:
        """Lines [start, end) holding one entry, with the comment lines directly above it."""
        line, column = self._position(container, key)
        is_seq = isinstance(container, CommentedSeq)
        text = self.lines[line]
        marker = text.rfind("-", 0, column) if is_seq else column
        marker = marker if marker >= 0 else column
        keys = list(range(len(container))) if is_seq else list(container)
        following = keys[keys.index(key) + 1 :]
        last = not following
        if following:
            end = self._position(container, following[0])[0]
        else:
            end = line + 1
            while end < len(self.lines):
                candidate = self.lines[end]
                if not _is_comment_or_blank(candidate):
                    depth = _indent(candidate)
                    inside = depth > marker or (
                        not is_seq and depth == marker and candidate.lstrip().startswith("- ")
                    )
                    if not inside:
                        break
                end += 1
        # Comments between this entry and the next describe the next one, or head a section over it
        # (`## Staging`, then a blank line): they stay, with the blank lines below them.
        trailing = end
        while trailing - 1 > line and (
            not self.lines[trailing - 1].strip()
            or (
                self.lines[trailing - 1].lstrip().startswith("#")
                and _indent(self.lines[trailing - 1]) <= marker
            )
        ):
            trailing -= 1
        if last:
            end = trailing  # what follows the last entry separates or heads what comes next: it stays
        elif any(self.lines[number].strip() for number in range(trailing, end)):
            end = trailing
            while not self.lines[end].strip():
                end += 1
        start = line
        while start > 0 and self.lines[start - 1].lstrip().startswith("#"):
            if _indent(self.lines[start - 1]) != marker:
                break
            start -= 1
        return start, end

    def _dump(self) -> str:
        doc, deleted = self.doc, self._deleted
        if not self._round_trip:  # ruamel's own document, with the same entries deleted
            doc = _round_trip_yaml(self.indentation).load(self.text)
            deleted = [(_at(doc, path), key) for path, key in _paths_of(self.doc, self._deleted)]
        # Deleting from the highest index keeps the other recorded indices valid.
        ordered = sorted(deleted, key=lambda ck: ck[1] if isinstance(ck[1], int) else 0, reverse=True)
        for container, key in ordered:
            del container[key]
        out = io.StringIO()
        _round_trip_yaml(self.indentation).dump(doc, out)
        return out.getvalue()


def _paths_of(doc: Any, deleted: list[tuple[Any, Any]]) -> list[tuple[tuple[Any, ...], Any]]:
    """Each deletion's container as the keys leading to it from the document's root."""
    paths: dict[int, tuple[Any, ...]] = {}
    pending: list[tuple[Any, tuple[Any, ...]]] = [(doc, ())]
    while pending:
        node, path = pending.pop()
        if id(node) in paths or not isinstance(node, CommentedMap | CommentedSeq):
            continue
        paths[id(node)] = path
        keys = range(len(node)) if isinstance(node, CommentedSeq) else node.keys()
        pending += [(node[key], (*path, key)) for key in keys]
    return [(paths[id(container)], key) for container, key in deleted]


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


# libyaml where PyYAML was built with it: the check of a moved anchor loads the whole file.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _runs(numbers: set[int]) -> Iterator[tuple[int, int]]:
    """Consecutive numbers as [start, end) ranges."""
    ordered = sorted(numbers)
    for position, number in enumerate(ordered):
        if position == 0 or ordered[position - 1] != number - 1:
            start = number
        if position == len(ordered) - 1 or ordered[position + 1] != number + 1:
            yield start, number + 1


_KEEPING_BLOCK_SCALAR = re.compile(r"[|>][1-9]?\+[1-9]?\s*(#.*)?$")


def _ends_a_keeping_block_scalar(lines: list[str], blank: int) -> bool:
    """Whether the blank lines from `blank` on are the end of a `|+` or `>+` scalar (its value)."""
    content = blank - 1
    while content >= 0 and not lines[content].strip():
        content -= 1
    if content < 0:
        return False
    header = content
    while header >= 0 and (not lines[header].strip() or _indent(lines[header]) >= _indent(lines[content])):
        header -= 1
    return header >= 0 and bool(_KEEPING_BLOCK_SCALAR.search(lines[header].rstrip()))


_BLOCK_SCALAR_HEADER = re.compile(r"(?:^|\s)[|>][1-9]?[+]?[1-9]?\s*(#.*)?$")  # `|`, `>+`, not `|-`
BLOCK_SCALAR_END = "# (this line ends the text above: dbt strips the line breaks that end a file)\n"


def _block_scalar_end(lines: list[str], dropped: set[int]) -> str:
    """A comment to close a block scalar the cut made the file's last value. dbt strips a file
    before loading it, so a description ending the file would lose its final line break; one that
    ended the file before the edit is left as it was."""
    kept = [number for number in range(len(lines)) if number not in dropped and lines[number].strip()]
    if not kept or not any(lines[number].strip() for number in range(kept[-1] + 1, len(lines))):
        return ""
    last = kept[-1]
    header = last - 1
    while header >= 0 and (
        header in dropped or not lines[header].strip() or _indent(lines[header]) >= _indent(lines[last])
    ):
        header -= 1
    if (
        header < 0
        or _is_comment_or_blank(lines[last])
        or not _BLOCK_SCALAR_HEADER.search(lines[header].rstrip())
    ):
        return ""
    return BLOCK_SCALAR_END


def _without(node: Any, deleted: list[tuple[Any, Any]]) -> Any:
    """A round-trip node as plain data (what a safe load gives), less the deleted entries."""
    if isinstance(node, Mapping):
        return {
            _without(k, deleted): _without(v, deleted)
            for k, v in node.items()
            if not any(c is node and key == k for c, key in deleted)
        }
    if isinstance(node, list):
        return [
            _without(item, deleted)
            for index, item in enumerate(node)
            if not any(c is node and key == index for c, key in deleted)
        ]
    return node


def _owner_column(line: str, column: int) -> int:
    """The column of the key or `-` that holds the node starting at `column` of `line`."""
    before = line[:column].rstrip()
    if before.endswith("-"):
        return len(before) - 1
    owner = _indent(line)
    while line.startswith("-", owner) and line[owner + 1 : owner + 2] in (" ", "\t"):
        owner += 2 + _indent(line[owner + 2 :])  # `- key:`: the key of the item's first entry
    return owner


def _reindented(lines: list[str], shift: int) -> list[str] | None:
    if shift >= 0:
        return [" " * shift + line if line.strip() else line for line in lines]
    if any(line.strip() and _indent(line) < -shift for line in lines):
        return None
    return [line[-shift:] if line.strip() else line for line in lines]


def _node_events(text: str) -> list[Event]:
    return list(YAML(typ="safe", pure=True).parse(text))  # pure: marks count characters


def anchors_moved_to_their_first_kept_alias(lines: list[str], dropped: set[int]) -> str | None:
    """The text less the `dropped` lines, where each anchor defined on a dropped line that kept
    lines alias is moved, with the text of its node, to its first kept alias (aliases must follow
    their anchor). None where that text cannot be moved as lines: a flow or multi-line node
    starting on its anchor's line, or an alias inside a flow collection."""
    try:
        events = _node_events("".join(lines))
    except Exception:
        return None
    definitions: dict[str, Event] = {}  # anchor -> the node defining it, as far as the text has come
    ends: dict[int, Event] = {}  # id(start event) -> its end event
    open_collections: list[Event] = []
    replacements: dict[int, tuple[int, int, list[str]]] = {}  # alias line -> (column, length, lines)
    moved: set[int] = set()
    for event in events:
        if isinstance(event, CollectionStartEvent):
            open_collections.append(event)
        elif isinstance(event, CollectionEndEvent):
            ends[id(open_collections.pop())] = event
        if isinstance(event, NodeEvent) and not isinstance(event, AliasEvent) and event.anchor:
            definitions[event.anchor] = event
    for event in events:
        if isinstance(event, AliasEvent):
            definition = definitions.get(event.anchor)
            alias_line = event.start_mark.line
            if (
                definition is None
                or id(definition) in moved
                or definition.start_mark.line not in dropped
                or alias_line in dropped
            ):
                continue
            node = _anchored_lines(lines, definition, ends.get(id(definition), definition), dropped)
            if node is None:
                return None
            head, body = node
            column = event.start_mark.column
            if body:
                shift = _owner_column(lines[alias_line], column) - _owner_column(
                    lines[definition.start_mark.line], definition.start_mark.column
                )
                moved_body = _reindented(body, shift)
                if moved_body is None:
                    return None
                body = moved_body
            replacements[alias_line] = (column, event.end_mark.column - column, [head, *body])
            moved.add(id(definition))
    out: list[str] = []
    for number, line in enumerate(lines):
        if number in replacements:
            column, length, (head, *body) = replacements[number]
            out += [line[:column] + head + line[column + length :], *body]
        elif number not in dropped:
            out.append(line)
    return "".join(out)


def _anchored_lines(
    lines: list[str], start: Event, end: Event, dropped: set[int]
) -> tuple[str, list[str]] | None:
    """A node's text from its anchor: what stands on the anchor's line (comment left out) and the
    lines below it; None where the node cannot be moved line by line."""
    first = start.start_mark.line
    line = lines[first]
    if end.end_mark.line == first:
        return line[start.start_mark.column : end.end_mark.column], []
    head = re.match(r"&\S+(\s+[|>][-+1-9]*)?(?=\s*(#.*)?$)", line[start.start_mark.column :].rstrip("\n"))
    if head is None:
        return None  # a quoted or flow node running over several lines
    last = (
        end.end_mark.line
        if end.end_mark.column == 0 or isinstance(end, CollectionEndEvent)
        else end.end_mark.line + 1
    )
    while last > first + 1 and _is_comment_or_blank(lines[last - 1]):
        last -= 1
    if not set(range(first, last)) <= dropped:
        return None  # part of the node stays where it is
    return head[0], lines[first + 1 : last]


def dump_node(node: Any) -> str:
    if type(node) is str:  # a plain string (no anchor, comment or style) dumps the same every time
        return _dump_string(node)
    out = io.StringIO()
    YAML().dump(node, out)
    return out.getvalue()


@functools.lru_cache(maxsize=1024)
def _dump_string(node: str) -> str:
    out = io.StringIO()
    YAML().dump(node, out)
    return out.getvalue()


def node_strings(node: Any) -> Iterator[str]:
    """Every string in a loaded YAML node, keys included (not its comments: a comment uses nothing)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from node_strings(key)
            yield from node_strings(value)
    elif isinstance(node, list | tuple):
        for item in node:
            yield from node_strings(item)


def has_entries(path: str, text: str) -> bool:
    """False for a properties file left with nothing but `version:` (or nothing at all)."""
    if path.endswith(".md"):
        return bool(text.strip())
    if not path.endswith((".yml", ".yaml")):
        return True
    if opens_with_a_list(text):
        return True
    try:
        doc = YAML(typ="safe").load(text)
    except Exception:  # a parse problem is dbt's to report, not a reason to delete
        return True
    if not isinstance(doc, dict):
        return doc is not None
    return any(value for key, value in doc.items() if key != "version")


def opens_with_a_list(text: str) -> bool:
    """True only where `has_entries` is True too, read from the first parse events instead of a
    load of the whole file: the document is a mapping in which a key other than `version` holds a
    non-empty sequence (a properties file opens `version: 2`, `models:`). Whatever follows, the safe
    loader then fails (the file is kept) or returns a dict holding that non-empty list: it refuses
    duplicate keys, and the text has no tag (`!`) and no merge key (`<<` turns that check off)."""
    if "<<" in text or "!" in text:
        return False
    events = YAML(typ="safe").parse(text)
    try:
        opening = [type(next(events)) for _ in range(3)]
        if opening != [StreamStartEvent, DocumentStartEvent, MappingStartEvent]:
            return False
        while isinstance(key := next(events), ScalarEvent):
            value = next(events)
            if isinstance(value, SequenceStartEvent) and key.value != "version":
                if not isinstance(next(events), SequenceEndEvent):
                    return True
                continue  # an empty list: try the next key
            depth = int(isinstance(value, CollectionStartEvent))  # skip the rest of this value
            while depth:
                event = next(events)
                depth += isinstance(event, CollectionStartEvent) - isinstance(event, CollectionEndEvent)
        return False
    except Exception:  # a parse error: leave the verdict to the full load
        return False
    finally:
        events.close()
