select
    payment_id,
    charge_id,
    order_id,
    customer_id,
    payment_method,
    paid_at,
    amount_captured,
    amount_refunded,
    net_amount,
    refund_count,
    is_fully_refunded
from {{ ref('int_payments_reconciled') }}
