with source as (
    select * from {{ source('payments', 'refunds') }}
)

select
    id as refund_id,
    charge_id,
    {{ cents_to_currency('amount') }} as refund_amount,
    reason as refund_reason,
    status as refund_status,
    created as refunded_at
from source
where status = 'succeeded'
