select
    product_id,
    product_name,
    {{ cents_to_currency('price_cents') }} as price,
    dbt_valid_from as valid_from,
    dbt_valid_to as valid_to,
    dbt_valid_to is null as is_current,
    row_number() over (partition by product_id order by dbt_valid_from) as version
from {{ ref('snap_products') }}
