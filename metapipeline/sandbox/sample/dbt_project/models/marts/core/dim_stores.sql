select
    s.store_id,
    s.store_name,
    s.city,
    s.region,
    r.region_name,
    s.country_code,
    r.timezone,
    r.target_delivery_minutes,
    s.opened_at,
    s.closed_at,
    s.is_active
from {{ ref('stg_shop__stores') }} as s
left join {{ ref('store_regions') }} as r on r.region = s.region
