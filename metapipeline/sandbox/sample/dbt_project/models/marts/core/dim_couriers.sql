select
    courier_id,
    courier_name,
    vehicle_type,
    home_store_id,
    hired_at,
    offboarded_at,
    is_active
from {{ ref('stg_logistics__couriers') }}
