{% macro cents_to_currency(column_name, scale=2) -%}
    round(({{ column_name }}) / 100.0, {{ scale }})::decimal(12, {{ scale }})
{%- endmacro %}
