with refunds as (
    select
        charge_id,
        count(*) as refund_count,
        sum(refund_amount) as amount_refunded,
        max(refunded_at) as last_refunded_at
    from {{ ref('stg_payments__refunds') }}
    group by charge_id
)

select
    {{ dbt.hash('c.charge_id') }} as payment_id,
    c.charge_id,
    c.order_id,
    c.customer_id,
    c.payment_method,
    c.charged_at as paid_at,
    c.amount as amount_captured,
    coalesce(r.amount_refunded, 0) as amount_refunded,
    c.amount - coalesce(r.amount_refunded, 0) as net_amount,
    coalesce(r.refund_count, 0) as refund_count,
    r.last_refunded_at,
    coalesce(r.amount_refunded, 0) >= c.amount as is_fully_refunded
from {{ ref('stg_payments__charges') }} as c
left join refunds as r on r.charge_id = c.charge_id
where c.charge_status = 'succeeded'
