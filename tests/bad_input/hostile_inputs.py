"""Hostile text shared by the bad-input suite: a fixed corpus and hypothesis strategies.

Every strategy here is deterministic under `BAD_INPUT` (derandomized, no deadline), so CI sees the
same examples on every run; `max_examples` is set per test and counted in the suite's docstrings.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Derandomized: CI runs the same examples each time; no deadline: a slow CI machine is no failure.
BAD_INPUT = settings(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def examples(count: int) -> settings:
    """The suite's settings with an explicit number of examples (each counts as one input)."""
    return settings(BAD_INPUT, max_examples=count)


# Things people type into titles, space and owner names, and what attackers try there.
HOSTILE_TEXT: list[str] = [
    "",
    " ",
    "\0",
    "a\0b",
    "\x01\x02\x07\x1b[31mred\x1b[0m",
    "\x7f\x85\x9f",
    "line one\nline two",
    "carriage\rreturn\r\n",
    "tab\there",
    "\u2028line\u2029separators",
    "\ufeffbyte order mark",
    "\u202eevil RTL override\u202c and \u200fRLM\u200e",
    "\u2066isolate\u2069",
    "zero\u200bwidth\u200djoiner",
    "😀 emoji 🇫🇷 👩‍👩‍👧",
    "Ünïcödé ñame — “quotes” ‘single’",
    "日本語のレポート",
    "العربية עברית",
    "'",
    '"',
    'O\'Brien "Zed"',
    "\\",
    "back\\slash\\n",
    "{{ 1/0 }}",
    "{{ var('x') }}",
    "{% if x %}x{% endif %}",
    "{% raw %}{% endraw %}",
    "{# comment #}",
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "{",
    "{{ '{' }}",
    "{{ @definition }}",
    "{{ @a as b }}",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<b>bold</b>",
    "</table>",
    "<!-- comment -->",
    "<!channel>",
    "<!here|here>",
    "<@U123ABC>",
    "<http://evil.example|click me>",
    "@here @channel @everyone",
    "&amp; &lt; &gt; &#60; &",
    "**bold** _italic_ ~strike~ `code`",
    "```\ncode block\n```",
    "# heading",
    "> quote",
    "- list item",
    "1. numbered",
    "[link](http://evil.example)",
    "![img](http://evil.example/x.png)",
    "| a | b |",
    "|",
    "a|b|c",
    "\\|",
    "---|---",
    "yes",
    "no",
    "on",
    "off",
    "True",
    "null",
    "~",
    "=",
    "<<",
    "1_000",
    "0x1F",
    "0o17",
    "1:20",
    ".inf",
    "2024-01-01",
    "2024-01-01 10:00:00",
    "- a",
    ": x",
    "? x",
    "&anchor",
    "*alias",
    "!tag",
    "%directive",
    "@at",
    "`backtick",
    "key: value",
    "[1, 2]",
    "{a: 1}",
    "a #not comment",
    "--> n0",
    '"]; click n0 call alert()',
    "../../etc/passwd",
    "C:\\Windows",
    "\ud800",
    "a\udfffb",
    "x" * 10_240,
    "é" * 5_000,
    "{{ x }}" * 500,
]

_TEXT_PIECES = st.one_of(
    st.sampled_from(HOSTILE_TEXT[:-3]),  # the 10 KB ones come in whole, below
    st.text(st.characters(codec=None, exclude_categories=()), max_size=30),  # any code point
    # Controls, format characters (bidi marks, zero-widths), lone surrogates, line separators.
    st.text(st.characters(codec=None, categories=["Cc", "Cf", "Cs", "Zl", "Zp"]), max_size=5),
    st.text(alphabet="{}%#<>&|*_`[]()!@:'\"\\\n\r\t -~=^$", max_size=20),
)

# A hostile string: pieces of the corpus and arbitrary Unicode run together.
hostile_text = st.one_of(
    st.lists(_TEXT_PIECES, max_size=6).map("".join),
    st.sampled_from(HOSTILE_TEXT[-3:]),
)

SQL_TOKENS = [
    "SELECT", "select", "FROM", "from", "WHERE", "JOIN", "LEFT JOIN", "ON", "USING", "GROUP BY",
    "ORDER BY", "UNION ALL", "WITH", "AS", "CASE", "WHEN", "THEN", "END", "IN", "NOT", "NULL",
    "INSERT INTO", "CREATE TABLE", "CREATE VIEW", "DROP TABLE", "MERGE", "QUALIFY", "LATERAL",
    "TABLE(FLATTEN(", "*", ",", ";", ".", "(", ")", "((", "))", "[", "]", "'", "''", '"', "`",
    "--", "/*", "*/", "\n", " ", "\t", "\0", "1", "3.14", "-", "+", "||", "::", "=", "<>",
    "'it''s'", '"Quoted Name"', "`bq.proj.tbl`", "[dbo].[t]", "marts.fct_orders", "orders",
    "raw.shop.customers", "analytics.marts.dim_stores", "t1", "x", "$1", "?", ":param", "@var",
    "{{", "}}", "{%", "%}", "{{ schema }}", "{{ @defn }}", "{{ @defn as d }}", "{{ @missing }}",
    "{% form %}", "{% endform %}", "{% if x %}", "{% endif %}", "{% for r in rs %}", "{% endfor %}",
    "{{ x | upcase }}", "{# c #}", "{% raw %}", "😀", "ñ", "\u202e", "\ufeff", "\ud800", "日本",
]  # fmt: skip

# SQL-ish text: tokens, keywords, quotes, unbalanced parentheses, Liquid, Unicode, NUL.
sql_ish = st.one_of(
    st.lists(st.sampled_from(SQL_TOKENS), max_size=40).map(" ".join),
    st.lists(st.sampled_from(SQL_TOKENS), max_size=40).map("".join),
    st.lists(st.one_of(st.sampled_from(SQL_TOKENS), hostile_text), max_size=12).map(" ".join),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=200),
)

# Mode definitions: sources that may refer to each other (cycles), to nothing, or be garbage.
definitions = st.dictionaries(
    st.sampled_from(["defn", "d", "other", "a", "b"]),
    st.one_of(sql_ish, st.sampled_from(["{{ @defn }}", "{{ @d }}", "SELECT * FROM {{ @other }}", ""])),
    max_size=4,
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    hostile_text,
)
# Any JSON value, nested a little.
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def one_line(text: Any) -> str:
    """What the product makes of a name typed with newlines and runs of whitespace."""
    return " ".join(str(text).split())


def utf8(text: str) -> str:
    """`text` as written to a file or an API: a lone surrogate (no UTF-8 form) becomes U+FFFD."""
    return re.sub("[\ud800-\udfff]", "\ufffd", text)


def written(text: Any) -> str:
    """A name people typed as metapipeline writes it: on one line, in UTF-8."""
    return utf8(one_line(text))


def in_markdown(text: Any) -> str:
    """A name as a Markdown cell shows it: one line; bidirectional controls and lone surrogates,
    which would reorder or break the row, as U+FFFD."""
    return re.sub("[\u202a-\u202e\u2066-\u2069\ud800-\udfff]", "\ufffd", one_line(text))
