"""The exposures file's own emitter writes, byte for byte, what ruamel wrote before it.

The oracle below is the ruamel dump `render_exposures` used to make (kept here only): hostile
`ReportRecord`s and manifests, and exposures of arbitrary strings at every position, must come out
identical, and load with PyYAML (dbt's reader) back to the same data.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from ruamel.yaml.representer import RoundTripRepresenter

from metapipeline.actions import exposures
from metapipeline.actions.exposures import GENERATED_FILE, HEADER, ReportRecord, render_exposures

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
# Derandomized: CI sees the same examples each run; no deadline: ruamel is slow on long strings.
EXAMPLES = settings(
    derandomize=True,
    deadline=None,
    database=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class _OracleRepresenter(RoundTripRepresenter):
    """The representer `render_exposures` dumped with before it had its own emitter."""

    def represent_str(self, data: str) -> Any:
        tag = yaml.resolver.Resolver().resolve(yaml.ScalarNode, data, (True, False))
        style = "'" if tag != "tag:yaml.org,2002:str" else None
        return self.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    def represent_none(self, data: None) -> Any:
        return self.represent_scalar("tag:yaml.org,2002:null", "null")


_OracleRepresenter.add_representer(str, _OracleRepresenter.represent_str)
_OracleRepresenter.add_representer(type(None), _OracleRepresenter.represent_none)


def ruamel_dump(generated: list[dict[str, Any]]) -> str:
    dumper = YAML()
    dumper.Representer = _OracleRepresenter
    dumper.width = 4096
    dumper.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    dumper.dump({"exposures": generated}, out)
    return HEADER + out.getvalue()


def built(records: list[ReportRecord], manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The exposures `render_exposures` writes, as data."""
    wanted = exposures._wanted(records, manifest, GENERATED_FILE)
    return [exposures._exposure(report, depends_on, NOW) for report, depends_on in wanted]


# -- hostile text -----------------------------------------------------------------------------------

TRICKY = [
    "", " ", "  ", "'", '"', "''", "it's", 'say "hi"', "\\", "a\\b", ":", ": x", "a: b", "a:b", "a:",
    "#", "# x", "a #b", "a#b", "-", "- x", "-x", "--", "---", "--- x", "...", "...x", "?", "? x", "?x",
    "&a", "*a", "!a", "|", "| x", ">", "> x", "%a", "@a", "`a", ",a", "[a]", "]", "{a: 1}", "}",
    "yes", "Yes", "no", "NO", "on", "Off", "y", "n", "true", "False", "null", "Null", "~", "=", "<<",
    "1_000", "0x1F", "0o17", "017", "0b101", "1e3", "1E3", "1.5", "-1", "+1", "1:20", "190:20:30",
    ".inf", "-.Inf", ".NaN", "2024-01-01", "2024-01-01 10:00:00", "2024-01-01T10:00:00+00:00",
    "2024-1-1", "939187810e21", "{{ x }}", "{% if x %}", "{#", "{{ '{' }}", "é", "—", "日本",
    "😀", "🇫🇷", "\u200b", "\u00a0", "\ufeff", "\ufffd", "\ue000", "\ufffe", "\u2028", "\u2029", "\x85",
    "\x7f", "\x00", "\x1b", "\ud800", "\udfff", "\n", "\r", "\r\n", "\t", "a\tb", " \n ", "x\n",
]  # fmt: skip

# Strings ruamel folds (past column 4,096) or the emitter leaves to ruamel (over 1,000 characters).
LONG = [
    "a" * 1_000, "a" * 1_001, "'\\" * 500, "'\\" * 501, '"' * 1_000, "a: " * 334, "é " * 500,
    "x" * 4_200, "word " * 850, "é " * 2_100, "{{ x }}" * 600, "it's " * 850, "a " * 2_047 + "b",
]  # fmt: skip
PRINTABLE = "".join(map(chr, range(0x20, 0x7F))) + "éü—“”…日😀\u00a0\u200b\ufffd"

_piece = st.one_of(
    st.sampled_from(TRICKY),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=12),  # any code point
    st.text(PRINTABLE, max_size=20),
)
_short_text = st.lists(_piece, max_size=6).map("".join)
hostile_text = st.one_of(*[_short_text] * 9, st.sampled_from(LONG))  # one string in ten is long


@st.composite
def platforms(draw: st.DrawFn) -> tuple[list[ReportRecord], dict[str, Any]]:
    """A manifest with hostile node and source names, and reports that read some of them."""
    names = draw(st.lists(hostile_text, min_size=1, max_size=4))
    packages = st.one_of(st.just("shop"), hostile_text)
    nodes = {
        f"model.shop.n{i}": {"resource_type": "model", "name": name, "package_name": draw(packages)}
        for i, name in enumerate(names)
    }
    sources = {
        f"source.shop.s{i}": {"source_name": draw(hostile_text), "name": name} for i, name in enumerate(names)
    }
    manifest = {"metadata": {"project_name": "shop"}, "nodes": nodes, "sources": sources, "exposures": {}}
    token = st.one_of(
        st.from_regex(r"[A-Za-z0-9_]{1,12}\n?", fullmatch=True),  # `$` lets a final newline through
        st.sampled_from(["yes", "null", "1_000", "0x1F", "1e3", "017", "2024", "939187810e21", "1:20"]),
    )
    stamp = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7))]))
    report = st.builds(
        ReportRecord,
        token=token,
        title=hostile_text,
        owner_name=st.one_of(st.none(), hostile_text),
        owner_email=st.one_of(st.none(), hostile_text),
        url=st.one_of(st.none(), hostile_text, hostile_text.map(lambda t: "https://app.mode.com/r/" + t)),
        space=st.one_of(st.none(), hostile_text),
        last_run_at=st.one_of(st.none(), stamp),
        views=st.integers(0, 2**70),
        runs=st.integers(0, 1000),
        schedules=st.integers(0, 3),
        nodes=st.lists(st.sampled_from([*nodes, *sources, "model.shop.gone"]), max_size=8).map(tuple),
        archived=st.booleans(),
    )
    return draw(st.lists(report, min_size=1, max_size=5)), manifest


# -- equivalence ------------------------------------------------------------------------------------


@EXAMPLES
@given(platform=platforms())
def test_hostile_reports_render_as_ruamel_rendered_them(
    platform: tuple[list[ReportRecord], dict[str, Any]],
) -> None:
    records, manifest = platform
    generated = built(records, manifest)
    text = render_exposures(records, manifest, NOW)
    if not generated:
        assert text is None
        return
    assert text == ruamel_dump(generated)
    assert yaml.safe_load(text) == {"exposures": generated}


# ruamel (before as now) writes these line breaks raw inside single quotes, where PyYAML folds them
# into a space. No string of `_exposure` meets that: its text is on one line, and a `depends_on` entry
# holds a quote, which makes ruamel choose double quotes and escape them.
FOLDED_BREAKS = re.compile("[\x85\u2028\u2029]")


# Every position `_exposure` fills, with any string (raw: no whitespace collapsing, no Jinja escape).
raw_exposure = st.fixed_dictionaries(
    {
        "name": hostile_text,
        "label": hostile_text,
        "type": hostile_text,
        "maturity": hostile_text,
        "owner": st.dictionaries(st.sampled_from(["name", "email"]), hostile_text, min_size=1),
        "url": hostile_text,
        "description": hostile_text,
        "depends_on": st.lists(hostile_text, min_size=1, max_size=4),
        "config": st.fixed_dictionaries(
            {
                "tags": st.lists(hostile_text, min_size=1, max_size=2),
                "meta": st.fixed_dictionaries(
                    {
                        "mode_report_token": hostile_text,
                        "space": st.one_of(st.none(), hostile_text),
                        "last_run_at": st.one_of(st.none(), hostile_text),
                        "views": st.integers(),
                    }
                ),
            }
        ),
    }
)


@EXAMPLES
@given(generated=st.lists(raw_exposure, min_size=1, max_size=3))
def test_any_string_anywhere_is_written_as_ruamel_wrote_it(generated: list[dict[str, Any]]) -> None:
    text = HEADER + exposures._dump(generated)
    assert text == ruamel_dump(generated)
    if not FOLDED_BREAKS.search(text):
        assert yaml.safe_load(text) == {"exposures": generated}


@pytest.mark.parametrize("text", [*TRICKY, *LONG])
def test_each_tricky_string_at_each_position(text: str) -> None:
    generated = [
        {
            **dict.fromkeys(["name", "label", "type", "maturity"], text),
            "owner": {"name": text, "email": text},
            **dict.fromkeys(["url", "description"], text),
            "depends_on": [text, text],
            "config": {"tags": [text], "meta": {"mode_report_token": text, "space": text, "views": 7}},
        }
    ]
    written = HEADER + exposures._dump(generated)
    assert written == ruamel_dump(generated)
    if not FOLDED_BREAKS.search(written):
        assert yaml.safe_load(written) == {"exposures": generated}


def test_only_text_ints_and_none_are_written() -> None:
    with pytest.raises(TypeError, match="expected text"):
        exposures._dump([{"name": "x", "config": {"meta": {"views": True}}}])
