-- Refunds are netted against the day of the order they refund, so net revenue can never go below zero.
select revenue_date, gross_revenue, refunds, net_revenue
from {{ ref('fct_revenue_daily') }}
where net_revenue < 0
