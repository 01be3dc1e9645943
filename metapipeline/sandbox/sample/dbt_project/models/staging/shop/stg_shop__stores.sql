with source as (
    select * from {{ source('shop', 'stores') }}
)

select
    id as store_id,
    name as store_name,
    city,
    region,
    country_code,
    opened_at,
    closed_at,
    closed_at is null as is_active
from source
