with history as (
    select product_id, count(*) - 1 as price_changes, max(valid_from) as price_valid_from
    from {{ ref('int_product_price_history') }}
    group by product_id
)

select
    p.product_id,
    p.sku,
    p.product_name,
    p.category_id,
    pc.category_name,
    pc.department,
    pc.is_age_restricted,
    p.price as current_price,
    coalesce(history.price_changes, 0) as price_changes,
    history.price_valid_from,
    p.is_active
from {{ ref('stg_shop__products') }} as p
left join {{ ref('product_categories') }} as pc on pc.category_id = p.category_id
left join history on history.product_id = p.product_id
