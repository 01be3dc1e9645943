with source as (
    select * from {{ source('logistics', 'courier_shifts') }}
)

select
    id as shift_id,
    courier_id,
    store_id,
    shift_date,
    scheduled_start as shift_starts_at,
    scheduled_end as shift_ends_at,
    clocked_in_at,
    clocked_out_at,
    datediff('minute', scheduled_start, scheduled_end) / 60.0 as planned_hours,
    datediff('minute', clocked_in_at, clocked_out_at) / 60.0 as worked_hours
from source
