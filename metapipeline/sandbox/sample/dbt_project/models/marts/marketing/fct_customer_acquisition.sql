select
    c.customer_id,
    c.signed_up_at,
    c.first_order_at,
    coalesce(cp.channel, c.signup_channel) as acquisition_channel,
    cp.campaign_id,
    cp.campaign_name,
    datediff('day', c.signed_up_at, c.first_order_at) as days_to_first_order
from {{ ref('dim_customers') }} as c
left join {{ ref('dim_campaigns') }} as cp on cp.campaign_id = c.acquisition_campaign_id
