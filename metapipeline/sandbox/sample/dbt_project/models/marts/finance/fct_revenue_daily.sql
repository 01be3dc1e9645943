{{ config(alias='daily_revenue') }}

-- Revenue is booked on the order date; refunds are netted against the day of the order they refund.
with orders as (
    select order_id, ordered_at::date as revenue_date
    from {{ ref('fct_orders') }}
    where order_status <> 'cancelled'
),

payments as (
    select order_id, sum(amount_captured) as captured, sum(amount_refunded) as refunded
    from {{ ref('int_payments_reconciled') }}
    group by order_id
)

select
    orders.revenue_date,
    count(*) as orders,
    sum(coalesce(payments.captured, 0)) as gross_revenue,
    sum(coalesce(payments.refunded, 0)) as refunds,
    sum(coalesce(payments.captured, 0) - coalesce(payments.refunded, 0)) as net_revenue
from orders
left join payments on payments.order_id = orders.order_id
group by orders.revenue_date
