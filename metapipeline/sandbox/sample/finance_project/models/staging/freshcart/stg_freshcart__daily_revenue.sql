select
    revenue_date,
    orders,
    gross_revenue,
    refunds,
    net_revenue
from {{ source('freshcart_analytics', 'daily_revenue') }}
