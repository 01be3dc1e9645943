-- v1: recognised when captured, gross of refunds and fees (what the 2024 audit signed off).
select
    date_trunc('month', paid_at)::date as recognition_month,
    count(*) as payments,
    sum(amount_captured) as recognised_revenue
from {{ ref('int_payments_settled') }}
group by 1
