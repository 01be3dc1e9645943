-- Output VAT per payment on the taxable share of the basket (most groceries are zero-rated).
select
    payment_id,
    paid_at,
    net_amount,
    net_amount * {{ var('vat_taxable_share') }} as taxable_amount,
    {{ finance_utils.vat_from_gross('net_amount * ' ~ var('vat_taxable_share'), var('vat_rate')) }} as output_vat
from {{ ref('stg_freshcart__payments') }}
