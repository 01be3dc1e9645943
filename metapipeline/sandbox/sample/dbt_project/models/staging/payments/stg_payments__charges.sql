with source as (
    select * from {{ source('payments', 'charges') }}
)

select
    id as charge_id,
    order_id,
    customer_id,
    {{ cents_to_currency('amount') }} as amount,
    upper(currency) as currency,
    status as charge_status,
    captured as is_captured,
    payment_method_type as payment_method,
    failure_code,
    created as charged_at
from source
