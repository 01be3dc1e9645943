-- What reaches the bank per payment: captured less refunds less the processor's fee.
select
    payments.payment_id,
    payments.charge_id,
    payments.order_id,
    payments.customer_id,
    payments.payment_method,
    payments.paid_at,
    payments.amount_captured,
    payments.amount_refunded,
    payments.net_amount,
    coalesce(fees.processor_fee, 0) as processor_fee,
    payments.net_amount - coalesce(fees.processor_fee, 0) as settled_amount
from {{ ref('stg_freshcart__payments') }} as payments
left join {{ ref('int_processor_fees') }} as fees on fees.charge_id = payments.charge_id
