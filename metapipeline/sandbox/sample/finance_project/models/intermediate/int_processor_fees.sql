select
    charge_id,
    order_id,
    charged_at,
    payment_method,
    amount,
    {{ finance_utils.processor_fee('amount', 'payment_method') }} as processor_fee
from {{ ref('stg_stripe__charges') }}
