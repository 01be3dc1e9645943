select
    revenue_date,
    orders,
    gross_revenue,
    refunds,
    net_revenue,
    round(net_revenue / nullif(orders, 0), 2) as net_revenue_per_order
from {{ ref('stg_freshcart__daily_revenue') }}
