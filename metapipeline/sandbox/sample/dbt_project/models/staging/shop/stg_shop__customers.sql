with source as (
    select * from {{ source('shop', 'customers') }}
)

select
    id as customer_id,
    first_name,
    last_name,
    first_name || ' ' || last_name as customer_name,
    lower(email) as email,
    city,
    home_store_id,
    signup_channel,
    utm_campaign_id as acquisition_campaign_id,
    marketing_opt_in,
    created_at as signed_up_at,
    updated_at
from source
