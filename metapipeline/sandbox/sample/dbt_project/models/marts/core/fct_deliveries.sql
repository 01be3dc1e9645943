select
    d.delivery_id,
    d.order_id,
    d.customer_id,
    d.store_id,
    s.region,
    d.courier_id,
    c.courier_name,
    c.vehicle_type,
    d.ordered_at,
    d.dispatched_at,
    d.picked_up_at,
    d.delivered_at,
    d.promised_at,
    d.minutes_to_pickup,
    d.minutes_to_deliver,
    d.is_late
from {{ ref('int_deliveries_timed') }} as d
left join {{ ref('stg_logistics__couriers') }} as c on c.courier_id = d.courier_id
-- The region comes from staging, not dim_stores: Mode's active_stores definition is dim_stores' only reader.
left join {{ ref('stg_shop__stores') }} as s on s.store_id = d.store_id
