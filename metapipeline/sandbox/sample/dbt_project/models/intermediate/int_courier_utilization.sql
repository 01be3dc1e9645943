select
    s.shift_id,
    s.courier_id,
    c.courier_name,
    c.vehicle_type,
    s.store_id,
    s.shift_date,
    s.planned_hours,
    s.worked_hours,
    round(s.worked_hours / nullif(s.planned_hours, 0), 3) as utilization,
    datediff('minute', s.shift_starts_at, s.clocked_in_at) as minutes_late
from {{ ref('stg_logistics__courier_shifts') }} as s
join {{ ref('stg_logistics__couriers') }} as c on c.courier_id = s.courier_id
