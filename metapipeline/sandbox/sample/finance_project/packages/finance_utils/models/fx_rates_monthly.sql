select
    date_trunc('month', rate_date)::date as rate_month,
    currency,
    avg(gbp_per_unit) as gbp_per_unit
from {{ ref('fx_rates_daily') }}
group by 1, 2
