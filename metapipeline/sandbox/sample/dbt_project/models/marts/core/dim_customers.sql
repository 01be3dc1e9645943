select
    customer_id,
    customer_name,
    email,
    city,
    home_store_id,
    signup_channel,
    acquisition_campaign_id,
    marketing_opt_in,
    signed_up_at,
    first_order_at,
    last_order_at,
    order_count,
    completed_orders,
    lifetime_gmv,
    first_order_at is not null as has_ordered
from {{ ref('int_customer_orders') }}
