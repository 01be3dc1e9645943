with days as (
    select (date '2023-01-01' + d::int) as date_day
    from range(0, 365 * 4 + 1) as r(d)
)

select
    date_day,
    year(date_day) as year,
    quarter(date_day) as quarter,
    month(date_day) as month,
    strftime(date_day, '%B') as month_name,
    dayofmonth(date_day) as day_of_month,
    isodow(date_day) as iso_day_of_week,
    strftime(date_day, '%A') as day_name,
    isodow(date_day) in (6, 7) as is_weekend,
    date_trunc('week', date_day)::date as week_start,
    date_trunc('month', date_day)::date as month_start
from days
