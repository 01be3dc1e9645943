"""Mode templates: definitions, forms, Liquid, and SQL that stays parseable with unknown variables."""

from __future__ import annotations

import pytest
import sqlglot

from metapipeline.lineage.templates import PLACEHOLDER, TemplateError, expand_definitions, render, split_forms

DEFINITIONS = {
    "orders": "SELECT *\\n\\tFROM marts.fct_orders -- trailing comment",
    "recent": "SELECT * FROM {{ @orders }} AS o WHERE o.day > 1",
    "a": "SELECT * FROM {{ @b as bb }}",
    "b": "SELECT * FROM {{ @a }}",
}


def test_definitions_expand_recursively_with_aliases_and_unescaped_whitespace() -> None:
    sql = expand_definitions("SELECT 1 FROM {{ @recent as r }} JOIN {{@orders}} USING (id)", DEFINITIONS)
    assert sql == (
        "SELECT 1 FROM (SELECT * FROM (SELECT *\n\tFROM marts.fct_orders -- trailing comment\n) AS o"
        " WHERE o.day > 1\n) AS r JOIN (SELECT *\n\tFROM marts.fct_orders -- trailing comment\n) USING (id)"
    )
    sqlglot.parse_one(sql, read="snowflake")  # the comment did not swallow a parenthesis


def test_definition_cycle_is_an_error_naming_the_path() -> None:
    with pytest.raises(TemplateError, match=r"definition cycle: @a -> @b -> @a"):
        render("SELECT * FROM {{ @a as x }}", DEFINITIONS)


def test_unknown_definition_is_an_error() -> None:
    with pytest.raises(TemplateError, match="unknown definition @nope"):
        render("SELECT * FROM {{ @nope }}", DEFINITIONS)


def test_form_defaults_apply_and_the_form_block_goes() -> None:
    sql, defaults = split_forms(
        "SELECT {{ n }}\n{% form %}\nn:\n  type: number\n  default: 12\nday:\n  type: date\n"
        "  default: 2024-01-01\nfree:\n  type: text\n{% endform %}"
    )
    assert sql == "SELECT {{ n }}\n"
    assert defaults == {"n": 12, "day": "2024-01-01"}


def test_liquid_renders_with_defaults_and_control_flow() -> None:
    raw = (
        "SELECT * FROM t WHERE d >= '{{ start }}'{% if region != 'all' %} AND region = '{{ region }}'{% endif %}"
        "\n{% form %}\nstart:\n  default: 2025-01-01\nregion:\n  default: all\n{% endform %}"
    )
    assert render(raw).strip() == "SELECT * FROM t WHERE d >= '2025-01-01'"


@pytest.mark.parametrize(
    ("raw", "table"),
    [
        ("SELECT * FROM {{ schema }}.orders", f"{PLACEHOLDER}.orders"),
        ("SELECT * FROM marts.orders_{{ region }}", f"marts.orders_{PLACEHOLDER}"),
        ("SELECT * FROM marts.orders WHERE x > -{{ n }} LIMIT {{ max_rows }}", "marts.orders"),
        ("SELECT * FROM marts.orders WHERE d = '{{ day | date: '%Y' }}'", "marts.orders"),
    ],
)
def test_unknown_variables_leave_parseable_sql(raw: str, table: str) -> None:
    tree = sqlglot.parse_one(render(raw), read="snowflake")
    assert [t.sql() for t in tree.find_all(sqlglot.exp.Table)] == [table]


def test_plain_sql_is_returned_untouched() -> None:
    sql = "SELECT '{not liquid}' AS x FROM t"
    assert render(sql) is sql


def test_broken_liquid_is_an_error() -> None:
    with pytest.raises(TemplateError, match="Liquid"):
        render("SELECT 1 {% if %}")
