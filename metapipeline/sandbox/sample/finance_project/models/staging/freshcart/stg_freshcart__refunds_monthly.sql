select
    refund_month,
    refunds as refund_count,
    refund_amount
from {{ source('freshcart_analytics', 'refunds_monthly') }}
