select
    d.delivery_id,
    d.order_id,
    o.customer_id,
    d.store_id,
    d.courier_id,
    o.ordered_at,
    d.dispatched_at,
    d.picked_up_at,
    d.delivered_at,
    d.promised_at,
    datediff('minute', o.ordered_at, d.dispatched_at) as minutes_to_dispatch,
    datediff('minute', o.ordered_at, d.picked_up_at) as minutes_to_pickup,
    datediff('minute', o.ordered_at, d.delivered_at) as minutes_to_deliver,
    d.delivered_at > d.promised_at as is_late
from {{ ref('stg_logistics__deliveries') }} as d
join {{ ref('stg_shop__orders') }} as o on o.order_id = d.order_id
