with source as (
    select * from {{ source('marketing', 'ad_spend') }}
)

select
    id as ad_spend_id,
    campaign_id,
    spend_date,
    {{ cents_to_currency('spend_cents') }} as spend,
    impressions,
    clicks
from source
