"""Mode SQL to plain SQL: definitions inlined, `{% form %}` defaults applied, Liquid rendered.

Undefined Liquid variables render as `PLACEHOLDER`, an identifier: the SQL stays parseable
wherever the variable sits (`'{{ d }}'`, `-{{ n }}`, `{{ schema }}.orders`, `orders_{{ region }}`),
and a table name holding it can be matched as a pattern.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from functools import cache, lru_cache
from typing import Any

# python-liquid and PyYAML are imported on first use: together they take longer to import than
# every other module `metapipeline refs` needs, and plain SQL needs neither.

PLACEHOLDER = "mp__param"

DEFINITION_PATTERN = re.compile(r"\{\{\s*@(\w+)(?:\s+as\s+(\w+))?\s*\}\}", re.IGNORECASE)
_FORM = re.compile(r"\{%-?\s*form\s*-?%\}(.*?)\{%-?\s*endform\s*-?%\}", re.IGNORECASE | re.DOTALL)
_ENDFORM = re.compile(r"\{%-?\s*endform\s*-?%\}", re.IGNORECASE)

# Bounds that keep hostile or generated text from taking unbounded time or memory: beyond them a
# query fails to render (and its raw text is scanned for known relations instead).
MAX_DEFINITION_DEPTH = 64  # definitions inside definitions
MAX_RENDERED_CHARS = 10_000_000  # definitions expanded, or Liquid's output
MAX_LOOP_ITERATIONS = 100_000  # Liquid `for` iterations in one render
MAX_FORM_CHARS = 20_000  # a `{% form %}` block larger than this is not read for defaults


class TemplateError(ValueError):
    """The query cannot be rendered: a definition cycle, an unknown definition, bad Liquid."""


@cache
def _liquid() -> Any:
    from liquid import Environment, Undefined

    class _Placeholder(Undefined):
        def __str__(self) -> str:
            return PLACEHOLDER

    class _Environment(Environment):
        loop_iteration_limit = MAX_LOOP_ITERATIONS
        output_stream_limit = MAX_RENDERED_CHARS

    return _Environment(undefined=_Placeholder)


def expand_definitions(sql: str, definitions: Mapping[str, str]) -> str:
    """Inline `{{ @name }}` / `{{ @name as alias }}` as `(source) AS alias`, recursively."""
    bodies: dict[str, str] = {}  # each definition is expanded once, however often it is used

    def expand(text: str, stack: tuple[str, ...]) -> str:
        def inline(match: re.Match[str]) -> str:
            name, alias = match.group(1), match.group(2)
            if name in stack:
                raise TemplateError("definition cycle: " + " -> ".join(f"@{n}" for n in (*stack, name)))
            if name not in definitions:
                raise TemplateError(f"unknown definition @{name}")
            if len(stack) >= MAX_DEFINITION_DEPTH:
                raise TemplateError(
                    f"definitions nested more than {MAX_DEFINITION_DEPTH} deep, from @{stack[0]}"
                )
            if name not in bodies:
                bodies[name] = expand(unescape_definition(definitions[name]), (*stack, name))
            # The newline keeps a trailing `-- comment` in the body from swallowing the parenthesis.
            return f"({bodies[name]}\n) AS {alias}" if alias else f"({bodies[name]}\n)"

        expanded = DEFINITION_PATTERN.sub(inline, text)
        if len(expanded) > MAX_RENDERED_CHARS:
            raise TemplateError(f"definitions expand to more than {MAX_RENDERED_CHARS:,} characters")
        return expanded

    return expand(sql, ())


def unescape_definition(source: str) -> str:
    """Mode stores some definitions with literal backslash-n / backslash-t sequences."""
    return source.replace("\\n", "\n").replace("\\t", "\t")


def split_forms(sql: str) -> tuple[str, dict[str, Any]]:
    """The SQL without its `{% form %}` blocks, and each parameter's default value."""
    defaults: dict[str, Any] = {}
    for name, field in _form_fields(sql):
        if "default" in field:
            value = field["default"]
            defaults[name] = value.isoformat() if isinstance(value, dt.date) else value
    # A `{% form %}` after the last `{% endform %}` never closes (see _form_fields).
    cut = max((end.end() for end in _ENDFORM.finditer(sql)), default=0)
    return _FORM.sub("", sql[:cut]) + sql[cut:], defaults


def form_values(sql: str) -> dict[str, tuple[tuple[str, ...], bool]]:
    """Each form parameter's known values (its default, its literal options; `[label, value]`
    pairs give their value) and whether those are all it may take: False when its options come
    from a query's results. A free-text parameter is known by its default."""
    known: dict[str, tuple[tuple[str, ...], bool]] = {}
    for name, field in _form_fields(sql):
        values: list[str] = []
        default = field.get("default")
        for value in default if isinstance(default, list) else [default]:
            if value is not None:
                values.append(value.isoformat() if isinstance(value, dt.date) else str(value))
        options = field.get("options")
        closed = not isinstance(options, dict)  # {labels, values, query}: the query's rows
        for option in options if isinstance(options, list) else ():
            value = option[-1] if isinstance(option, list) and option else option
            if value is not None and not isinstance(value, (dict, list)):
                values.append(str(value))
        known[name] = (tuple(dict.fromkeys(values)), closed and bool(values))
    return known


def _form_fields(sql: str) -> list[tuple[str, dict[str, Any]]]:
    # A `{% form %}` after the last `{% endform %}` never closes: looking for its end from each one
    # would take quadratic time, so only the text before that last end is searched.
    cut = max((end.end() for end in _ENDFORM.finditer(sql)), default=0)
    return [field for block in _FORM.findall(sql[:cut]) for field in form_block_fields(block)]


# A query's forms are read as it renders, then twice more for its parameters' values; YAML was
# 40% of the time those took. The cached fields are shared: read them, never change them.
@lru_cache(maxsize=256)
def form_block_fields(block: str) -> tuple[tuple[str, dict[str, Any]], ...]:
    import yaml

    # libyaml recurses in C and crashes the process on deep nesting (`[[[...`, `- - - ...`, two
    # characters a level): longer blocks go to the pure-Python loader, which raises instead.
    # libyaml's loader, when built with it, is 10x faster.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader) if len(block) <= 2_000 else yaml.SafeLoader
    try:
        spec = yaml.load(block, Loader=loader) if len(block) <= MAX_FORM_CHARS else None
    except (yaml.YAMLError, RecursionError):
        return ()  # a form that is not plain YAML (Liquid inside): its parameters stay placeholders
    if not isinstance(spec, dict):
        return ()
    return tuple((str(name), field) for name, field in spec.items() if isinstance(field, dict))


def render(raw_sql: str, definitions: Mapping[str, str] | None = None) -> str:
    """Plain SQL from a Mode query; raises TemplateError when that is impossible."""
    sql = expand_definitions(raw_sql, definitions or {}) if "{{" in raw_sql else raw_sql
    if "{{" not in sql and "{%" not in sql:
        return sql
    sql, defaults = split_forms(sql)
    # Liquid measures its output in UTF-8: a lone surrogate (JSON allows them) would raise there.
    sql = sql.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    from liquid.exceptions import LiquidError

    try:
        return _liquid().from_string(sql).render(**defaults)
    except LiquidError as exc:
        raise TemplateError(f"Liquid: {(str(exc).splitlines() or [type(exc).__name__])[0]}") from None
