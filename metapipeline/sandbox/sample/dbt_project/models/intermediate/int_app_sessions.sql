select
    session_id,
    any_value(anonymous_id) as anonymous_id,
    max(customer_id) as customer_id,
    any_value(platform) as platform,
    min(occurred_at) as session_started_at,
    max(occurred_at) as session_ended_at,
    count(*) as events,
    bool_or(event_name = 'view_product') as viewed_product,
    bool_or(event_name = 'add_to_cart') as added_to_cart,
    bool_or(event_name = 'checkout_started') as started_checkout,
    bool_or(event_name = 'order_placed') as placed_order
from {{ ref('stg_marketing__app_events') }}
group by session_id
