select
    paid_at::date as settlement_date,
    count(*) as payments,
    sum(net_amount) as net_amount,
    sum(processor_fee) as processor_fees,
    sum(settled_amount) as settled_amount
from {{ ref('int_payments_settled') }}
group by 1
