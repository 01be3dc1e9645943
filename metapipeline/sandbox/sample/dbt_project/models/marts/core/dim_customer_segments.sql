{%- set anchor = "timestamp '" ~ var('raw_anchor_date') ~ " 23:59:59'" -%}

select
    customer_id,
    case
        when order_count = 0 then 'prospect'
        when last_order_at < {{ anchor }} - interval 90 day then 'lapsed'
        when completed_orders >= 8 then 'loyal'
        when completed_orders >= 3 then 'regular'
        else 'new'
    end as segment,
    order_count,
    completed_orders,
    lifetime_gmv,
    datediff('day', last_order_at, {{ anchor }}) as days_since_last_order
from {{ ref('dim_customers') }}
