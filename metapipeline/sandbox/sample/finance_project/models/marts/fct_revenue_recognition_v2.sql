-- v2: net of refunds and processor fees, per payment method (IFRS 15 review, 2025).
select
    date_trunc('month', paid_at)::date as recognition_month,
    payment_method,
    count(*) as payments,
    sum(amount_captured) as captured,
    sum(amount_refunded) as refunded,
    sum(processor_fee) as processor_fees,
    sum(settled_amount) as recognised_revenue
from {{ ref('int_payments_settled') }}
group by 1, 2
