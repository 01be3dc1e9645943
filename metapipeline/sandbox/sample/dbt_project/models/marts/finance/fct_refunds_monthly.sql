select
    date_trunc('month', refunded_at)::date as refund_month,
    count(*) as refunds,
    sum(refund_amount) as refund_amount,
    count(*) filter (where refund_reason = 'requested_by_customer') as customer_requested,
    count(*) filter (where refund_reason = 'damaged_item') as damaged_item
from {{ ref('stg_payments__refunds') }}
group by 1
