{% snapshot snap_products %}

{{
    config(
        schema='snapshots',
        unique_key='product_id',
        strategy='check',
        check_cols=['price_cents', 'product_name'],
    )
}}

select
    id as product_id,
    sku,
    name as product_name,
    category_id,
    price_cents,
    is_active,
    updated_at
from {{ source('shop', 'products') }}

{% endsnapshot %}
