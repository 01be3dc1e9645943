with attributed as (
    select
        campaign_id,
        ordered_at::date as spend_date,
        count(*) as attributed_orders,
        sum(order_total) as attributed_revenue
    from {{ ref('fct_orders') }}
    where campaign_id is not null and order_status <> 'cancelled'
    group by 1, 2
)

select
    s.campaign_id,
    s.channel,
    s.spend_date,
    s.spend,
    s.impressions,
    s.clicks,
    coalesce(a.attributed_orders, 0) as attributed_orders,
    coalesce(a.attributed_revenue, 0) as attributed_revenue
from {{ ref('int_marketing_spend_daily') }} as s
left join attributed as a
    on a.campaign_id = s.campaign_id and a.spend_date = s.spend_date
