with orders as (
    select
        store_id,
        ordered_at::date as ops_date,
        count(*) as orders,
        count(*) filter (where order_status = 'cancelled') as cancelled_orders,
        sum(order_total) filter (where order_status <> 'cancelled') as gmv
    from {{ ref('fct_orders') }}
    group by 1, 2
),

deliveries as (
    select
        store_id,
        delivered_at::date as ops_date,
        count(*) as deliveries,
        count(*) filter (where is_late) as late_deliveries,
        avg(minutes_to_deliver) as avg_minutes_to_deliver
    from {{ ref('fct_deliveries') }}
    group by 1, 2
)

select
    orders.store_id,
    s.store_name,
    orders.ops_date,
    orders.orders,
    orders.cancelled_orders,
    orders.gmv,
    coalesce(deliveries.deliveries, 0) as deliveries,
    coalesce(deliveries.late_deliveries, 0) as late_deliveries,
    deliveries.avg_minutes_to_deliver
from orders
left join deliveries on deliveries.store_id = orders.store_id and deliveries.ops_date = orders.ops_date
join {{ ref('stg_shop__stores') }} as s on s.store_id = orders.store_id
