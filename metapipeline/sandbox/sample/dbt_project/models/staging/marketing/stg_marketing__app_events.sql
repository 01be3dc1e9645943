with source as (
    select * from {{ source('marketing', 'app_events') }}
)

select
    id as event_id,
    session_id,
    anonymous_id,
    customer_id,
    event_name,
    platform,
    app_version,
    occurred_at
from source
