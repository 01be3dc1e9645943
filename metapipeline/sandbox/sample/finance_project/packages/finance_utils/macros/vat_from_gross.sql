{#- The VAT inside a VAT-inclusive amount: gross * rate / (1 + rate). -#}
{% macro vat_from_gross(amount, rate) -%}
    round({{ amount }} * {{ rate }} / (1 + {{ rate }}), 2)::decimal(12, 2)
{%- endmacro %}
