with source as (
    select * from {{ source('shop', 'orders') }}
)

select
    id as order_id,
    customer_id,
    store_id,
    status as order_status,
    channel as order_channel,
    promo_code,
    utm_campaign_id as campaign_id,
    {{ cents_to_currency('delivery_fee_cents') }} as delivery_fee,
    upper(currency) as currency,
    created_at as ordered_at,
    updated_at
from source
