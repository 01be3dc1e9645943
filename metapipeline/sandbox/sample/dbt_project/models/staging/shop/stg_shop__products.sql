with source as (
    select * from {{ source('shop', 'products') }}
)

select
    id as product_id,
    sku,
    name as product_name,
    category_id,
    {{ cents_to_currency('price_cents') }} as price,
    is_active,
    created_at,
    updated_at
from source
