{#- Processors report minor units; finance reports pounds with two decimals. -#}
{% macro pence_to_pounds(column_name) -%}
    round(({{ column_name }}) / 100.0, 2)::decimal(12, 2)
{%- endmacro %}
