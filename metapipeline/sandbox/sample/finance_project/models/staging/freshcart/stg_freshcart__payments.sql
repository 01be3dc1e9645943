select
    payment_id,
    charge_id,
    order_id,
    customer_id,
    payment_method,
    paid_at,
    amount_captured,
    amount_refunded,
    net_amount
from {{ source('freshcart_analytics', 'fct_payments') }}
