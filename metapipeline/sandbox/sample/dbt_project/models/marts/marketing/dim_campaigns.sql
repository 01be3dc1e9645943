select
    campaign_id,
    campaign_name,
    channel,
    objective,
    starts_on,
    ends_on,
    datediff('day', starts_on, ends_on) + 1 as flight_days,
    budget
from {{ ref('stg_marketing__campaigns') }}
