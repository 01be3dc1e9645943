with source as (
    select * from {{ source('logistics', 'deliveries') }}
)

select
    id as delivery_id,
    order_id,
    courier_id,
    store_id,
    status as delivery_status,
    promised_at,
    dispatched_at,
    picked_up_at,
    delivered_at
from source
