select
    session_started_at::date as session_date,
    platform,
    count(*) as sessions,
    count(*) filter (where viewed_product) as viewed_product,
    count(*) filter (where added_to_cart) as added_to_cart,
    count(*) filter (where started_checkout) as started_checkout,
    count(*) filter (where placed_order) as placed_order,
    round(count(*) filter (where placed_order) / count(*), 4) as conversion_rate
from {{ ref('int_app_sessions') }}
group by 1, 2
