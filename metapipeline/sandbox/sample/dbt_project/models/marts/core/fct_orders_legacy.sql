-- Superseded by fct_orders in 2023; kept disabled until the old finance extracts are gone.
{{ config(enabled=false) }}

select
    order_id,
    customer_id,
    order_status,
    ordered_at
from {{ ref('stg_shop__orders') }}
where order_status = 'completed'
