-- One row per calendar month with its fiscal year (named after the year it ends in) and quarter.
with months as (
    select (date '2020-01-01' + to_months(m::int))::date as calendar_month
    from range(0, 120) as r(m)
),

shifted as (
    select
        calendar_month,
        calendar_month - to_months({{ var('fiscal_year_start_month') }} - 1) as fiscal_anchor
    from months
)

select
    calendar_month,
    year(fiscal_anchor) + 1 as fiscal_year,
    month(fiscal_anchor) as fiscal_month,
    (month(fiscal_anchor) - 1) // 3 + 1 as fiscal_quarter
from shifted
