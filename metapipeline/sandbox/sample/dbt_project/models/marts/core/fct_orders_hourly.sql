select
    date_trunc('hour', ordered_at) as order_hour,
    count(*) as orders,
    count(*) filter (where order_status = 'completed') as completed_orders,
    count(*) filter (where order_status = 'cancelled') as cancelled_orders,
    sum(order_total) filter (where order_status <> 'cancelled') as gmv
from {{ ref('fct_orders') }}
group by 1
