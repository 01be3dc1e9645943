"""Mode SQL to plain SQL: definitions inlined, `{% form %}` defaults applied, Liquid rendered.

Undefined Liquid variables render as `PLACEHOLDER`, an identifier: the SQL stays parseable
wherever the variable sits (`'{{ d }}'`, `-{{ n }}`, `{{ schema }}.orders`, `orders_{{ region }}`),
and a table name holding it can be matched as a pattern.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

import yaml
from liquid import Environment, Undefined
from liquid.exceptions import LiquidError

PLACEHOLDER = "mp__param"

DEFINITION_PATTERN = re.compile(r"\{\{\s*@(\w+)(?:\s+as\s+(\w+))?\s*\}\}", re.IGNORECASE)
_FORM = re.compile(r"\{%-?\s*form\s*-?%\}(.*?)\{%-?\s*endform\s*-?%\}", re.IGNORECASE | re.DOTALL)


class TemplateError(ValueError):
    """The query cannot be rendered: a definition cycle, an unknown definition, bad Liquid."""


class _Placeholder(Undefined):
    def __str__(self) -> str:
        return PLACEHOLDER


_LIQUID = Environment(undefined=_Placeholder)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, when built with it: 10x faster


def expand_definitions(sql: str, definitions: Mapping[str, str]) -> str:
    """Inline `{{ @name }}` / `{{ @name as alias }}` as `(source) AS alias`, recursively."""

    def expand(text: str, stack: tuple[str, ...]) -> str:
        def inline(match: re.Match[str]) -> str:
            name, alias = match.group(1), match.group(2)
            if name in stack:
                raise TemplateError("definition cycle: " + " -> ".join(f"@{n}" for n in (*stack, name)))
            if name not in definitions:
                raise TemplateError(f"unknown definition @{name}")
            body = expand(unescape_definition(definitions[name]), (*stack, name))
            # The newline keeps a trailing `-- comment` in the body from swallowing the parenthesis.
            return f"({body}\n) AS {alias}" if alias else f"({body}\n)"

        return DEFINITION_PATTERN.sub(inline, text)

    return expand(sql, ())


def unescape_definition(source: str) -> str:
    """Mode stores some definitions with literal backslash-n / backslash-t sequences."""
    return source.replace("\\n", "\n").replace("\\t", "\t")


def split_forms(sql: str) -> tuple[str, dict[str, Any]]:
    """The SQL without its `{% form %}` blocks, and each parameter's default value."""
    defaults: dict[str, Any] = {}
    for block in _FORM.findall(sql):
        try:
            spec = yaml.load(block, Loader=_YAML_LOADER)
        except yaml.YAMLError:
            continue  # a form that is not plain YAML (Liquid inside): its parameters stay placeholders
        for name, field in (spec or {}).items() if isinstance(spec, dict) else ():
            if isinstance(field, dict) and "default" in field:
                value = field["default"]
                defaults[str(name)] = value.isoformat() if isinstance(value, dt.date) else value
    return _FORM.sub("", sql), defaults


def render(raw_sql: str, definitions: Mapping[str, str] | None = None) -> str:
    """Plain SQL from a Mode query; raises TemplateError when that is impossible."""
    sql = expand_definitions(raw_sql, definitions or {}) if "{{" in raw_sql else raw_sql
    if "{{" not in sql and "{%" not in sql:
        return sql
    sql, defaults = split_forms(sql)
    try:
        return _LIQUID.from_string(sql).render(**defaults)
    except LiquidError as exc:
        raise TemplateError(f"Liquid: {str(exc).splitlines()[0]}") from None
