select
    oi.order_item_id,
    oi.order_id,
    o.customer_id,
    o.store_id,
    o.ordered_at,
    o.order_status,
    oi.product_id,
    oi.sku,
    oi.product_name,
    oi.category_id,
    oi.category_name,
    oi.quantity,
    oi.unit_price,
    oi.line_total
from {{ ref('int_order_items_enriched') }} as oi
join {{ ref('stg_shop__orders') }} as o on o.order_id = oi.order_id
