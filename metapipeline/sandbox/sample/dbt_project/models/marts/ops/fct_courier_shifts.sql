select
    shift_id,
    courier_id,
    courier_name,
    vehicle_type,
    store_id,
    shift_date,
    planned_hours,
    worked_hours,
    utilization,
    minutes_late
from {{ ref('int_courier_utilization') }}
