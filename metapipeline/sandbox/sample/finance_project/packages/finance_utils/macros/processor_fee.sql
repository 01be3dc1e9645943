{#- Stripe's UK pricing: 1.5% + 20p per successful card or wallet charge, 2.9% + 30p for PayPal. -#}
{% macro processor_fee(amount, payment_method) -%}
    round(
        case
            when {{ payment_method }} = 'paypal' then {{ amount }} * 0.029 + 0.30
            else {{ amount }} * 0.015 + 0.20
        end,
        2
    )::decimal(12, 2)
{%- endmacro %}
