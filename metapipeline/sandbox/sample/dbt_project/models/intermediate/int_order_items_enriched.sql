{{ config(materialized='ephemeral') }}

select
    oi.order_item_id,
    oi.order_id,
    oi.line_number,
    oi.product_id,
    p.sku,
    p.product_name,
    p.category_id,
    pc.category_name,
    pc.department,
    oi.quantity,
    oi.unit_price,
    oi.line_total
from {{ ref('stg_shop__order_items') }} as oi
left join {{ ref('stg_shop__products') }} as p on p.product_id = oi.product_id
left join {{ ref('product_categories') }} as pc on pc.category_id = p.category_id
