select
    date_trunc('month', revenue_date)::date as revenue_month,
    sum(orders) as orders,
    sum(gross_revenue) as gross_revenue,
    sum(net_revenue) as net_revenue
from {{ ref('stg_freshcart__daily_revenue') }}
group by 1
