with payments as (
    select customer_id, sum(net_amount) as lifetime_value, count(*) as payments
    from {{ ref('fct_payments') }}
    group by customer_id
)

select
    c.customer_id,
    c.signed_up_at,
    c.first_order_at,
    coalesce(payments.payments, 0) as payments,
    coalesce(payments.lifetime_value, 0) as lifetime_value,
    case
        when coalesce(payments.lifetime_value, 0) = 0 then 'none'
        when payments.lifetime_value < 100 then 'low'
        when payments.lifetime_value < 500 then 'medium'
        else 'high'
    end as ltv_band
from {{ ref('dim_customers') }} as c
left join payments on payments.customer_id = c.customer_id
