-- Boxes 1 and 6 of the VAT return per calendar quarter.
select
    date_trunc('quarter', paid_at)::date as vat_quarter,
    sum(output_vat) as box_1_output_vat,
    sum(net_amount - output_vat) as box_6_net_sales
from {{ ref('int_vat_lines') }}
group by 1
