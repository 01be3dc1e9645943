with source as (
    select * from {{ source('logistics', 'couriers') }}
)

select
    id as courier_id,
    first_name || ' ' || last_name as courier_name,
    vehicle_type,
    home_store_id,
    hired_at,
    offboarded_at,
    offboarded_at is null as is_active
from source
