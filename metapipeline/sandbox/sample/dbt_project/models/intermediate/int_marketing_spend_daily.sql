select
    s.campaign_id,
    c.campaign_name,
    c.channel,
    s.spend_date,
    sum(s.spend) as spend,
    sum(s.impressions) as impressions,
    sum(s.clicks) as clicks
from {{ ref('stg_marketing__ad_spend') }} as s
join {{ ref('stg_marketing__campaigns') }} as c on c.campaign_id = s.campaign_id
group by 1, 2, 3, 4
