select
    id as charge_id,
    order_id,
    {{ finance_utils.pence_to_pounds('amount') }} as amount,
    upper(currency) as currency,
    payment_method_type as payment_method,
    created as charged_at
from {{ source('stripe', 'charges') }}
where status = 'succeeded'
