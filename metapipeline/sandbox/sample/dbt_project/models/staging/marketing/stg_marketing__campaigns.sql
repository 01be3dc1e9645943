with source as (
    select * from {{ source('marketing', 'campaigns') }}
)

select
    id as campaign_id,
    name as campaign_name,
    channel,
    objective,
    starts_on,
    ends_on,
    {{ cents_to_currency('budget_cents') }} as budget
from source
